#include "exec/operators/hash_join.hpp"

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

#include <ftq/error.hpp>

#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"

namespace {

using namespace ftq::test;

std::vector<row> sorted(std::vector<row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Joins probe rows (source 1) with build rows (source 2) on the listed key columns.
std::unique_ptr<ftq::exec::hash_join_operator> join(const schema& probe_s, const schema& build_s,
                                                    const std::vector<std::size_t>& probe_keys,
                                                    const std::vector<std::size_t>& build_keys,
                                                    std::unique_ptr<batch_source> probe,
                                                    std::unique_ptr<batch_source> build) {
  bound_node n;
  n.kind = ftq::node_kind::hash_join;
  n.id = 0;
  n.path = "plan";
  std::vector<ftq::field> out = probe_s.fields();
  for (const auto& f : build_s.fields()) {
    out.push_back({"b_" + f.name, f.type});
  }
  n.output = schema(out);
  for (std::size_t k : probe_keys) {
    n.probe_keys.push_back(column_ref(k, probe_s[k].type));
  }
  for (std::size_t k : build_keys) {
    n.build_keys.push_back(column_ref(k, build_s[k].type));
  }
  return std::make_unique<ftq::exec::hash_join_operator>(n, std::move(probe), std::move(build));
}

bool sql_equal(const cell& a, const cell& b) {
  if (std::holds_alternative<std::monostate>(a) || std::holds_alternative<std::monostate>(b)) {
    return false;
  }
  if (const auto* x = std::get_if<double>(&a)) {
    return *x == std::get<double>(b);
  }
  return a == b;
}

std::vector<row> nested_loop_join(const std::vector<row>& probe, const std::vector<row>& build,
                                  const std::vector<std::size_t>& probe_keys,
                                  const std::vector<std::size_t>& build_keys) {
  std::vector<row> out;
  for (const auto& p : probe) {
    for (const auto& b : build) {
      bool match = true;
      for (std::size_t k = 0; k < probe_keys.size(); ++k) {
        match = match && sql_equal(p[probe_keys[k]], b[build_keys[k]]);
      }
      if (match) {
        row r = p;
        r.insert(r.end(), b.begin(), b.end());
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

const schema kv({{"k", type_id::int64}, {"v", type_id::string}});

// Checks the join of `probe` and `build` against a nested-loop join, for every batching of both
// sides and output batch sizes 1, 3 and 7.
void check_join(const schema& ps, const schema& bs, const std::vector<std::size_t>& pk,
                const std::vector<std::size_t>& bk, const std::vector<row>& probe, const std::vector<row>& build) {
  const std::vector<row> expected = sorted(nested_loop_join(probe, build, pk, bk));
  for (const auto& p : batchings) {
    for (const auto& b : batchings) {
      for (std::size_t batch_rows : {1, 3, 7}) {
        const auto op = join(ps, bs, pk, bk, source(1, ps, probe, p.per_batch, p.selected),
                             source(2, bs, build, b.per_batch, b.selected));
        const auto out = run_to_end(*op, batch_rows);
        CHECK(sorted(out.rows) == expected);
        for (std::size_t live : out.live_per_batch) {
          CHECK(live <= batch_rows);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("joins each probe row with every build row of an equal key, m x n rows for duplicates") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("p1")},
                                  {std::int64_t{2}, std::string("p2")},
                                  {std::int64_t{1}, std::string("p3")},
                                  {std::int64_t{1}, std::string("p4")}};
  const std::vector<row> build = {
      {std::int64_t{1}, std::string("b1")}, {std::int64_t{3}, std::string("b2")}, {std::int64_t{1}, std::string("b3")}};
  const auto op = join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build));
  const auto out = run_to_end(*op, 100).rows;
  CHECK(out.size() == 6);
  CHECK(sorted(out) == sorted(nested_loop_join(probe, build, {0}, {0})));
  check_join(kv, kv, {0}, {0}, probe, build);
}

TEST_CASE("an empty build or probe side yields no rows") {
  const std::vector<row> some = {{std::int64_t{1}, std::string("a")}};
  CHECK(run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, some), source(2, kv, {})), 3).rows.empty());
  CHECK(run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, {}), source(2, kv, some)), 3).rows.empty());
  CHECK(run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, {}), source(2, kv, {})), 3).rows.empty());
}

TEST_CASE("keys without a partner yield no rows") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("a")}, {std::int64_t{2}, std::string("b")}};
  const std::vector<row> build = {{std::int64_t{3}, std::string("c")}, {std::int64_t{4}, std::string("d")}};
  CHECK(run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 3).rows.empty());
  CHECK(run_to_end(*join(kv, kv, {1}, {1}, source(1, kv, probe), source(2, kv, build)), 3).rows.empty());
}

TEST_CASE("NULL keys never match, not even each other") {
  const std::vector<row> probe = {
      {null_cell, std::string("a")}, {std::int64_t{0}, null_cell}, {std::int64_t{5}, std::string("")}};
  const std::vector<row> build = {{null_cell, std::string("a")},
                                  {std::int64_t{0}, null_cell},
                                  {std::int64_t{5}, std::string("")},
                                  {null_cell, null_cell}};
  const auto out = run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 3).rows;
  CHECK(sorted(out) == sorted({{std::int64_t{0}, null_cell, std::int64_t{0}, null_cell},
                               {std::int64_t{5}, std::string(""), std::int64_t{5}, std::string("")}}));
  check_join(kv, kv, {0}, {0}, probe, build);
  check_join(kv, kv, {1}, {1}, probe, build);
  check_join(kv, kv, {0, 1}, {0, 1}, probe, build);
}

TEST_CASE("joins on string keys, short and long") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("x")},
                                  {std::int64_t{2}, std::string("")},
                                  {std::int64_t{3}, std::string("4-NOT SPECIFIED")},
                                  {std::int64_t{4}, std::string("a key well beyond sixteen bytes")},
                                  {std::int64_t{5}, std::string("a key well beyond sixteen bytes!")},
                                  {std::int64_t{6}, std::string("x\0y", 3)}};
  const std::vector<row> build = {{std::int64_t{10}, std::string("x")},
                                  {std::int64_t{20}, std::string("")},
                                  {std::int64_t{30}, std::string("4-NOT SPECIFIED")},
                                  {std::int64_t{40}, std::string("a key well beyond sixteen bytes")},
                                  {std::int64_t{50}, std::string("x\0z", 3)},
                                  {std::int64_t{60}, std::string("x")}};
  const auto out = run_to_end(*join(kv, kv, {1}, {1}, source(1, kv, probe), source(2, kv, build)), 100).rows;
  CHECK(out.size() == 5);
  check_join(kv, kv, {1}, {1}, probe, build);
  // Only short strings on the build side: longer probe strings cannot match.
  const std::vector<row> short_build = {build[0], build[1], build[5]};
  check_join(kv, kv, {1}, {1}, probe, short_build);
}

TEST_CASE("joins on several key columns of mixed types") {
  const schema s({{"i", type_id::int64}, {"t", type_id::string}, {"f", type_id::float64}});
  const std::vector<row> probe = {{std::int64_t{1}, std::string("a"), 0.5},  {std::int64_t{1}, std::string("b"), 0.5},
                                  {std::int64_t{2}, std::string("a"), 0.5},  {std::int64_t{1}, std::string("a"), 1.5},
                                  {std::int64_t{1}, std::string("a"), -0.0}, {std::int64_t{1}, null_cell, 0.5}};
  const std::vector<row> build = {{std::int64_t{1}, std::string("a"), 0.5},
                                  {std::int64_t{1}, std::string("a"), 0.5},
                                  {std::int64_t{2}, std::string("b"), 0.5},
                                  {std::int64_t{1}, std::string("a"), 0.0},
                                  {std::int64_t{1}, null_cell, 0.5}};
  const auto out = run_to_end(*join(s, s, {0, 1, 2}, {0, 1, 2}, source(1, s, probe), source(2, s, build)), 100).rows;
  CHECK(out.size() == 3);  // (1, a, 0.5) twice, and -0.0 equals 0.0
  check_join(s, s, {0, 1, 2}, {0, 1, 2}, probe, build);
  check_join(s, s, {2}, {2}, probe, build);
  check_join(s, s, {1, 0}, {1, 0}, probe, build);
}

TEST_CASE("random joins match a nested-loop join, for dense and for sparse int64 keys") {
  std::mt19937_64 rng(5);
  for (const std::int64_t spread : {std::int64_t{1}, std::int64_t{1'000'000'000'000}}) {
    std::vector<row> probe;
    std::vector<row> build;
    for (std::size_t i = 0; i < 60; ++i) {
      const auto key = [&]() -> cell {
        if (rng() % 10 == 0) {
          return null_cell;
        }
        return static_cast<std::int64_t>(rng() % 25) * spread - 7;
      };
      probe.push_back({key(), std::string("p") + std::to_string(i)});
      if (i < 40) {
        build.push_back({key(), std::string("b") + std::to_string(i)});
      }
    }
    check_join(kv, kv, {0}, {0}, probe, build);
  }
}

TEST_CASE("a probe row with many matches is split over batches of at most batch_rows rows") {
  std::vector<row> build;
  for (std::int64_t i = 0; i < 50; ++i) {
    build.push_back({std::int64_t{7}, std::to_string(i)});
  }
  const std::vector<row> probe = {
      {std::int64_t{7}, std::string("a")}, {std::int64_t{8}, std::string("b")}, {std::int64_t{7}, std::string("c")}};
  const auto out = run_to_end(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 16);
  CHECK(out.rows.size() == 100);
  for (std::size_t live : out.live_per_batch) {
    CHECK(live <= 16);
  }
  CHECK(sorted(out.rows) == sorted(nested_loop_join(probe, build, {0}, {0})));
}

TEST_CASE("keys of different types on the two sides are refused") {
  const schema f({{"k", type_id::float64}});
  bound_node n;
  n.kind = ftq::node_kind::hash_join;
  n.path = "plan";
  n.probe_keys = {column_ref(0, type_id::int64)};
  n.build_keys = {column_ref(0, type_id::float64)};
  n.output = schema({{"k", type_id::int64}, {"b_k", type_id::float64}});
  CHECK_THROWS_AS(ftq::exec::hash_join_operator(n, source(1, kv, {}), source(2, f, {})), ftq::plan_error);
  n.build_keys.clear();
  CHECK_THROWS_AS(ftq::exec::hash_join_operator(n, source(1, kv, {}), source(2, f, {})), ftq::plan_error);
}
