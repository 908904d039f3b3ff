#include "exec/operators/distinct.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"

namespace {

using namespace ftq::test;

std::unique_ptr<ftq::exec::distinct_operator> distinct(const schema& s, std::unique_ptr<batch_source> child) {
  bound_node n;
  n.kind = ftq::node_kind::distinct;
  n.id = 0;
  n.path = "plan";
  n.output = s;
  return std::make_unique<ftq::exec::distinct_operator>(n, std::move(child));
}

// Distinct rows in first-seen order; NULL equals NULL and -0.0 equals 0.0.
std::vector<row> first_seen(const std::vector<row>& rows) {
  std::vector<row> out;
  std::set<row> seen;
  for (const auto& r : rows) {
    row normal = r;
    for (auto& c : normal) {
      if (const auto* d = std::get_if<double>(&c); d != nullptr && *d == 0.0) {
        c = 0.0;
      }
    }
    if (seen.insert(normal).second) {
      out.push_back(r);
    }
  }
  return out;
}

const schema mixed({{"i", type_id::int64}, {"s", type_id::string}, {"f", type_id::float64}});

}  // namespace

TEST_CASE("distinct over empty input yields no rows") {
  CHECK(run_to_end(*distinct(mixed, source(1, mixed, {})), 3).rows.empty());
}

TEST_CASE("distinct keeps each row once, in first-seen order, with NULLs equal to each other") {
  const schema s({{"s", type_id::string}, {"i", type_id::int64}});
  const std::vector<row> rows = {{std::string("a,b"), std::int64_t{1}},
                                 {std::string("\"quoted\""), std::int64_t{1}},
                                 {null_cell, std::int64_t{1}},
                                 {std::string("a,b"), std::int64_t{1}},
                                 {std::string(""), null_cell},
                                 {null_cell, std::int64_t{1}},
                                 {std::string("a"), std::int64_t{1}},
                                 {std::string(""), null_cell},
                                 {null_cell, null_cell},
                                 {std::string("\"quoted\""), std::int64_t{2}},
                                 {null_cell, null_cell}};
  const std::vector<row> expected = {{std::string("a,b"), std::int64_t{1}},
                                     {std::string("\"quoted\""), std::int64_t{1}},
                                     {null_cell, std::int64_t{1}},
                                     {std::string(""), null_cell},
                                     {std::string("a"), std::int64_t{1}},
                                     {null_cell, null_cell},
                                     {std::string("\"quoted\""), std::int64_t{2}}};
  for (const auto& b : batchings) {
    CHECK(run_to_end(*distinct(s, source(1, s, rows, b.per_batch, b.selected)), 3).rows == expected);
  }
}

TEST_CASE("distinct treats -0.0 and 0.0 as one value") {
  const schema s({{"f", type_id::float64}});
  CHECK(run_to_end(*distinct(s, source(1, s, {{-0.0}, {0.0}, {1.0}, {-0.0}})), 3).rows ==
        std::vector<row>{{-0.0}, {1.0}});
}

TEST_CASE("random rows come out distinct in first-seen order, however they are batched") {
  std::mt19937 rng(17);
  std::vector<row> rows;
  for (std::size_t i = 0; i < 500; ++i) {
    const std::size_t len = rng() % (2 + i / 20);  // strings get longer as the input goes on
    rows.push_back({rng() % 6 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % 4)),
                    rng() % 6 == 0 ? null_cell : cell(std::string(len, static_cast<char>('a' + rng() % 2))),
                    rng() % 6 == 0 ? null_cell : cell(static_cast<double>(rng() % 3) - 1.0)});
  }
  const std::vector<row> expected = first_seen(rows);
  for (const auto& b : batchings) {
    CHECK(run_to_end(*distinct(mixed, source(1, mixed, rows, b.per_batch, b.selected)), 3).rows == expected);
  }
  const schema one({{"i", type_id::int64}});
  std::vector<row> ints;
  for (const auto& r : rows) {
    ints.push_back({r[0]});
  }
  CHECK(run_to_end(*distinct(one, source(1, one, ints, 7, true)), 3).rows == first_seen(ints));
}
