#include "exec/operators/top_k.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/error.hpp>

#include "exec/operators/sort.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"
#include "support/ordering_reference.hpp"
#include "support/vector_state.hpp"

namespace {

using namespace ftq::test;

std::unique_ptr<ftq::exec::top_k_operator> top_k(const schema& s, const std::vector<key>& keys, std::int64_t k,
                                                 std::unique_ptr<ftq::exec::physical_operator> child) {
  bound_node n = ordering_node(ftq::node_kind::top_k, s, keys);
  n.limit = k;
  return std::make_unique<ftq::exec::top_k_operator>(n, std::move(child));
}

std::vector<row> first(std::vector<row> rows, std::size_t k) {
  rows.resize(std::min(rows.size(), k));
  return rows;
}

// A child that must never be asked for a batch.
class untouchable final : public ftq::exec::physical_operator {
 public:
  explicit untouchable(const schema& s) : physical_operator(1, "untouchable", s, {}) {}
  std::string_view name() const noexcept override { return "untouchable"; }

 protected:
  std::unique_ptr<ftq::exec::operator_state> make_state(ftq::exec::execution_context&) const override {
    return std::make_unique<ftq::test::vector_state>();  // any state: it is never used
  }
  boost::asio::awaitable<std::optional<batch>> produce(ftq::exec::execution_context&) const override {
    throw std::logic_error("top_k with k = 0 pulled its child");
    co_return std::nullopt;
  }
};

}  // namespace

TEST_CASE("top_k over empty input yields no rows") {
  CHECK(run_to_end(*top_k(ifs, {{0, false}}, 3, source(1, ifs, {})), 3).rows.empty());
}

TEST_CASE("top_k with k = 0 yields no rows and never pulls its child") {
  CHECK(run_to_end(*top_k(ifs, {{0, false}}, 0, std::make_unique<untouchable>(ifs)), 3).rows.empty());
}

TEST_CASE("top_k with k beyond the input returns the whole input in order") {
  const std::vector<row> rows = random_rows(40, 11, true);
  for (const auto& b : batchings) {
    CHECK(
        run_to_end(*top_k(ifs, {{2, true}, {0, false}}, 1000, source(1, ifs, rows, b.per_batch, b.selected)), 3).rows ==
        reference_order(rows, {{2, true}, {0, false}}));
  }
}

TEST_CASE("top_k breaks ties by input order") {
  const schema s({{"k", type_id::int64}, {"tag", type_id::int64}});
  std::vector<row> rows;
  for (std::int64_t i = 0; i < 100; ++i) {
    rows.push_back({i % 4 == 3 ? std::int64_t{1} : std::int64_t{2}, i});
  }
  for (const auto& b : batchings) {
    // 25 rows have key 1; the next 5 are the first five rows with key 2.
    const auto out = run_to_end(*top_k(s, {{0, false}}, 30, source(1, s, rows, b.per_batch, b.selected)), 7).rows;
    REQUIRE(out.size() == 30);
    CHECK(out[24] == row{std::int64_t{1}, std::int64_t{99}});
    CHECK(out[25] == row{std::int64_t{2}, std::int64_t{0}});
    CHECK(out[29] == row{std::int64_t{2}, std::int64_t{5}});
    CHECK(out == first(reference_order(rows, {{0, false}}), 30));
  }
}

TEST_CASE("top_k equals sort followed by limit, for many k on random data") {
  for (const bool long_strings : {false, true}) {
    const std::vector<row> rows = random_rows(300, long_strings ? 21 : 22, long_strings);
    for (const auto& keys : key_lists) {
      const std::vector<row> sorted_rows = reference_order(rows, keys);
      const ftq::exec::sort_operator sorter(ordering_node(ftq::node_kind::sort, ifs, keys),
                                            source(1, ifs, rows, 7, true));
      REQUIRE(run_to_end(sorter, 50).rows == sorted_rows);
      for (const std::int64_t k : {1, 2, 3, 5, 10, 33, 100, 299, 300, 301}) {
        for (const auto& b : {batching{1, false}, batching{7, true}, batching{64, false}}) {
          const auto out = run_to_end(*top_k(ifs, keys, k, source(1, ifs, rows, b.per_batch, b.selected)), 7);
          CHECK(out.rows == first(sorted_rows, static_cast<std::size_t>(k)));
          for (std::size_t live : out.live_per_batch) {
            CHECK(live <= 7);
          }
        }
      }
    }
  }
}

TEST_CASE("top_k with a negative k is refused") {
  bound_node n = ordering_node(ftq::node_kind::top_k, ifs, {{0, false}});
  n.limit = -1;
  CHECK_THROWS_AS(ftq::exec::top_k_operator(n, source(1, ifs, {})), ftq::plan_error);
}

TEST_CASE("top_k without keys returns the first k rows in input order") {
  const std::vector<row> rows = random_rows(50, 5, false);
  for (const auto& b : batchings) {
    CHECK(run_to_end(*top_k(ifs, {}, 12, source(1, ifs, rows, b.per_batch, b.selected)), 5).rows == first(rows, 12));
  }
}
