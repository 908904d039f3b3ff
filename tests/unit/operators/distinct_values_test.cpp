#include "exec/keys/distinct_values.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace {

using ftq::column;
using ftq::type_id;
using ftq::exec::keys::distinct_values;

column ints(const std::vector<std::int64_t>& v) {
  column c(type_id::int64);
  c.ints = v;
  return c;
}

}  // namespace

TEST_CASE("dense int64 values are counted in a bitmap that grows in both directions") {
  distinct_values d(type_id::int64, false);
  const column a = ints({5, 6, 5, 7});
  d.add(a, nullptr, a.size());
  const column b = ints({-100, 7, 1000, -100});
  d.add(b, nullptr, b.size());
  CHECK(d.uses_bitmap());
  CHECK(d.counts(1) == std::vector<std::int64_t>{5});
}

TEST_CASE("int64 values spread too wide leave the bitmap and keep their count") {
  distinct_values d(type_id::int64, false);
  std::set<std::int64_t> expected;
  std::mt19937_64 rng(1);
  for (int round = 0; round < 20; ++round) {
    column c(type_id::int64);
    for (int i = 0; i < 500; ++i) {
      std::int64_t v = static_cast<std::int64_t>(rng() % 3000);
      if (round >= 10) {
        v = static_cast<std::int64_t>(rng());  // anywhere in int64
      }
      c.ints.push_back(v);
    }
    c.ints[3] = -424242;
    c.set_null(3);  // its slot holds a value that must not count
    for (std::size_t i = 0; i < c.ints.size(); ++i) {
      if (!c.is_null(i)) {
        expected.insert(c.ints[i]);
      }
    }
    d.add(c, nullptr, c.size());
    CHECK(d.uses_bitmap() == (round < 10));
  }
  CHECK(d.counts(1) == std::vector<std::int64_t>{static_cast<std::int64_t>(expected.size())});
}

TEST_CASE("extreme int64 values are counted exactly") {
  distinct_values d(type_id::int64, false);
  const column c = ints({std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                         std::numeric_limits<std::int64_t>::min(), 0});
  d.add(c, nullptr, c.size());
  CHECK(d.counts(1) == std::vector<std::int64_t>{3});
}

TEST_CASE("grouped distinct values are counted per group, NULLs skipped") {
  distinct_values d(type_id::string, true);
  column s(type_id::string);
  const std::vector<std::string> values = {"a", "b", "a", "a", "z", "q"};
  for (const auto& v : values) {
    s.strings.push_back(v);
  }
  s.set_null(5);
  const std::vector<std::uint32_t> groups = {0, 0, 0, 2, 2, 1};
  d.add(s, groups.data(), s.size());
  CHECK(d.counts(3) == std::vector<std::int64_t>{2, 0, 2});
}

TEST_CASE("only NULL values count zero") {
  distinct_values d(type_id::int64, false);
  column c = ints({1, 2});
  c.set_null(0);
  c.set_null(1);
  d.add(c, nullptr, c.size());
  CHECK(d.counts(1) == std::vector<std::int64_t>{0});
}
