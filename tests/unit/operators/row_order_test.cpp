#include "exec/keys/row_order.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "support/run_coro.hpp"

namespace {

using ftq::column;
using ftq::type_id;
using ftq::exec::keys::compare_rows;
using ftq::exec::keys::normalize_key;
using ftq::exec::keys::normalize_value;
using ftq::exec::keys::order_key;

std::vector<std::uint32_t> sort_rows(const std::vector<order_key>& keys, std::size_t rows) {
  return ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<std::vector<std::uint32_t>> {
    ftq::exec::execution_context ctx(ex, 1024, 1, nullptr);
    co_return co_await ftq::exec::keys::sort_rows(keys, rows, ctx);
  });
}

std::vector<std::uint32_t> stable_reference(const std::vector<order_key>& keys, std::size_t rows) {
  std::vector<std::uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0U);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return compare_rows(keys, a, keys, b) < 0; });
  return order;
}

}  // namespace

TEST_CASE("compare_rows puts NULLs last in both directions and NaN above every number") {
  column f(type_id::float64);
  f.doubles = {1.0, 0.0, std::nan(""), -INFINITY, 0.0};
  f.set_null(4);
  for (const bool desc : {false, true}) {
    const std::vector<order_key> k = {{&f, desc}};
    CHECK(compare_rows(k, 4, k, 0) > 0);
    CHECK(compare_rows(k, 0, k, 4) < 0);
    CHECK(compare_rows(k, 4, k, 4) == 0);
    CHECK((compare_rows(k, 2, k, 0) > 0) == !desc);
    CHECK(compare_rows(k, 2, k, 2) == 0);
    CHECK((compare_rows(k, 3, k, 1) < 0) == !desc);
  }
}

TEST_CASE("normalized words keep the order of numbers exactly") {
  column i(type_id::int64);
  i.ints = {std::numeric_limits<std::int64_t>::min(), -5, -1, 0, 1, 7, std::numeric_limits<std::int64_t>::max()};
  column f(type_id::float64);
  f.doubles = {-INFINITY, -1e300, -2.5, -0.0, 0.0, 1e-300, 3.0, INFINITY, std::nan("")};
  for (const column* c : {&i, &f}) {
    for (const bool desc : {false, true}) {
      std::vector<std::uint64_t> w;
      CHECK(normalize_key(*c, desc, c->size(), w));
      const std::vector<order_key> k = {{c, desc}};
      for (std::size_t a = 0; a < c->size(); ++a) {
        for (std::size_t b = 0; b < c->size(); ++b) {
          const int cmp = compare_rows(k, a, k, b);
          CHECK((w[a] < w[b]) == (cmp < 0));
          CHECK((w[a] == w[b]) == (cmp == 0));
        }
      }
    }
  }
}

TEST_CASE("normalized words of strings never contradict byte order, and are exact up to 7 bytes") {
  const std::vector<std::string> values = {"",
                                           "a",
                                           std::string("a\0", 2),
                                           std::string("a\0\0", 3),
                                           "ab",
                                           "abcdefg",
                                           "abcdefgh",
                                           "abcdefgh1",
                                           "abcdefgh2",
                                           "b",
                                           "\xff",
                                           "\xff\xff\xff\xff\xff\xff\xff\xff"};
  column s(type_id::string);
  for (const auto& v : values) {
    s.strings.push_back(v);
  }
  for (const bool desc : {false, true}) {
    std::vector<std::uint64_t> all;
    CHECK_FALSE(normalize_key(s, desc, s.size(), all));
    std::vector<std::uint64_t> shorter;
    CHECK(normalize_key(s, desc, 6, shorter));  // the first six are at most 7 bytes long
    const std::vector<order_key> k = {{&s, desc}};
    for (std::size_t a = 0; a < s.size(); ++a) {
      // A word computed alone, in the same mode as a batch, compares like the batch's words.
      CHECK(normalize_value(s, a, desc, false) == all[a]);
      for (std::size_t b = 0; b < s.size(); ++b) {
        const int cmp = compare_rows(k, a, k, b);
        if (all[a] < all[b]) {
          CHECK(cmp < 0);
        }
        if (a < 6 && b < 6) {
          CHECK((shorter[a] < shorter[b]) == (cmp < 0));
          CHECK((shorter[a] == shorter[b]) == (cmp == 0));
        }
        const std::uint64_t wa = normalize_value(s, a, desc, true);
        const std::uint64_t wb = normalize_value(s, b, desc, true);
        if (wa < wb) {
          CHECK(cmp < 0);
        }
      }
    }
  }
}

TEST_CASE("sort_rows matches a stable comparison sort, through the radix path and its tie refinement") {
  std::mt19937_64 rng(23);
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{5000}}) {
    column i(type_id::int64);
    column f(type_id::float64);
    column s(type_id::string);
    std::vector<std::string> bytes;
    bytes.reserve(n);
    for (std::size_t r = 0; r < n; ++r) {
      i.ints.push_back(static_cast<std::int64_t>(rng() % 50) - 25);
      f.doubles.push_back(static_cast<double>(rng() % 1000) * (rng() % 2 == 0 ? 1e12 : -0.001));
      bytes.push_back("same-long-prefix/" + std::to_string(rng() % 30));
    }
    for (const auto& b : bytes) {
      s.strings.push_back(b);
    }
    for (std::size_t r = 0; r < n; r += 11) {
      i.set_null(r);
      s.set_null(r);
    }
    const std::vector<std::vector<order_key>> key_lists = {{{&i, false}}, {{&i, true}, {&f, false}},
                                                           {{&f, true}},  {{&s, false}, {&i, true}},
                                                           {{&s, true}},  {{&i, false}, {&s, false}, {&f, true}}};
    for (const auto& keys : key_lists) {
      CHECK(sort_rows(keys, n) == stable_reference(keys, n));
    }
  }
}

TEST_CASE("sort_rows without keys keeps input order") {
  CHECK(sort_rows({}, 4) == std::vector<std::uint32_t>{0, 1, 2, 3});
}
