#include "exec/operators/sort.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"
#include "support/ordering_reference.hpp"

namespace {

using namespace ftq::test;

std::unique_ptr<ftq::exec::sort_operator> sort_op(const schema& s, const std::vector<key>& keys,
                                                  std::unique_ptr<batch_source> child) {
  return std::make_unique<ftq::exec::sort_operator>(ordering_node(ftq::node_kind::sort, s, keys), std::move(child));
}

}  // namespace

TEST_CASE("sorting empty input yields no rows") {
  CHECK(run_to_end(*sort_op(ifs, {{0, false}}, source(1, ifs, {})), 3).rows.empty());
}

TEST_CASE("sorts by several keys, each ascending or descending") {
  const schema s({{"a", type_id::int64}, {"b", type_id::string}});
  const std::vector<row> rows = {{std::int64_t{2}, std::string("x")},
                                 {std::int64_t{1}, std::string("x")},
                                 {std::int64_t{2}, std::string("y")},
                                 {std::int64_t{1}, std::string("z")}};
  for (const auto& b : batchings) {
    CHECK(run_to_end(*sort_op(s, {{0, false}, {1, true}}, source(1, s, rows, b.per_batch, b.selected)), 3).rows ==
          std::vector<row>{{std::int64_t{1}, std::string("z")},
                           {std::int64_t{1}, std::string("x")},
                           {std::int64_t{2}, std::string("y")},
                           {std::int64_t{2}, std::string("x")}});
    CHECK(run_to_end(*sort_op(s, {{0, true}, {1, false}}, source(1, s, rows, b.per_batch, b.selected)), 3).rows ==
          std::vector<row>{{std::int64_t{2}, std::string("x")},
                           {std::int64_t{2}, std::string("y")},
                           {std::int64_t{1}, std::string("x")},
                           {std::int64_t{1}, std::string("z")}});
  }
}

TEST_CASE("NULLs sort last whether the key is ascending or descending") {
  const schema s({{"a", type_id::float64}});
  const std::vector<row> rows = {{null_cell}, {1.5}, {null_cell}, {-2.0}};
  for (const bool desc : {false, true}) {
    const auto out = run_to_end(*sort_op(s, {{0, desc}}, source(1, s, rows, 3, true)), 2).rows;
    REQUIRE(out.size() == 4);
    CHECK(out[0] == row{desc ? 1.5 : -2.0});
    CHECK(out[2] == row{null_cell});
    CHECK(out[3] == row{null_cell});
  }
}

TEST_CASE("rows with equal keys keep their input order") {
  const schema s({{"k", type_id::int64}, {"tag", type_id::int64}});
  std::vector<row> rows;
  for (std::int64_t i = 0; i < 3000; ++i) {
    rows.push_back({(i * 7) % 3 == 0 ? null_cell : cell((i * 7) % 3), i});
  }
  for (const bool desc : {false, true}) {
    const auto out = run_to_end(*sort_op(s, {{0, desc}}, source(1, s, rows, 7, true)), 100).rows;
    CHECK(out == reference_order(rows, {{0, desc}}));
  }
}

TEST_CASE("strings sort bytewise, shorter prefixes first, long shared prefixes resolved") {
  const schema s({{"s", type_id::string}});
  const std::vector<row> rows = {{std::string("b")},
                                 {std::string("a\0", 2)},
                                 {std::string("\xc3\xa9")},
                                 {std::string("a")},
                                 {std::string("")},
                                 {std::string("prefix-long-1235")},
                                 {std::string("B")},
                                 {std::string("prefix-long-1234")},
                                 {std::string("prefix-long-123")},
                                 {std::string("ab")}};
  const std::vector<row> ascending = {{std::string("")},
                                      {std::string("B")},
                                      {std::string("a")},
                                      {std::string("a\0", 2)},
                                      {std::string("ab")},
                                      {std::string("b")},
                                      {std::string("prefix-long-123")},
                                      {std::string("prefix-long-1234")},
                                      {std::string("prefix-long-1235")},
                                      {std::string("\xc3\xa9")}};
  for (const auto& b : batchings) {
    CHECK(run_to_end(*sort_op(s, {{0, false}}, source(1, s, rows, b.per_batch, b.selected)), 3).rows == ascending);
    std::vector<row> descending(ascending.rbegin(), ascending.rend());
    CHECK(run_to_end(*sort_op(s, {{0, true}}, source(1, s, rows, b.per_batch, b.selected)), 3).rows == descending);
  }
  // Short strings only (exact normalized keys) behave the same.
  const std::vector<row> short_rows(rows.begin(), rows.begin() + 5);
  CHECK(run_to_end(*sort_op(s, {{0, false}}, source(1, s, short_rows)), 3).rows ==
        reference_order(short_rows, {{0, false}}));
}

TEST_CASE("doubles sort numerically, -0.0 ties with 0.0") {
  const schema s({{"f", type_id::float64}, {"tag", type_id::int64}});
  const std::vector<row> rows = {{0.0, std::int64_t{0}}, {-1e300, std::int64_t{1}}, {-0.0, std::int64_t{2}},
                                 {2.5, std::int64_t{3}}, {-3.5, std::int64_t{4}},   {1e300, std::int64_t{5}},
                                 {0.0, std::int64_t{6}}};
  CHECK(run_to_end(*sort_op(s, {{0, false}}, source(1, s, rows)), 3).rows ==
        std::vector<row>{{-1e300, std::int64_t{1}},
                         {-3.5, std::int64_t{4}},
                         {0.0, std::int64_t{0}},
                         {-0.0, std::int64_t{2}},
                         {0.0, std::int64_t{6}},
                         {2.5, std::int64_t{3}},
                         {1e300, std::int64_t{5}}});
}

TEST_CASE("sorts by a computed key expression") {
  const schema s({{"a", type_id::int64}});
  bound_node n = ordering_node(ftq::node_kind::sort, s, {});
  bound_expr minus_one;
  minus_one.type = type_id::int64;
  minus_one.value = std::int64_t{-1};
  bound_expr negated;
  negated.op = ftq::expr_op::mul;
  negated.type = type_id::int64;
  negated.args = {column_ref(0, type_id::int64), minus_one};
  n.keys.push_back({negated, false});
  const std::vector<row> rows = {{std::int64_t{2}}, {null_cell}, {std::int64_t{5}}, {std::int64_t{-1}}};
  for (const auto& b : batchings) {
    const ftq::exec::sort_operator op(n, source(1, s, rows, b.per_batch, b.selected));
    CHECK(run_to_end(op, 3).rows ==
          std::vector<row>{{std::int64_t{5}}, {std::int64_t{2}}, {std::int64_t{-1}}, {null_cell}});
  }
}

TEST_CASE("random inputs sort like a stable reference sort, small and past the radix threshold") {
  for (const std::size_t n : {std::size_t{50}, std::size_t{2600}}) {
    for (const bool long_strings : {false, true}) {
      const std::vector<row> rows = random_rows(n, static_cast<std::uint32_t>(n + long_strings), long_strings);
      for (const auto& keys : key_lists) {
        const std::vector<row> expected = reference_order(rows, keys);
        for (const auto& b : {batching{7, true}, batching{1000, false}}) {
          const auto out = run_to_end(*sort_op(ifs, keys, source(1, ifs, rows, b.per_batch, b.selected)), 7);
          CHECK(out.rows == expected);
          for (std::size_t live : out.live_per_batch) {
            CHECK(live <= 7);
          }
        }
      }
    }
  }
}
