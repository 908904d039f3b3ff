#include "verify/result_compare.hpp"

#include <doctest/doctest.h>

using ftq::verify::compare_csv_text;
using ftq::verify::parse_csv_text;

TEST_CASE("parse_csv_text handles quotes, escaped quotes, CRLF and a missing final newline") {
  auto rows = parse_csv_text("a,b\r\n\"x,1\",\"say \"\"hi\"\"\"\n3,");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1][0] == "x,1");
  CHECK(rows[1][1] == "say \"hi\"");
  CHECK(rows[2].size() == 2);
  CHECK(rows[2][1].empty());
}

TEST_CASE("numbers within relative 1e-6 match, beyond do not") {
  CHECK(compare_csv_text("v\n1000000.5\n", "v\n1000000.0\n").equal);
  CHECK_FALSE(compare_csv_text("v\n1000010\n", "v\n1000000\n").equal);
  CHECK(compare_csv_text("v\n50\n", "v\n5e1\n").equal);
  CHECK(compare_csv_text("v\n0\n", "v\n1e-10\n").equal);
}

TEST_CASE("strings must be equal and row order matters unless unordered") {
  CHECK_FALSE(compare_csv_text("k\na\nb\n", "k\nb\na\n").equal);
  ftq::verify::compare_options o;
  o.unordered = true;
  CHECK(compare_csv_text("k\na\nb\n", "k\nb\na\n", o).equal);
}

TEST_CASE("row and column count differences are reported") {
  auto r = compare_csv_text("a\n1\n", "a\n1\n2\n");
  CHECK_FALSE(r.equal);
  REQUIRE_FALSE(r.problems.empty());
  CHECK(r.problems[0] == "1 rows, expected 2");
  CHECK_FALSE(compare_csv_text("a,b\n1,2\n", "a\n1\n").equal);
}

TEST_CASE("a header that differs only in case is accepted; NULL is an empty cell") {
  CHECK(compare_csv_text("A,B\n1,\n", "a,b\n1,\n").equal);
  CHECK_FALSE(compare_csv_text("a\n\n", "a\n0\n").equal);
}
