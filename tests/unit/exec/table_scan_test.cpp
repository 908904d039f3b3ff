#include "exec/operators/table_scan.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"

namespace {

using ftq::batch;
using ftq::type_id;
using ftq::test::ints;

// Three int64 columns a, b, c over two batches (3 rows, then 2); c = 100 * a.
ftq::table_ptr abc_table() {
  std::vector<batch> batches(2);
  batches[0].columns = {ints({1, 2, 3}), ints({10, 20, 30}), ints({100, 200, 300})};
  batches[0].rows = 3;
  batches[1].columns = {ints({4, 5}), ints({40, 50}), ints({400, 500})};
  batches[1].rows = 2;
  ftq::schema s({{"a", type_id::int64}, {"b", type_id::int64}, {"c", type_id::int64}});
  return std::make_shared<const ftq::table>("abc", s, std::move(batches));
}

ftq::plan_detail::bound_node scan_node(ftq::table_ptr t, std::vector<std::size_t> columns) {
  ftq::plan_detail::bound_node n;
  n.kind = ftq::node_kind::table_scan;
  n.id = 0;
  n.path = "plan";
  n.table = t;
  for (std::size_t c : columns) {
    n.output.push_back(t->schema()[c]);
  }
  n.table_columns = std::move(columns);
  return n;
}

}  // namespace

TEST_CASE("table_scan hands out the chosen columns of every batch without copying") {
  const auto t = abc_table();
  const ftq::exec::table_scan_operator scan(scan_node(t, {2, 0}));
  CHECK(scan.name() == "table_scan");
  CHECK(scan.output_schema().size() == 2);
  const auto out = ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<std::vector<batch>> {
    ftq::exec::execution_context ctx(ex, 4096, 1, nullptr);
    scan.init_states(ctx);
    std::vector<batch> got;
    while (auto b = co_await scan.next(ctx)) {
      got.push_back(std::move(*b));
    }
    CHECK(ctx.progress().rows_total == 5);
    CHECK(ctx.progress().rows_scanned == 5);
    CHECK_FALSE(co_await scan.next(ctx));
    co_return got;
  });
  REQUIRE(out.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    REQUIRE(out[i].columns.size() == 2);
    CHECK(out[i].rows == t->batches()[i].rows);
    CHECK_FALSE(out[i].has_selection);
    CHECK(out[i].columns[0] == t->batches()[i].columns[2]);
    CHECK(out[i].columns[1] == t->batches()[i].columns[0]);
  }
}

TEST_CASE("table_scan resumes from its state and counts scanned rows as it goes") {
  const auto t = abc_table();
  const ftq::exec::table_scan_operator scan(scan_node(t, {1}));
  ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 4096, 1, nullptr);
    scan.init_states(ctx);
    auto first = co_await scan.next(ctx);
    REQUIRE(first);
    CHECK(first->columns[0]->ints == std::vector<std::int64_t>{10, 20, 30});
    CHECK(ctx.progress().rows_total == 5);
    CHECK(ctx.progress().rows_scanned == 3);
    auto second = co_await scan.next(ctx);
    REQUIRE(second);
    CHECK(second->columns[0]->ints == std::vector<std::int64_t>{40, 50});
    CHECK(ctx.progress().rows_scanned == 5);
    CHECK_FALSE(co_await scan.next(ctx));
    // A fresh state starts over, as a restart from the beginning would.
    scan.init_states(ctx);
    auto again = co_await scan.next(ctx);
    REQUIRE(again);
    CHECK(again->columns[0]->ints == std::vector<std::int64_t>{10, 20, 30});
  });
}

TEST_CASE("table_scan with no columns still produces every row") {
  const auto t = abc_table();
  const ftq::exec::table_scan_operator scan(scan_node(t, {}));
  const auto rows = ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<std::size_t> {
    ftq::exec::execution_context ctx(ex, 4096, 1, nullptr);
    scan.init_states(ctx);
    std::size_t n = 0;
    while (auto b = co_await scan.next(ctx)) {
      CHECK(b->columns.empty());
      n += b->live_rows();
    }
    co_return n;
  });
  CHECK(rows == 5);
}
