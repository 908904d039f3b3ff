#include "exec/keys/key_table.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

using ftq::column;
using ftq::type_id;
using ftq::exec::keys::key_layout;
using ftq::exec::keys::key_table;

column ints(const std::vector<std::int64_t>& v, const std::vector<std::size_t>& null_rows = {}) {
  column c(type_id::int64);
  c.ints = v;
  for (std::size_t r : null_rows) {
    c.set_null(r);
  }
  return c;
}

// Strings of test columns live as long as the test: they view these literals' copies.
column strings(const std::vector<std::string>& v, std::vector<std::shared_ptr<std::string>>& keep,
               const std::vector<std::size_t>& null_rows = {}) {
  column c(type_id::string);
  for (const auto& s : v) {
    keep.push_back(std::make_shared<std::string>(s));
    c.strings.push_back(*keep.back());
  }
  for (std::size_t r : null_rows) {
    c.set_null(r);
  }
  return c;
}

std::vector<std::uint32_t> insert(key_table& t, const std::vector<const column*>& cols) {
  std::vector<std::uint32_t> ids;
  t.insert(cols, cols.empty() ? 0 : cols[0]->size(), ids);
  return ids;
}

std::vector<std::uint32_t> find(key_table& t, const std::vector<const column*>& cols) {
  std::vector<std::uint32_t> ids;
  t.find(cols, cols[0]->size(), ids);
  return ids;
}

constexpr std::uint32_t absent = key_table::absent;

}  // namespace

TEST_CASE("key ids are dense and handed out in first-seen order") {
  key_table t({type_id::int64});
  const column a = ints({7, 3, 7, -1});
  CHECK(insert(t, {&a}) == std::vector<std::uint32_t>{0, 1, 0, 2});
  const column b = ints({-1, 9, 3});
  CHECK(insert(t, {&b}) == std::vector<std::uint32_t>{2, 3, 1});
  CHECK(t.size() == 4);
  CHECK(t.stored(0).ints == std::vector<std::int64_t>{7, 3, -1, 9});
}

TEST_CASE("ids survive the layout widening from one word to two to bytes") {
  std::vector<std::shared_ptr<std::string>> keep;
  key_table t({type_id::string, type_id::int64});
  const column s1 = strings({"a", "b", "a"}, keep);
  const column n1 = ints({1, 1, 1});
  CHECK(insert(t, {&s1, &n1}) == std::vector<std::uint32_t>{0, 1, 0});
  CHECK(t.layout().packing == key_layout::kind::word128);  // 8 bytes of int64 + 2 of string

  const column s2 = strings({"abcdef", "b", "a"}, keep);
  const column n2 = ints({1, 1, 2});
  CHECK(insert(t, {&s2, &n2}) == std::vector<std::uint32_t>{2, 1, 3});
  CHECK(t.layout().packing == key_layout::kind::word128);

  const column s3 = strings({"a string longer than any word", "a", "abcdef", "b"}, keep, {3});
  const column n3 = ints({1, 1, 1, 1});
  CHECK(insert(t, {&s3, &n3}) == std::vector<std::uint32_t>{4, 0, 2, 5});
  CHECK(t.layout().packing == key_layout::kind::bytes);
  CHECK(find(t, {&s1, &n1}) == std::vector<std::uint32_t>{0, 1, 0});
  CHECK(find(t, {&s2, &n2}) == std::vector<std::uint32_t>{2, 1, 3});
}

TEST_CASE("a first NULL key widens the layout and gets an id of its own") {
  key_table t({type_id::int64});
  const column a = ints({0, 5});
  CHECK(insert(t, {&a}) == std::vector<std::uint32_t>{0, 1});
  CHECK_FALSE(t.layout().nullable);
  const column b = ints({0, 0, 5}, {1});
  CHECK(insert(t, {&b}) == std::vector<std::uint32_t>{0, 2, 1});
  CHECK(t.layout().nullable);
  CHECK(t.stored(0).is_null(2));
  CHECK(insert(t, {&b}) == std::vector<std::uint32_t>{0, 2, 1});
}

TEST_CASE("find reports keys never inserted as absent, including ones the layout cannot hold") {
  std::vector<std::shared_ptr<std::string>> keep;
  key_table t({type_id::string});
  const column empty_probe = strings({"x"}, keep);
  CHECK(find(t, {&empty_probe}) == std::vector<std::uint32_t>{absent});
  const column a = strings({"ab", "c"}, keep);
  insert(t, {&a});
  const column probe = strings({"c", "abc", "zz", "ab", "x"}, keep, {4});
  CHECK(find(t, {&probe}) == std::vector<std::uint32_t>{1, absent, absent, 0, absent});
  CHECK(t.size() == 2);
}

TEST_CASE("-0.0 and 0.0 are one key, and so is every NaN") {
  key_table t({type_id::float64});
  column c(type_id::float64);
  c.doubles = {0.0, -0.0, std::nan("1"), -std::nan("2"), 1.0};
  CHECK(insert(t, {&c}) == std::vector<std::uint32_t>{0, 0, 1, 1, 2});
}

TEST_CASE("sliced key columns keep their strings alive after the table is gone") {
  std::vector<std::shared_ptr<std::string>> keep;
  ftq::column_ptr slice;
  {
    key_table t({type_id::string});
    const column a = strings({"first", "second", "third"}, keep, {1});
    insert(t, {&a});
    keep.clear();  // the input's bytes go away; the table copied them
    slice = t.slice(0, 1, 3);
  }
  REQUIRE(slice->size() == 2);
  CHECK(slice->is_null(0));
  CHECK(slice->strings[1] == "third");
}

TEST_CASE("many distinct keys over many batches keep their ids") {
  key_table t({type_id::int64, type_id::int64});
  std::vector<std::uint32_t> ids;
  for (std::int64_t round = 0; round < 2; ++round) {
    for (std::int64_t start = 0; start < 100000; start += 4096) {
      column a(type_id::int64);
      column b(type_id::int64);
      for (std::int64_t k = start; k < std::min<std::int64_t>(start + 4096, 100000); ++k) {
        a.ints.push_back(k * 1'000'003);
        b.ints.push_back(-k);
      }
      t.insert({&a, &b}, a.size(), ids);
      for (std::size_t i = 0; i < ids.size(); ++i) {
        REQUIRE(ids[i] == static_cast<std::uint32_t>(start) + i);
      }
    }
  }
  CHECK(t.size() == 100000);
}
