#include "exec/operators/limit.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "exec/operators/filter.hpp"
#include "exec/operators/table_scan.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/run_coro.hpp"

namespace {

using ftq::batch;
using ftq::type_id;
using ftq::plan_detail::bound_node;
using ftq::test::table_scan_node;

// x = 0, 1, 2, ... in batches of four rows.
ftq::table_ptr counting_table(std::size_t batches) {
  std::vector<batch> out;
  for (std::size_t k = 0; k < batches; ++k) {
    auto c = std::make_shared<ftq::column>(type_id::int64);
    c->ints.resize(4);
    std::iota(c->ints.begin(), c->ints.end(), static_cast<std::int64_t>(4 * k));
    batch b;
    b.rows = 4;
    b.columns = {c};
    out.push_back(std::move(b));
  }
  return std::make_shared<const ftq::table>("n", ftq::schema({{"x", type_id::int64}}), std::move(out));
}

struct limit_run {
  std::vector<std::vector<std::int64_t>> batches;  // live x values of each output batch
  std::uint64_t child_batches = 0;                 // batches the scan handed out
};

// x >= 2, so the first batch reaches the limit with selection {2, 3}.
ftq::exec::operator_ptr filtered_scan(const ftq::table_ptr& t) {
  ftq::plan_detail::bound_expr x;
  x.op = ftq::expr_op::column;
  ftq::plan_detail::bound_expr two;
  two.value = std::int64_t{2};
  bound_node n;
  n.kind = ftq::node_kind::filter;
  n.id = 1;
  n.output = t->schema();
  n.predicate.emplace();
  n.predicate->op = ftq::expr_op::ge;
  n.predicate->type = type_id::boolean;
  n.predicate->args = {x, two};
  return std::make_unique<ftq::exec::filter_operator>(
      n, std::make_unique<ftq::exec::table_scan_operator>(table_scan_node(t, 2)));
}

limit_run run_limit(std::size_t table_batches, std::int64_t limit, std::int64_t offset, bool filtered = false) {
  const auto t = counting_table(table_batches);
  bound_node n;
  n.kind = ftq::node_kind::limit;
  n.id = 0;
  n.output = t->schema();
  n.limit = limit;
  n.offset = offset;
  ftq::exec::operator_ptr child =
      filtered ? filtered_scan(t) : std::make_unique<ftq::exec::table_scan_operator>(table_scan_node(t, 1));
  const ftq::exec::limit_operator op(n, std::move(child));
  return ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<limit_run> {
    ftq::exec::execution_context ctx(ex, 4096, 3, nullptr);
    op.init_states(ctx);
    limit_run r;
    while (auto b = co_await op.next(ctx)) {
      std::vector<std::int64_t> values;
      for (std::size_t i = 0; i < b->live_rows(); ++i) {
        values.push_back(b->columns[0]->ints[b->row_at(i)]);
      }
      r.batches.push_back(std::move(values));
    }
    CHECK_FALSE(co_await op.next(ctx));
    r.child_batches = ctx.stats(1).batches_out;
    co_return r;
  });
}

using batches_t = std::vector<std::vector<std::int64_t>>;

}  // namespace

TEST_CASE("limit with an offset spanning batches slices the right rows") {
  const auto r = run_limit(5, 5, 6);
  CHECK(r.batches == batches_t{{6, 7}, {8, 9, 10}});
  // Rows 6..10 end in the third batch; the fourth is never pulled.
  CHECK(r.child_batches == 3);
}

TEST_CASE("limit stops pulling its child once satisfied") {
  const auto r = run_limit(10, 4, 0);
  CHECK(r.batches == batches_t{{0, 1, 2, 3}});
  CHECK(r.child_batches == 1);
}

TEST_CASE("limit 0 produces nothing and never pulls its child") {
  const auto r = run_limit(3, 0, 0);
  CHECK(r.batches.empty());
  CHECK(r.child_batches == 0);
}

TEST_CASE("limit -1 with an offset passes on everything after the offset") {
  const auto r = run_limit(3, -1, 5);
  CHECK(r.batches == batches_t{{5, 6, 7}, {8, 9, 10, 11}});
}

TEST_CASE("limit with an offset past the end produces nothing") {
  const auto r = run_limit(2, 3, 8);
  CHECK(r.batches.empty());
  CHECK(r.child_batches == 2);
}

TEST_CASE("limit slices batches that already carry a selection") {
  const auto r = run_limit(3, 3, 1, true);
  CHECK(r.batches == batches_t{{3}, {4, 5}});
}
