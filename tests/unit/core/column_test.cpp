#include <ftq/column.hpp>

#include <doctest/doctest.h>

#include <ftq/batch.hpp>
#include <ftq/table.hpp>

TEST_CASE("string_arena keeps earlier views valid as it grows") {
  ftq::string_arena arena;
  std::vector<std::string_view> views;
  for (int i = 0; i < 20000; ++i)
    views.push_back(arena.add("value-" + std::to_string(i)));
  views.push_back(arena.add(std::string(200000, 'x')));
  for (int i = 0; i < 20000; ++i)
    CHECK(views[static_cast<std::size_t>(i)] == "value-" + std::to_string(i));
  CHECK(views.back().size() == 200000);
  CHECK(arena.add("").empty());
}

TEST_CASE("set_null creates the null vector lazily and resize keeps it aligned") {
  ftq::column c(ftq::type_id::float64);
  c.resize(3);
  CHECK_FALSE(c.has_nulls());
  c.set_null(1);
  CHECK(c.is_null(1));
  CHECK_FALSE(c.is_null(0));
  c.resize(5);
  CHECK(c.nulls.size() == 5);
  CHECK_FALSE(c.is_null(4));
}

TEST_CASE("compacted gathers the selected rows of every column, nulls and string owners included") {
  auto ints = std::make_shared<ftq::column>(ftq::type_id::int64);
  ints->ints = {10, 11, 12, 13};
  ints->set_null(2);
  auto owner = std::make_shared<std::string>("abcd");
  auto strs = std::make_shared<ftq::column>(ftq::type_id::string);
  for (int i = 0; i < 4; ++i)
    strs->strings.push_back(std::string_view(*owner).substr(static_cast<std::size_t>(i), 1));
  strs->keep_alive(owner);
  ftq::batch b;
  b.columns = {ints, strs};
  b.rows = 4;
  b.has_selection = true;
  b.selection = {0, 2, 3};
  CHECK(b.live_rows() == 3);
  CHECK(b.row_at(1) == 2);
  auto c = b.compacted();
  CHECK_FALSE(c.has_selection);
  CHECK(c.rows == 3);
  CHECK(c.columns[0]->ints[0] == 10);
  CHECK(c.columns[0]->is_null(1));
  CHECK(c.columns[0]->ints[2] == 13);
  CHECK(c.columns[1]->strings[2] == "d");
  CHECK(c.columns[1]->string_owners.size() == 1);
}

TEST_CASE("a table counts its rows and stores selected batches compacted") {
  auto col = std::make_shared<ftq::column>(ftq::type_id::int64);
  col->ints = {1, 2, 3};
  ftq::batch b;
  b.columns = {col};
  b.rows = 3;
  b.has_selection = true;
  b.selection = {2};
  ftq::table t("t", ftq::schema({{"a", ftq::type_id::int64}}), {b, b});
  CHECK(t.row_count() == 2);
  CHECK_FALSE(t.batches()[0].has_selection);
  CHECK(t.batches()[0].columns[0]->ints[0] == 3);
}

TEST_CASE("schema looks up names and lists them for messages") {
  ftq::schema s({{"a", ftq::type_id::int64}, {"b", ftq::type_id::string}});
  CHECK(s.index_of("b") == 1);
  CHECK_FALSE(s.index_of("c").has_value());
  CHECK(s.names_joined() == "a, b");
  CHECK(ftq::parse_type_name("bigint") == ftq::type_id::int64);
  CHECK(ftq::parse_type_name("varchar") == ftq::type_id::string);
  CHECK_FALSE(ftq::parse_type_name("boolean").has_value());
  CHECK(ftq::type_name(ftq::type_id::float64) == "float64");
}
