#include "exec/operators/filter.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "exec/operators/table_scan.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"

namespace {

using namespace ftq::test;

// One int64 column x, one batch per inner vector.
ftq::table_ptr x_table(const std::vector<std::vector<std::int64_t>>& chunks) {
  std::vector<batch> batches;
  for (const auto& values : chunks) {
    batch b;
    b.rows = values.size();
    b.columns = {ints(values)};
    batches.push_back(std::move(b));
  }
  return std::make_shared<const ftq::table>("t", ftq::schema({{"x", type_id::int64}}), std::move(batches));
}

bound_node filter_node(bound_expr predicate, ftq::schema output) {
  bound_node n;
  n.kind = ftq::node_kind::filter;
  n.id = 0;
  n.path = "plan";
  n.output = std::move(output);
  n.predicate = std::move(predicate);
  return n;
}

bound_expr x_at_least(std::int64_t v) {
  bound_expr x;
  x.op = expr_op::column;
  x.type = type_id::int64;
  bound_expr c;
  c.type = type_id::int64;
  c.value = v;
  bound_expr e;
  e.op = expr_op::ge;
  e.type = type_id::boolean;
  e.args = {x, c};
  return e;
}

// The live x values of every batch the filter produces, one vector per batch.
std::vector<std::vector<std::int64_t>> run_filter(const ftq::table_ptr& t, std::int64_t at_least) {
  const ftq::exec::filter_operator filter(filter_node(x_at_least(at_least), t->schema()),
                                          std::make_unique<ftq::exec::table_scan_operator>(table_scan_node(t, 1)));
  return ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<std::vector<std::vector<std::int64_t>>> {
    ftq::exec::execution_context ctx(ex, 4096, 2, nullptr);
    filter.init_states(ctx);
    std::vector<std::vector<std::int64_t>> got;
    while (auto b = co_await filter.next(ctx)) {
      CHECK(b->has_selection);
      std::vector<std::int64_t> values;
      for (std::size_t i = 0; i < b->live_rows(); ++i) {
        values.push_back(b->columns[0]->ints[b->row_at(i)]);
      }
      got.push_back(std::move(values));
    }
    CHECK_FALSE(co_await filter.next(ctx));
    co_return got;
  });
}

}  // namespace

TEST_CASE("filter passes on the rows where the predicate holds, batch by batch") {
  const auto t = x_table({{1, 7, 3, 9}, {8, 2}});
  CHECK(run_filter(t, 5) == std::vector<std::vector<std::int64_t>>{{7, 9}, {8}});
}

TEST_CASE("filter skips batches with no surviving row") {
  const auto t = x_table({{6}, {1, 2, 3}, {4}, {5, 0}});
  CHECK(run_filter(t, 5) == std::vector<std::vector<std::int64_t>>{{6}, {5}});
}

TEST_CASE("filter that keeps nothing finishes without a batch") {
  const auto t = x_table({{1, 2}, {3}});
  CHECK(run_filter(t, 100).empty());
}
