#include "exec/operators/project.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "exec/operators/filter.hpp"
#include "exec/operators/table_scan.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"

namespace {

using namespace ftq::test;

// price (float64) and qty (int64), two batches.
ftq::table_ptr items() {
  std::vector<batch> batches(2);
  auto p0 = std::make_shared<ftq::column>(type_id::float64);
  p0->doubles = {10.0, 20.0, 30.0};
  auto q0 = std::make_shared<ftq::column>(type_id::int64);
  q0->ints = {1, 5, 2};
  batches[0].columns = {p0, q0};
  batches[0].rows = 3;
  auto p1 = std::make_shared<ftq::column>(type_id::float64);
  p1->doubles = {40.0, 50.0};
  auto q1 = std::make_shared<ftq::column>(type_id::int64);
  q1->ints = {7, 1};
  batches[1].columns = {p1, q1};
  batches[1].rows = 2;
  ftq::schema s({{"price", type_id::float64}, {"qty", type_id::int64}});
  return std::make_shared<const ftq::table>("items", s, std::move(batches));
}

bound_node project_node(std::vector<bound_expr> exprs, ftq::schema output) {
  bound_node n;
  n.kind = ftq::node_kind::project;
  n.id = 0;
  n.output = std::move(output);
  n.exprs = std::move(exprs);
  return n;
}

const ftq::schema projected({{"total", type_id::float64}, {"qty", type_id::int64}});

std::vector<batch> drain(const ftq::exec::physical_operator& op, std::size_t operators) {
  return ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<std::vector<batch>> {
    ftq::exec::execution_context ctx(ex, 4096, operators, nullptr);
    op.init_states(ctx);
    std::vector<batch> got;
    while (auto b = co_await op.next(ctx)) {
      got.push_back(std::move(*b));
    }
    co_return got;
  });
}

}  // namespace

TEST_CASE("project computes each expression and passes unselected columns through") {
  const auto t = items();
  const auto total =
      expr_node(expr_op::mul, type_id::float64, {column_ref(0, type_id::float64), column_ref(1, type_id::int64)});
  const ftq::exec::project_operator project(project_node({total, column_ref(1, type_id::int64)}, projected),
                                            std::make_unique<ftq::exec::table_scan_operator>(table_scan_node(t, 1)));
  const auto out = drain(project, 2);
  REQUIRE(out.size() == 2);
  CHECK(out[0].columns[0]->doubles == std::vector<double>{10.0, 100.0, 60.0});
  CHECK(out[1].columns[0]->doubles == std::vector<double>{280.0, 50.0});
  CHECK(out[0].columns[1] == t->batches()[0].columns[1]);
  CHECK(out[1].rows == 2);
}

TEST_CASE("project over a filtered input produces dense batches of the live rows") {
  const auto t = items();
  bound_node filter = project_node({}, t->schema());
  filter.kind = ftq::node_kind::filter;
  filter.id = 1;
  filter.predicate = expr_node(expr_op::gt, type_id::boolean, {column_ref(1, type_id::int64), lit_d(1.5)});
  auto child = std::make_unique<ftq::exec::filter_operator>(
      filter, std::make_unique<ftq::exec::table_scan_operator>(table_scan_node(t, 2)));
  const auto total = expr_node(expr_op::add, type_id::float64, {column_ref(0, type_id::float64), lit_d(0.5)});
  const ftq::exec::project_operator project(project_node({total, column_ref(1, type_id::int64)}, projected),
                                            std::move(child));
  const auto out = drain(project, 3);
  REQUIRE(out.size() == 2);
  CHECK_FALSE(out[0].has_selection);
  CHECK(out[0].rows == 2);
  CHECK(out[0].columns[0]->doubles == std::vector<double>{20.5, 30.5});
  CHECK(out[0].columns[1]->ints == std::vector<std::int64_t>{5, 2});
  CHECK(out[1].rows == 1);
  CHECK(out[1].columns[0]->doubles == std::vector<double>{40.5});
  CHECK(out[1].columns[1]->ints == std::vector<std::int64_t>{7});
}
