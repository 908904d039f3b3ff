#include "exec/operators/hash_aggregate.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/error.hpp>

#include "support/aggregate_inputs.hpp"
#include "support/aggregate_nodes.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"

namespace {

using namespace ftq::test;

using ftq::agg_fn;

// Groups `child`'s rows by the input columns `group_cols` and computes `aggs`.
std::unique_ptr<ftq::exec::hash_aggregate_operator> aggregate(const schema& in,
                                                              const std::vector<std::size_t>& group_cols,
                                                              const std::vector<agg_spec>& aggs,
                                                              std::unique_ptr<batch_source> child) {
  return std::make_unique<ftq::exec::hash_aggregate_operator>(aggregate_node(0, in, group_cols, aggs),
                                                              std::move(child));
}

const schema xs({{"g", type_id::int64}, {"x", type_id::int64}, {"y", type_id::float64}, {"s", type_id::string}});

std::vector<row> sorted(std::vector<row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

// What every_aggregate should produce for these rows, computed the obvious way.
row expected_aggregates(const std::vector<row>& rows) {
  std::int64_t sum_x = 0;
  double sum_y = 0;
  std::int64_t n_x = 0;
  std::int64_t n_y = 0;
  std::int64_t n_s = 0;
  std::optional<std::int64_t> min_x, max_x;
  std::optional<double> min_y, max_y;
  std::optional<std::string> min_s, max_s;
  std::set<std::int64_t> dx;
  std::set<std::string> ds;
  for (const auto& r : rows) {
    if (const auto* x = std::get_if<std::int64_t>(&r[1])) {
      sum_x += *x;
      ++n_x;
      min_x = min_x ? std::min(*min_x, *x) : *x;
      max_x = max_x ? std::max(*max_x, *x) : *x;
      dx.insert(*x);
    }
    if (const auto* y = std::get_if<double>(&r[2])) {
      sum_y += *y;
      ++n_y;
      min_y = min_y ? std::min(*min_y, *y) : *y;
      max_y = max_y ? std::max(*max_y, *y) : *y;
    }
    if (const auto* s = std::get_if<std::string>(&r[3])) {
      ++n_s;
      min_s = min_s ? std::min(*min_s, *s) : *s;
      max_s = max_s ? std::max(*max_s, *s) : *s;
      ds.insert(*s);
    }
  }
  const auto opt = [](const auto& o) -> cell { return o ? cell(*o) : null_cell; };
  return {n_x > 0 ? cell(sum_x) : null_cell,
          n_y > 0 ? cell(sum_y) : null_cell,
          cell(n_x),
          cell(static_cast<std::int64_t>(rows.size())),
          n_x > 0 ? cell(static_cast<double>(sum_x) / static_cast<double>(n_x)) : null_cell,
          n_y > 0 ? cell(sum_y / static_cast<double>(n_y)) : null_cell,
          opt(min_x),
          opt(max_x),
          opt(min_y),
          opt(max_y),
          opt(min_s),
          opt(max_s),
          cell(static_cast<std::int64_t>(dx.size())),
          cell(static_cast<std::int64_t>(ds.size())),
          cell(n_s)};
}

// Random rows over xs: few groups (with NULL keys), NULL-heavy values, strings that grow longer
// as the input goes on (so the group table widens its key layout midway).
std::vector<row> random_rows(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const auto pick = [&](std::uint32_t k) { return rng() % k; };
    row r;
    r.push_back(pick(8) == 0 ? null_cell : cell(static_cast<std::int64_t>(pick(6)) - 2));
    r.push_back(pick(5) == 0 ? null_cell : cell(static_cast<std::int64_t>(pick(40)) - 20));
    r.push_back(pick(5) == 0 ? null_cell : cell(static_cast<double>(pick(64)) * 0.25 - 4.0));
    const std::size_t len = pick(3 + i / 10);
    r.push_back(pick(6) == 0 ? null_cell : cell(std::string(len, static_cast<char>('a' + pick(3)))));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace

TEST_CASE("ungrouped aggregate over empty input yields one row: NULL sum, avg, min, max and zero counts") {
  const auto op = aggregate(xs, {}, every_aggregate, source(1, xs, {}));
  const auto out = run_to_end(*op, 7).rows;
  REQUIRE(out.size() == 1);
  CHECK(out[0] == expected_aggregates({}));
  CHECK(std::holds_alternative<std::monostate>(out[0][0]));
  CHECK(out[0][3] == cell(std::int64_t{0}));
}

TEST_CASE("grouped aggregate over empty input yields no rows") {
  const auto op = aggregate(xs, {0}, every_aggregate, source(1, xs, {}));
  CHECK(run_to_end(*op, 7).rows.empty());
}

TEST_CASE("NULL group keys form one group of their own, apart from 0 and the empty string") {
  const std::vector<row> rows = {{null_cell, std::int64_t{1}, null_cell, null_cell},
                                 {std::int64_t{0}, std::int64_t{2}, null_cell, std::string("")},
                                 {null_cell, std::int64_t{3}, null_cell, null_cell},
                                 {std::int64_t{0}, std::int64_t{4}, null_cell, std::string("")},
                                 {std::int64_t{0}, std::int64_t{8}, null_cell, null_cell}};
  for (const auto& b : batchings) {
    const auto op = aggregate(xs, {0}, {{agg_fn::sum, x_ref}, {agg_fn::count_star, std::nullopt}},
                              source(1, xs, rows, b.per_batch, b.selected));
    CHECK(sorted(run_to_end(*op, 3).rows) == sorted({{null_cell, std::int64_t{4}, std::int64_t{2}},
                                                     {std::int64_t{0}, std::int64_t{14}, std::int64_t{3}}}));
    const auto by_string = aggregate(xs, {3}, {{agg_fn::sum, x_ref}}, source(1, xs, rows, b.per_batch, b.selected));
    CHECK(sorted(run_to_end(*by_string, 3).rows) ==
          sorted({{null_cell, std::int64_t{12}}, {std::string(""), std::int64_t{6}}}));
    const auto by_both = aggregate(xs, {0, 3}, {{agg_fn::sum, x_ref}}, source(1, xs, rows, b.per_batch, b.selected));
    CHECK(sorted(run_to_end(*by_both, 3).rows) == sorted({{null_cell, null_cell, std::int64_t{4}},
                                                          {std::int64_t{0}, std::string(""), std::int64_t{6}},
                                                          {std::int64_t{0}, null_cell, std::int64_t{8}}}));
  }
}

TEST_CASE("every aggregate but COUNT(*) ignores NULL inputs") {
  const std::vector<row> rows = {{std::int64_t{1}, std::int64_t{4}, 1.5, std::string("b")},
                                 {std::int64_t{1}, null_cell, null_cell, null_cell},
                                 {std::int64_t{1}, std::int64_t{-2}, 2.5, std::string("a")},
                                 {std::int64_t{1}, null_cell, null_cell, null_cell}};
  for (const auto& b : batchings) {
    const auto op = aggregate(xs, {}, every_aggregate, source(1, xs, rows, b.per_batch, b.selected));
    const auto out = run_to_end(*op, 3).rows;
    REQUIRE(out.size() == 1);
    CHECK(out[0] == row{std::int64_t{2}, 4.0, std::int64_t{2}, std::int64_t{4}, 1.0, 2.0, std::int64_t{-2},
                        std::int64_t{4}, 1.5, 2.5, std::string("a"), std::string("b"), std::int64_t{2}, std::int64_t{2},
                        std::int64_t{2}});
  }
}

TEST_CASE("a group whose inputs are all NULL gets NULL sum, avg, min, max and zero counts") {
  const std::vector<row> rows = {{std::int64_t{1}, null_cell, null_cell, null_cell},
                                 {std::int64_t{2}, std::int64_t{3}, 0.5, std::string("z")},
                                 {std::int64_t{1}, null_cell, null_cell, null_cell}};
  for (const auto& b : batchings) {
    auto aggs = every_aggregate;
    const auto op = aggregate(xs, {0}, aggs, source(1, xs, rows, b.per_batch, b.selected));
    const auto out = run_to_end(*op, 1).rows;
    REQUIRE(out.size() == 2);
    row all_null = {std::int64_t{1}};
    const row expected = expected_aggregates({rows[0], rows[2]});
    all_null.insert(all_null.end(), expected.begin(), expected.end());
    CHECK(out[0] == all_null);
    CHECK(std::holds_alternative<std::monostate>(out[0][1]));
    CHECK(out[0][3] == cell(std::int64_t{0}));
    CHECK(out[0][4] == cell(std::int64_t{2}));
  }
}

TEST_CASE("count distinct counts each non-NULL value once per group") {
  const std::vector<row> rows = {
      {std::int64_t{1}, std::int64_t{7}, null_cell, std::string("x")},
      {std::int64_t{1}, std::int64_t{7}, null_cell, std::string("x")},
      {std::int64_t{1}, null_cell, null_cell, null_cell},
      {std::int64_t{1}, std::int64_t{8}, null_cell, std::string("a much longer string than sixteen bytes")},
      {std::int64_t{2}, std::int64_t{7}, null_cell, std::string("x")},
      {std::int64_t{2}, null_cell, null_cell, null_cell},
      {std::int64_t{3}, null_cell, null_cell, null_cell},
  };
  for (const auto& b : batchings) {
    const auto op = aggregate(xs, {0}, {{agg_fn::count_distinct, x_ref}, {agg_fn::count_distinct, s_ref}},
                              source(1, xs, rows, b.per_batch, b.selected));
    CHECK(sorted(run_to_end(*op, 2).rows) == sorted({{std::int64_t{1}, std::int64_t{2}, std::int64_t{2}},
                                                     {std::int64_t{2}, std::int64_t{1}, std::int64_t{1}},
                                                     {std::int64_t{3}, std::int64_t{0}, std::int64_t{0}}}));
    const auto ungrouped = aggregate(xs, {}, {{agg_fn::count_distinct, x_ref}, {agg_fn::count_distinct, s_ref}},
                                     source(1, xs, rows, b.per_batch, b.selected));
    CHECK(run_to_end(*ungrouped, 2).rows == std::vector<row>{{std::int64_t{2}, std::int64_t{2}}});
  }
}

TEST_CASE("ungrouped count distinct of int64 stays exact across wide and negative ranges") {
  // Values jump from a dense range to far away ones, so the operator has to leave its bitmap.
  std::vector<row> rows;
  std::set<std::int64_t> distinct;
  std::mt19937_64 rng(3);
  for (std::size_t i = 0; i < 3000; ++i) {
    std::int64_t v = static_cast<std::int64_t>(rng() % 500);
    if (i > 2000) {
      v = static_cast<std::int64_t>(rng() % 1000) * 1'000'000'007LL - 400'000'000'000LL;
    } else if (i > 1000) {
      v = -v;
    }
    if (i == 2500) {
      v = std::numeric_limits<std::int64_t>::min();
    }
    rows.push_back({null_cell, v, null_cell, null_cell});
    distinct.insert(v);
  }
  const auto op = aggregate(xs, {}, {{agg_fn::count_distinct, x_ref}}, source(1, xs, rows, 64));
  CHECK(run_to_end(*op, 7).rows == std::vector<row>{{static_cast<std::int64_t>(distinct.size())}});
}

TEST_CASE("string min and max compare bytes, not characters") {
  const std::vector<row> rows = {{std::int64_t{1}, null_cell, null_cell, std::string("b")},
                                 {std::int64_t{1}, null_cell, null_cell, std::string("\xc3\xa9")},
                                 {std::int64_t{1}, null_cell, null_cell, std::string("B")},
                                 {std::int64_t{1}, null_cell, null_cell, std::string("")},
                                 {std::int64_t{1}, null_cell, null_cell, std::string("ba")}};
  for (const auto& b : batchings) {
    const auto op =
        aggregate(xs, {0}, {{agg_fn::min, s_ref}, {agg_fn::max, s_ref}}, source(1, xs, rows, b.per_batch, b.selected));
    CHECK(run_to_end(*op, 3).rows == std::vector<row>{{std::int64_t{1}, std::string(""), std::string("\xc3\xa9")}});
  }
}

TEST_CASE("groups by several keys of mixed types") {
  const schema s({{"i", type_id::int64}, {"t", type_id::string}, {"f", type_id::float64}, {"v", type_id::int64}});
  const std::vector<row> rows = {
      {std::int64_t{1}, std::string("a"), 0.5, std::int64_t{1}},
      {std::int64_t{1}, std::string("a"), 0.5, std::int64_t{2}},
      {std::int64_t{1}, std::string("b"), 0.5, std::int64_t{4}},
      {std::int64_t{2}, std::string("a"), 0.5, std::int64_t{8}},
      {std::int64_t{1}, std::string("a"), -0.0, std::int64_t{16}},
      {std::int64_t{1}, std::string("a"), 0.0, std::int64_t{32}},
      {std::int64_t{1}, null_cell, 0.5, std::int64_t{64}},
      {null_cell, null_cell, null_cell, std::int64_t{128}},
      {std::int64_t{1}, std::string("a long string key that needs the byte layout"), 0.5, std::int64_t{256}},
      {null_cell, null_cell, null_cell, std::int64_t{512}},
  };
  for (const auto& b : batchings) {
    const auto op = aggregate(s, {0, 1, 2}, {{agg_fn::sum, column_ref(3, type_id::int64)}},
                              source(1, s, rows, b.per_batch, b.selected));
    const auto out = run_to_end(*op, 2).rows;
    // -0.0 and 0.0 are one group; which of them names it is the first seen.
    CHECK(sorted(out) == sorted({{std::int64_t{1}, std::string("a"), 0.5, std::int64_t{3}},
                                 {std::int64_t{1}, std::string("b"), 0.5, std::int64_t{4}},
                                 {std::int64_t{2}, std::string("a"), 0.5, std::int64_t{8}},
                                 {std::int64_t{1}, std::string("a"), -0.0, std::int64_t{48}},
                                 {std::int64_t{1}, null_cell, 0.5, std::int64_t{64}},
                                 {null_cell, null_cell, null_cell, std::int64_t{640}},
                                 {std::int64_t{1}, std::string("a long string key that needs the byte layout"), 0.5,
                                  std::int64_t{256}}}));
  }
}

TEST_CASE("groups come out in first-seen order, the same on every run") {
  const std::vector<row> rows = {{std::int64_t{3}, std::int64_t{1}, null_cell, null_cell},
                                 {std::int64_t{1}, std::int64_t{1}, null_cell, null_cell},
                                 {std::int64_t{3}, std::int64_t{1}, null_cell, null_cell},
                                 {null_cell, std::int64_t{1}, null_cell, null_cell},
                                 {std::int64_t{2}, std::int64_t{1}, null_cell, null_cell}};
  const auto op = aggregate(xs, {0}, {{agg_fn::count_star, std::nullopt}}, source(1, xs, rows, 2));
  const std::vector<row> expected = {{std::int64_t{3}, std::int64_t{2}},
                                     {std::int64_t{1}, std::int64_t{1}},
                                     {null_cell, std::int64_t{1}},
                                     {std::int64_t{2}, std::int64_t{1}}};
  CHECK(run_to_end(*op, 3).rows == expected);
  CHECK(run_to_end(*op, 3).rows == expected);
}

TEST_CASE("sum of int64 is int64 and avg is float64") {
  const auto op = aggregate(xs, {}, {{agg_fn::sum, x_ref}, {agg_fn::avg, x_ref}, {agg_fn::sum, y_ref}},
                            source(1, xs, {{null_cell, std::int64_t{3}, 1.25, null_cell}}));
  const auto out = run_to_end(*op, 3);
  CHECK(out.types == std::vector<type_id>{type_id::int64, type_id::float64, type_id::float64});
  CHECK(out.rows == std::vector<row>{{std::int64_t{3}, 3.0, 1.25}});
}

TEST_CASE("aggregates evaluate argument expressions") {
  bound_expr twice;
  twice.op = ftq::expr_op::add;
  twice.type = type_id::int64;
  twice.args = {x_ref, x_ref};
  const std::vector<row> rows = {{null_cell, std::int64_t{3}, null_cell, null_cell},
                                 {null_cell, std::int64_t{4}, null_cell, null_cell},
                                 {null_cell, null_cell, null_cell, null_cell}};
  for (const auto& b : batchings) {
    const auto op = aggregate(xs, {}, {{agg_fn::sum, twice}, {agg_fn::count, twice}, {agg_fn::sum, x_ref}},
                              source(1, xs, rows, b.per_batch, b.selected));
    CHECK(run_to_end(*op, 3).rows == std::vector<row>{{std::int64_t{14}, std::int64_t{2}, std::int64_t{7}}});
  }
}

TEST_CASE("results do not depend on batch boundaries, selections or the output batch size") {
  for (std::uint32_t seed = 1; seed <= 4; ++seed) {
    const std::vector<row> rows = random_rows(400, seed);
    std::map<cell, std::vector<row>> groups;
    for (const auto& r : rows) {
      groups[r[0]].push_back(r);
    }
    std::vector<row> expected;
    for (const auto& [key, members] : groups) {
      row r = {key};
      const row a = expected_aggregates(members);
      r.insert(r.end(), a.begin(), a.end());
      expected.push_back(r);
    }
    for (const auto& b : batchings) {
      for (std::size_t batch_rows : {1, 3, 7}) {
        const auto op = aggregate(xs, {0}, every_aggregate, source(1, xs, rows, b.per_batch, b.selected));
        const auto out = run_to_end(*op, batch_rows).rows;
        CHECK_MESSAGE(sorted(out) == sorted(expected), "seed ", seed, " per batch ", b.per_batch);
      }
      const auto ungrouped = aggregate(xs, {}, every_aggregate, source(1, xs, rows, b.per_batch, b.selected));
      CHECK(run_to_end(*ungrouped, 2).rows == std::vector<row>{expected_aggregates(rows)});
    }
  }
}

TEST_CASE("many groups spread over many batches keep their own sums") {
  // More groups than the few-group fold handles, with keys repeating across batches.
  std::vector<row> rows;
  std::map<std::int64_t, std::int64_t> sums;
  std::mt19937 rng(9);
  for (std::size_t i = 0; i < 20000; ++i) {
    const auto g = static_cast<std::int64_t>(rng() % 3000);
    const auto x = static_cast<std::int64_t>(rng() % 100);
    rows.push_back({g, x, null_cell, null_cell});
    sums[g] += x;
  }
  std::vector<row> expected;
  for (const auto& [g, s] : sums) {
    expected.push_back({g, s});
  }
  const auto op = aggregate(xs, {0}, {{agg_fn::sum, x_ref}}, source(1, xs, rows, 512, true));
  CHECK(sorted(run_to_end(*op, 1000).rows) == expected);
}

TEST_CASE("an aggregate whose plan type disagrees with its input is refused") {
  bound_node n;
  n.kind = ftq::node_kind::aggregate;
  n.path = "plan.input";
  n.aggregates.push_back({agg_fn::sum, x_ref, type_id::float64});
  n.output = schema({{"a", type_id::float64}});
  CHECK_THROWS_AS(ftq::exec::hash_aggregate_operator(n, source(1, xs, {})), ftq::plan_error);
  n.aggregates[0] = {agg_fn::sum, s_ref, type_id::string};
  CHECK_THROWS_AS(ftq::exec::hash_aggregate_operator(n, source(1, xs, {})), ftq::plan_error);
}
