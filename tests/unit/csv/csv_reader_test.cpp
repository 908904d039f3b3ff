#include "csv/csv_reader.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "csv/csv_writer.hpp"

#include "support/table_schemas.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using ftq::batch;
using ftq::schema;
using ftq::type_id;
using ftq::csv::csv_reader;
using ftq::csv::reader_options;
using ftq::csv::reader_position;

namespace {

using namespace ftq::test;

fs::path test_data(const std::string& name) { return ftq::test::test_data_dir() / "csv" / name; }

std::vector<std::size_t> all_columns(const schema& s) {
  std::vector<std::size_t> cols(s.size());
  std::iota(cols.begin(), cols.end(), std::size_t{0});
  return cols;
}

std::vector<batch> read_all(const fs::path& file, const schema& s, std::vector<std::size_t> cols,
                            reader_options options = {}) {
  csv_reader reader(file, s, std::move(cols), options);
  std::vector<batch> out;
  while (auto b = reader.next()) {
    out.push_back(std::move(*b));
  }
  return out;
}

std::vector<batch> read_all(const fs::path& file, const schema& s, reader_options options = {}) {
  return read_all(file, s, all_columns(s), options);
}

/// One cell as text for comparisons: "NULL", an int, a double (%.17g) or the string itself.
std::string cell(const batch& b, std::size_t col, std::size_t row) {
  const ftq::column& c = *b.columns[col];
  if (c.is_null(row)) {
    return "NULL";
  }
  switch (c.type) {
    case type_id::int64:
      return std::to_string(c.ints[row]);
    case type_id::float64: {
      char text[64];
      std::snprintf(text, sizeof text, "%.17g", c.doubles[row]);
      return text;
    }
    case type_id::string:
      return std::string(c.strings[row]);
    case type_id::boolean:
      break;
  }
  return "?";
}

/// All rows of all batches, one vector of cells per row.
std::vector<std::vector<std::string>> rows_of(const std::vector<batch>& batches) {
  std::vector<std::vector<std::string>> rows;
  for (const batch& b : batches) {
    for (std::size_t r = 0; r < b.rows; ++r) {
      std::vector<std::string> row;
      for (std::size_t c = 0; c < b.columns.size(); ++c) {
        row.push_back(cell(b, c, r));
      }
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

struct failure {
  std::uint64_t line = 0;
  std::uint64_t column = 0;
  std::string what;
  std::string file;
};

/// Reads `text` as `s` and returns the csv_error it must raise.
failure read_failure(const std::string& text, const schema& s, reader_options options = {}) {
  temp_dir dir;
  const fs::path file = dir.write("bad.csv", text);
  try {
    read_all(file, s, options);
  } catch (const ftq::csv_error& e) {
    return {e.line(), e.column(), e.what(), e.file()};
  }
  FAIL("no csv_error for: " << text);
  return {};
}

const schema two_ints({{"a", type_id::int64}, {"b", type_id::int64}});

}  // namespace

TEST_CASE("quoted fields keep commas, doubled quotes and newlines") {
  const schema s({{"id", type_id::int64}, {"text", type_id::string}, {"x", type_id::float64}});
  const auto rows = rows_of(read_all(test_data("quoted.csv"), s));
  REQUIRE(rows.size() == 5);
  CHECK(rows[0] == std::vector<std::string>{"1", "plain", "1.5"});
  CHECK(rows[1] == std::vector<std::string>{"2", "with, comma", "-2"});
  CHECK(rows[2] == std::vector<std::string>{"3", "say \"hi\"", "0.001"});
  CHECK(rows[3] == std::vector<std::string>{"4", "two\nlines", "1000"});
  CHECK(rows[4] == std::vector<std::string>{"5", "\"", "0.5"});
}

TEST_CASE("CRLF line ends are stripped, but a CRLF inside quotes is kept") {
  const schema s({{"id", type_id::int64}, {"text", type_id::string}});
  const auto rows = rows_of(read_all(test_data("crlf.csv"), s));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"1", "a"});
  CHECK(rows[1] == std::vector<std::string>{"2", "b\r\nc"});
  CHECK(rows[2] == std::vector<std::string>{"3", "NULL"});
}

TEST_CASE("the final line may lack its newline") {
  temp_dir dir;
  const schema s({{"a", type_id::int64}, {"s", type_id::string}});
  CHECK(rows_of(read_all(dir.write("1.csv", "a,s\n1,x\n2,y"), s)).back() == std::vector<std::string>{"2", "y"});
  CHECK(rows_of(read_all(dir.write("2.csv", "a,s\n1,x\n2,\"y\""), s)).back() == std::vector<std::string>{"2", "y"});
  CHECK(rows_of(read_all(dir.write("3.csv", "a,s\r\n1,x\r\n2,y\r"), s)).back() == std::vector<std::string>{"2", "y"});
  CHECK(rows_of(read_all(dir.write("4.csv", "a,s\n1,x\n2,"), s)).back() == std::vector<std::string>{"2", "NULL"});
  CHECK(rows_of(read_all(dir.write("5.csv", "a,s\n1,x\n2,y"), s)).size() == 2);
}

TEST_CASE("an unquoted empty field is NULL, a quoted empty field the empty string") {
  temp_dir dir;
  const schema s({{"n", type_id::int64}, {"d", type_id::float64}, {"s", type_id::string}, {"t", type_id::string}});
  const auto batches = read_all(dir.write("n.csv", "n,d,s,t\n,,,\"\"\n1,2.5,x,y\n"), s);
  REQUIRE(batches.size() == 1);
  const batch& b = batches[0];
  CHECK(b.columns[0]->is_null(0));
  CHECK(b.columns[1]->is_null(0));
  CHECK(b.columns[2]->is_null(0));
  CHECK_FALSE(b.columns[3]->is_null(0));
  CHECK(b.columns[3]->strings[0].empty());
  for (std::size_t c = 0; c < 4; ++c) {
    CHECK_FALSE(b.columns[c]->is_null(1));
  }
  CHECK(b.columns[0]->ints[1] == 1);
  CHECK(b.columns[1]->doubles[1] == 2.5);
}

TEST_CASE("a column without NULLs has no null vector") {
  temp_dir dir;
  const auto batches = read_all(dir.write("n.csv", "a,b\n1,2\n3,\n"), two_ints);
  CHECK_FALSE(batches[0].columns[0]->has_nulls());
  CHECK(batches[0].columns[1]->has_nulls());
}

TEST_CASE("numbers parse as DuckDB writes them, quoted or not") {
  temp_dir dir;
  const schema s({{"i", type_id::int64}, {"d", type_id::float64}});
  const auto batches = read_all(dir.write("n.csv",
                                          "i,d\n"
                                          "-9223372036854775808,1e-3\n"
                                          "9223372036854775807,-2\n"
                                          "+7,\"0.30000000000000004\"\n"
                                          "\"42\",inf\n"
                                          "0,-inf\n"
                                          "-0,nan\n"
                                          "1,1.7976931348623157e308\n"
                                          "2,5e-324\n"),
                                s);
  const ftq::column& i = *batches[0].columns[0];
  const ftq::column& d = *batches[0].columns[1];
  CHECK(i.ints == std::vector<std::int64_t>{INT64_MIN, INT64_MAX, 7, 42, 0, 0, 1, 2});
  CHECK(d.doubles[0] == 1e-3);
  CHECK(d.doubles[1] == -2.0);
  CHECK(d.doubles[2] == 0.1 + 0.2);
  CHECK(d.doubles[3] == INFINITY);
  CHECK(d.doubles[4] == -INFINITY);
  CHECK(std::isnan(d.doubles[5]));
  CHECK(d.doubles[6] == 1.7976931348623157e308);
  CHECK(d.doubles[7] == 5e-324);
}

TEST_CASE("a requested subset of columns comes out in the requested order; others are not converted") {
  temp_dir dir;
  const schema s({{"a", type_id::int64}, {"b", type_id::int64}, {"c", type_id::string}, {"d", type_id::float64}});
  // Column b holds garbage: it is skipped, so it must not be parsed.
  const fs::path file = dir.write("s.csv", "a,b,c,d\n1,junk,\"x,y\",0.5\n2,,z,1.5\n");
  csv_reader reader(file, s, {3, 0, 2});
  CHECK(reader.output_schema() == schema({{"d", type_id::float64}, {"a", type_id::int64}, {"c", type_id::string}}));
  auto b = reader.next();
  REQUIRE(b);
  CHECK(rows_of({*b}) == std::vector<std::vector<std::string>>{{"0.5", "1", "x,y"}, {"1.5", "2", "z"}});
  CHECK_FALSE(reader.next());
}

TEST_CASE("a file column may be requested twice, and no column at all still counts rows") {
  temp_dir dir;
  const fs::path file = dir.write("s.csv", "a,b\n1,2\n3,4\n5,6\n");
  CHECK(rows_of(read_all(file, two_ints, std::vector<std::size_t>{1, 1})) ==
        std::vector<std::vector<std::string>>{{"2", "2"}, {"4", "4"}, {"6", "6"}});
  const auto counted = read_all(file, two_ints, std::vector<std::size_t>{});
  REQUIRE(counted.size() == 1);
  CHECK(counted[0].rows == 3);
  CHECK(counted[0].columns.empty());
}

TEST_CASE("batches hold batch_rows rows, only the last one fewer") {
  temp_dir dir;
  std::string text = "a,b\n";
  for (int i = 0; i < 10; ++i) {
    text.append(std::to_string(i)).append(",").append(std::to_string(i * i)).append("\n");
  }
  const fs::path file = dir.write("b.csv", text);
  for (const std::size_t rows : {std::size_t{1}, std::size_t{3}, std::size_t{10}, ftq::default_batch_rows}) {
    CAPTURE(rows);
    reader_options options;
    options.batch_rows = rows;
    const auto batches = read_all(file, two_ints, options);
    std::vector<std::size_t> sizes;
    for (const batch& b : batches) {
      sizes.push_back(b.rows);
    }
    std::vector<std::size_t> expected;
    for (std::size_t left = 10; left > 0; left -= std::min(left, rows)) {
      expected.push_back(std::min(left, rows));
    }
    CHECK(sizes == expected);
    const auto all = rows_of(batches);
    REQUIRE(all.size() == 10);
    for (std::size_t i = 0; i < 10; ++i) {
      CHECK(all[i][1] == std::to_string(i * i));
    }
  }
}

TEST_CASE("a header-only file yields no batches, with or without its newline") {
  temp_dir dir;
  for (const char* text : {"a,b\n", "a,b", "a,b\r\n"}) {
    csv_reader reader(dir.write("h.csv", text), two_ints, {0, 1});
    CHECK_FALSE(reader.next());
    CHECK_FALSE(reader.next());
    CHECK(reader.position().rows == 0);
  }
}

TEST_CASE("a UTF-8 byte order mark before the header is skipped") {
  temp_dir dir;
  CHECK(rows_of(read_all(dir.write("bom.csv",
                                   "\xEF\xBB\xBF"
                                   "a,b\n1,2\n"),
                         two_ints))
            .size() == 1);
}

TEST_CASE("a carriage return not followed by a newline is data") {
  temp_dir dir;
  const schema s({{"a", type_id::int64}, {"s", type_id::string}});
  CHECK(rows_of(read_all(dir.write("cr.csv", "a,s\n1,x\ry\n"), s)) ==
        std::vector<std::vector<std::string>>{{"1", "x\ry"}});
}

TEST_CASE("strings point into the read buffers, which outlive the reader") {
  temp_dir dir;
  const schema s({{"s", type_id::string}, {"t", type_id::string}});
  std::optional<batch> b;
  {
    csv_reader reader(dir.write("s.csv", "s,t\nplain,\"esc\"\"aped\"\n"), s, {0, 1});
    b = reader.next();
  }
  REQUIRE(b);
  CHECK(b->columns[0]->strings[0] == "plain");
  CHECK(b->columns[1]->strings[0] == "esc\"aped");
  CHECK_FALSE(b->columns[0]->string_owners.empty());
  CHECK(b->columns[1]->string_owners.size() == 2);  // the buffer and the arena of unescaped values
}

TEST_CASE("rows split across read chunks, and rows longer than a chunk, read the same") {
  temp_dir dir;
  const schema s({{"id", type_id::int64}, {"s", type_id::string}, {"x", type_id::float64}});
  std::mt19937_64 rng(7);
  const std::string alphabet = "ab,\"\n\r x";
  std::vector<std::string> values;
  {
    ftq::csv::csv_writer writer(dir.path() / "long.csv", s);
    for (int part = 0; part < 20; ++part) {
      batch b;
      b.rows = 50;
      auto id = std::make_shared<ftq::column>(type_id::int64);
      auto str = std::make_shared<ftq::column>(type_id::string);
      auto x = std::make_shared<ftq::column>(type_id::float64);
      for (std::size_t r = 0; r < b.rows; ++r) {
        std::string v;
        const std::size_t len = rng() % 7 == 0 ? 300 + rng() % 300 : rng() % 12;
        for (std::size_t k = 0; k < len; ++k) {
          v += alphabet[rng() % alphabet.size()];
        }
        values.push_back(v);
        id->ints.push_back(static_cast<std::int64_t>(values.size()));
        x->doubles.push_back(static_cast<double>(rng() % 100000) / 7.0);
      }
      for (std::size_t r = 0; r < b.rows; ++r) {
        str->strings.push_back(values[values.size() - b.rows + r]);
      }
      b.columns = {id, str, x};
      writer.write(b);
    }
    writer.finish();
  }
  const auto reference = rows_of(read_all(dir.path() / "long.csv", s));
  REQUIRE(reference.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    REQUIRE(reference[i][1] == (values[i].empty() ? std::string() : values[i]));
  }
  for (const std::size_t chunk : {64, 100, 257, 4096}) {
    CAPTURE(chunk);
    reader_options options;
    options.chunk_bytes = chunk;
    options.batch_rows = 33;
    CHECK(rows_of(read_all(dir.path() / "long.csv", s, options)) == reference);
  }
}

TEST_CASE("random text reads the same, or fails at the same place, whatever the chunk size") {
  temp_dir dir;
  const schema s({{"a", type_id::int64}, {"s", type_id::string}, {"d", type_id::float64}});
  std::mt19937_64 rng(11);
  const std::vector<std::string> pieces = {"1",  "22",   "-3", "x",   ",", "\"", "\"\"",
                                           "\n", "\r\n", "\r", "2.5", " ", "e"};
  int failures = 0;
  for (int round = 0; round < 300; ++round) {
    std::string text = "a,s,d\n";
    for (int k = 0; k < 40; ++k) {
      // Mostly well-formed rows, with a random piece now and then.
      if (rng() % 8 == 0) {
        text += pieces[rng() % pieces.size()];
      } else {
        text.append(std::to_string(rng() % 1000))
            .append(",\"q,")
            .append(std::string(rng() % 90, 'z'))
            .append("\",1.5\n");
      }
    }
    const fs::path file = dir.write("r.csv", text);
    auto outcome = [&](std::size_t chunk) {
      reader_options options;
      options.chunk_bytes = chunk;
      options.batch_rows = 5;
      try {
        const auto rows = rows_of(read_all(file, s, options));
        std::string all;
        for (const auto& row : rows) {
          for (const auto& c : row) {
            all.append(c).append("|");
          }
        }
        return all;
      } catch (const ftq::csv_error& e) {
        return std::string("error ") + e.what();
      }
    };
    const std::string expected = outcome(std::size_t{1} << 20);
    failures += expected.starts_with("error") ? 1 : 0;
    CAPTURE(text);
    CHECK(outcome(64) == expected);
    CHECK(outcome(150) == expected);
  }
  CHECK(failures > 50);  // the test must also cover the error paths
}

TEST_CASE("a reader started at a reported position continues with the same rows and lines") {
  temp_dir dir;
  std::string text = "a,s\n";
  for (int i = 0; i < 20; ++i) {
    text.append(std::to_string(i)).append(i % 4 == 0 ? ",\"multi\nline\"\n" : ",x\n");
  }
  text += "20,x,oops\n";  // an error after the resume point proves the line count carried over
  const schema s({{"a", type_id::int64}, {"s", type_id::string}});
  const fs::path file = dir.write("r.csv", text);
  reader_options options;
  options.batch_rows = 3;
  options.chunk_bytes = 64;
  csv_reader first(file, s, {0, 1}, options);
  CHECK(first.position() == reader_position{4, 2, 0});
  first.next();
  first.next();
  const reader_position at = first.position();
  CHECK(at.rows == 6);
  CHECK(at.line == 2 + 6 + 2);  // rows 0 and 4 span two lines each
  CHECK(text.substr(at.offset, 2) == "6,");

  csv_reader second(file, s, {0, 1}, options, at);
  std::vector<batch> rest_first;
  std::vector<batch> rest_second;
  try {
    for (;;) {
      auto b = first.next();
      REQUIRE(b);
      rest_first.push_back(*b);
    }
  } catch (const ftq::csv_error& e) {
    CHECK(e.line() == 2 + 20 + 5);
  }
  try {
    for (;;) {
      auto b = second.next();
      REQUIRE(b);
      rest_second.push_back(*b);
    }
  } catch (const ftq::csv_error& e) {
    CHECK(e.line() == 2 + 20 + 5);
    CHECK(e.column() == 6);
  }
  CHECK(rows_of(rest_first) == rows_of(rest_second));
  CHECK(rows_of(rest_second).front() == std::vector<std::string>{"6", "x"});
}

TEST_CASE("a start position before the data is refused") {
  temp_dir dir;
  const fs::path file = dir.write("p.csv", "a,b\n1,2\n");
  CHECK_THROWS_AS(csv_reader(file, two_ints, {0}, {}, reader_position{1, 1, 0}), ftq::error);
  CHECK_THROWS_AS(csv_reader(file, two_ints, {0}, {}, reader_position{100, 2, 0}), ftq::error);
  csv_reader at_end(file, two_ints, {0}, {}, reader_position{8, 3, 1});
  CHECK_FALSE(at_end.next());
}

// --- malformed input: every error names file:line:column and the problem -------------------

TEST_CASE("too few fields are reported at the end of the short line") {
  const failure f = read_failure("a,b,c\n1,2,3\n4,5\n",
                                 schema({{"a", type_id::int64}, {"b", type_id::int64}, {"c", type_id::int64}}));
  CHECK(f.line == 3);
  CHECK(f.column == 4);
  CHECK(f.what.find("expected 3 fields, found 2") != std::string::npos);
}

TEST_CASE("too many fields are reported where the extra field starts") {
  const failure f = read_failure("a,b\n1,2\n3,4,\"5\",6\n", two_ints);
  CHECK(f.line == 3);
  CHECK(f.column == 5);
  CHECK(f.what.find("expected 2 fields, found 4") != std::string::npos);
}

TEST_CASE("the field count of a too-long row is right even when the row spans read chunks") {
  reader_options small;
  small.chunk_bytes = 64;
  std::string text = "a,b\n1,2\n3,4";
  for (int i = 0; i < 40; ++i) {
    text += ",5";
  }
  const failure f = read_failure(text + "\n6,7\n", two_ints, small);
  CHECK(f.line == 3);
  CHECK(f.column == 5);
  CHECK(f.what.find("expected 2 fields, found 42") != std::string::npos);
  CHECK(read_failure(text, two_ints, small).what.find("found 42") != std::string::npos);
}

TEST_CASE("an empty line is a row with one field") {
  const failure f = read_failure("a,b\n1,2\n\n3,4\n", two_ints);
  CHECK(f.line == 3);
  CHECK(f.column == 1);
  CHECK(f.what.find("found 1") != std::string::npos);
}

TEST_CASE("a bad int64 names the file, line, column, column name and type") {
  const failure f = read_failure("a,b\n1,2\n3,x7\n", two_ints);
  CHECK(f.line == 3);
  CHECK(f.column == 3);
  CHECK(f.what.ends_with(":3:3: column 'b' (int64): cannot parse \"x7\""));
  CHECK(f.file.ends_with("bad.csv"));
}

TEST_CASE("a bad float64 is reported with its column and value") {
  const schema s({{"l_orderkey", type_id::int64}, {"l_quantity", type_id::float64}});
  const failure f = read_failure("l_orderkey,l_quantity\n1,2.5\n17,abc\n", s);
  CHECK(f.what.ends_with(":3:4: column 'l_quantity' (float64): cannot parse \"abc\""));
  for (const char* bad : {"1.5x", "1e", "--1", "+-1", " 1", "1 ", "0x10", "1,5"}) {
    CAPTURE(bad);
    const failure g = read_failure(std::string("l_orderkey,l_quantity\n1,\"") + bad + "\"\n", s);
    CHECK(g.line == 2);
    CHECK(g.column == 3);
  }
}

TEST_CASE("an int64 out of range is an error, not a wrap-around") {
  const failure f = read_failure("a,b\n1,9223372036854775808\n", two_ints);
  CHECK(f.line == 2);
  CHECK(f.column == 3);
  CHECK(f.what.find("out of range") != std::string::npos);
  CHECK(read_failure("a,b\n-9223372036854775809,1\n", two_ints).column == 1);
  CHECK(read_failure("a,b\n1,99999999999999999999999\n", two_ints).what.find("out of range") != std::string::npos);
}

TEST_CASE("a quoted empty string in a numeric column is an error") {
  const failure f = read_failure("a,b\n1,\"\"\n", two_ints);
  CHECK(f.column == 3);
  CHECK(f.what.find("cannot parse \"\"") != std::string::npos);
  const failure g = read_failure("a\n\"\"\n", schema({{"a", type_id::float64}}));
  CHECK(g.line == 2);
}

TEST_CASE("an unterminated quote is reported where its field starts") {
  const schema s({{"a", type_id::int64}, {"s", type_id::string}});
  const failure f = read_failure("a,s\n1,x\n2,\"abc\n3,y\n", s);
  CHECK(f.line == 3);
  CHECK(f.column == 3);
  CHECK(f.what.find("column 's' (string): unterminated quoted field") != std::string::npos);
  reader_options small;
  small.chunk_bytes = 64;
  const failure g = read_failure("a,s\n1,\"" + std::string(500, 'q'), s, small);
  CHECK(g.line == 2);
  CHECK(g.column == 3);
}

TEST_CASE("text after a closing quote is an error") {
  const schema s({{"a", type_id::int64}, {"s", type_id::string}});
  const failure f = read_failure("a,s\n1,\"ab\"c\n", s);
  CHECK(f.line == 2);
  CHECK(f.column == 7);
  CHECK(f.what.find("after closing quote") != std::string::npos);
}

TEST_CASE("an error after a quoted newline counts physical lines and columns within them") {
  const schema s({{"s", type_id::string}, {"n", type_id::int64}, {"m", type_id::int64}});
  const failure f = read_failure("s,n,m\n\"x\ny\",5,bad\n", s);
  CHECK(f.line == 3);
  CHECK(f.column == 6);
}

TEST_CASE("errors far into a file, across many small chunks, report the right line") {
  std::string text = "a,b\n";
  for (int i = 0; i < 500; ++i) {
    text.append(std::to_string(i)).append(",").append(std::to_string(i)).append("\r\n");
  }
  text += "1,2.5\n";
  reader_options options;
  options.chunk_bytes = 64;
  options.batch_rows = 7;
  const failure f = read_failure(text, two_ints, options);
  CHECK(f.line == 502);
  CHECK(f.column == 3);
}

TEST_CASE("a header that does not name the schema's columns in order is refused") {
  const schema s({{"l_orderkey", type_id::int64}, {"l_partkey", type_id::int64}, {"l_quantity", type_id::float64}});
  const failure wrong = read_failure("l_orderkey,l_partky,l_quantity\n1,2,3\n", s);
  CHECK(wrong.line == 1);
  CHECK(wrong.column == 12);
  CHECK(wrong.what.find("header column 2: expected 'l_partkey', found 'l_partky'") != std::string::npos);
  const failure swapped = read_failure("l_partkey,l_orderkey,l_quantity\n", s);
  CHECK(swapped.column == 1);
  const failure few = read_failure("l_orderkey,l_partkey\n1,2\n", s);
  CHECK(few.line == 1);
  CHECK(few.column == 21);
  CHECK(few.what.find("header has 2 columns, expected 3 (l_orderkey, l_partkey, l_quantity)") != std::string::npos);
  const failure many = read_failure("l_orderkey,l_partkey,l_quantity,extra\n", s);
  CHECK(many.column == 33);
  const failure cased = read_failure("L_ORDERKEY,l_partkey,l_quantity\n", s);
  CHECK(cased.column == 1);
  const failure quoted = read_failure("\"l_orderkey\",\"l_partkey\",\"l_quantity\n", s);
  CHECK(quoted.what.find("unterminated") != std::string::npos);
  CHECK(quoted.column == 26);
}

TEST_CASE("an empty file has no header") {
  const failure f = read_failure("", two_ints);
  CHECK(f.line == 1);
  CHECK(f.column == 1);
  CHECK(f.what.find("missing header") != std::string::npos);
}

TEST_CASE("a file that cannot be opened is an io_error carrying the system error") {
  try {
    csv_reader reader("/nonexistent/ftq/missing.csv", two_ints, {0});
    FAIL("opened a missing file");
  } catch (const ftq::io_error& e) {
    CHECK(e.code() == std::errc::no_such_file_or_directory);
    CHECK(e.path() == "/nonexistent/ftq/missing.csv");
  }
}

// Not a unit test: measures parse speed. Run it with
//   FTQ_CSV_BENCH_FILE=data/10m/lineitem.csv build/tests/unit-csv --no-skip -tc='*throughput*'
// (without the variable it writes a 1M-row lineitem-like file to a temp dir first).
TEST_CASE("csv_reader throughput on lineitem" * doctest::skip()) {
  const schema s = lineitem_schema();
  temp_dir dir;
  fs::path file;
  if (const char* env = std::getenv("FTQ_CSV_BENCH_FILE")) {
    file = env;
  } else {
    file = dir.path() / "lineitem.csv";
    std::ofstream out(file, std::ios::binary);
    out << "l_orderkey,l_partkey,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,"
           "l_shipdate\n";
    std::mt19937_64 rng(1);
    for (int i = 0; i < 1000000; ++i) {
      const auto q = 1 + rng() % 50;
      out << (i / 4) * 32 + i % 4 << ',' << 1 + rng() % 250000 << ',' << q << ',' << q * 900 + rng() % 100000 / 100
          << '.' << rng() % 90 + 10 << ",0.0" << rng() % 10 << ",0.0" << rng() % 9 << ',' << "RAN"[rng() % 3] << ','
          << "OF"[rng() % 2] << ",199" << 2 + rng() % 7 << "-0" << 1 + rng() % 9 << '-' << 10 + rng() % 18 << '\n';
    }
  }
  for (const bool subset : {false, true}) {
    for (int run = 0; run < 3; ++run) {
      const auto start = std::chrono::steady_clock::now();
      const std::clock_t cpu_start = std::clock();
      csv_reader reader(file, s, subset ? std::vector<std::size_t>{2, 4, 6} : all_columns(s));
      std::size_t rows = 0;
      while (auto b = reader.next()) {
        rows += b->rows;
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
      const double mb = static_cast<double>(reader.file_size()) / 1e6;
      // CPU time excludes waiting for a core, so it is the fairer number on a busy machine.
      const std::string what = subset ? "3 columns" : "all columns";
      MESSAGE(what << ": " << rows << " rows, " << mb << " MB in " << seconds << " s = " << mb / seconds
                   << " MB/s wall, " << mb / cpu_seconds << " MB/s of CPU time");
    }
  }
}
