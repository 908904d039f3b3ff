#include "csv/number_format.hpp"

#include <doctest/doctest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

using ftq::csv::parse_double;
using ftq::csv::parse_int64;
using ftq::csv::parse_status;

namespace {

std::string text_of(double v) {
  char buf[ftq::csv::max_number_chars];
  return std::string(buf, ftq::csv::write_double(buf, v));
}

parse_status parse(const std::string& s, double& out) { return parse_double(s.data(), s.data() + s.size(), out); }
parse_status parse(const std::string& s, std::int64_t& out) { return parse_int64(s.data(), s.data() + s.size(), out); }

}  // namespace

TEST_CASE("doubles print as plain decimal where readable, else shortest scientific") {
  CHECK(text_of(625120.0) == "625120");
  CHECK(text_of(0.0) == "0");
  CHECK(text_of(-0.0) == "-0");
  CHECK(text_of(0.1) == "0.1");
  CHECK(text_of(0.1 + 0.2) == "0.30000000000000004");
  CHECK(text_of(1e15) == "1000000000000000");
  CHECK(text_of(9999999999999998.0) == "9999999999999998");
  CHECK(text_of(883925179.4400036) == "883925179.4400036");
  CHECK(text_of(0.0001) == "0.0001");
  CHECK(text_of(1e-6) == "0.000001");
  CHECK(text_of(1e16) == "1e+16");
  CHECK(text_of(1e300) == "1e+300");
  CHECK(text_of(-1.5e-7) == "-1.5e-07");
  CHECK(text_of(5e-324) == "5e-324");
  CHECK(text_of(std::numeric_limits<double>::quiet_NaN()) == "nan");
  CHECK(text_of(-std::numeric_limits<double>::quiet_NaN()) == "nan");
  CHECK(text_of(INFINITY) == "inf");
  CHECK(text_of(-INFINITY) == "-inf");
}

TEST_CASE("every printed double parses back to the same bits") {
  std::mt19937_64 rng(42);
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {
    const double v = std::bit_cast<double>(rng());
    if (std::isnan(v)) {
      continue;
    }
    const std::string t = text_of(v);
    double back = 0;
    REQUIRE(parse(t, back) == parse_status::ok);
    REQUIRE(std::bit_cast<std::uint64_t>(back) == std::bit_cast<std::uint64_t>(v));
    ++checked;
  }
  // Decimal-looking values exercise the fast path.
  for (int i = 0; i < 200000; ++i) {
    const double v = static_cast<double>(rng() % 100000000) / std::pow(10.0, static_cast<double>(rng() % 9));
    double back = 0;
    REQUIRE(parse(text_of(v), back) == parse_status::ok);
    REQUIRE(back == v);
  }
  CHECK(checked > 190000);
}

TEST_CASE("the plain-decimal fast path rounds as correctly as from_chars") {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200000; ++i) {
    const std::string digits = std::to_string(rng() % 10000000000000000ULL);
    const std::size_t point = digits.size() - std::min<std::size_t>(digits.size(), rng() % 17);
    std::string t = digits.substr(0, point);
    t += '.';
    t.append(digits, point);
    double fast = 0;
    REQUIRE(parse(t, fast) == parse_status::ok);
    double slow = 0;
    std::from_chars(t.data(), t.data() + t.size(), slow);
    REQUIRE(std::bit_cast<std::uint64_t>(fast) == std::bit_cast<std::uint64_t>(slow));
  }
}

TEST_CASE("parse_double accepts what DuckDB writes and refuses trailing text") {
  double v = 0;
  CHECK(parse("1.5", v) == parse_status::ok);
  CHECK(v == 1.5);
  CHECK(parse("-2", v) == parse_status::ok);
  CHECK(v == -2);
  CHECK(parse("1e-3", v) == parse_status::ok);
  CHECK(v == 1e-3);
  CHECK(parse("+.5", v) == parse_status::ok);
  CHECK(v == 0.5);
  CHECK(parse("-0", v) == parse_status::ok);
  CHECK(std::signbit(v));
  CHECK(parse("Infinity", v) == parse_status::ok);
  CHECK(v == INFINITY);
  CHECK(parse("NaN", v) == parse_status::ok);
  CHECK(std::isnan(v));
  CHECK(parse("12345678901234567890123", v) == parse_status::ok);
  CHECK(v == 12345678901234567890123.0);
  CHECK(parse("1e400", v) == parse_status::out_of_range);
  for (const char* bad : {"", "-", "+", ".", "1.5x", "1e", "--1", "+-1", " 1", "1 ", "0x10", "1,5", "e5"}) {
    CAPTURE(bad);
    CHECK(parse(bad, v) == parse_status::invalid);
  }
}

TEST_CASE("parse_int64 covers the whole range and reports overflow") {
  std::int64_t v = 0;
  CHECK(parse("-9223372036854775808", v) == parse_status::ok);
  CHECK(v == INT64_MIN);
  CHECK(parse("9223372036854775807", v) == parse_status::ok);
  CHECK(v == INT64_MAX);
  CHECK(parse("+9223372036854775807", v) == parse_status::ok);
  CHECK(parse("0000000000000000000000042", v) == parse_status::ok);
  CHECK(v == 42);
  CHECK(parse("+12", v) == parse_status::ok);
  CHECK(v == 12);
  CHECK(parse("9223372036854775808", v) == parse_status::out_of_range);
  CHECK(parse("-9223372036854775809", v) == parse_status::out_of_range);
  for (const char* bad : {"", "-", "+", "1.0", "1e3", "12a", " 1", "--1", "+-1", "+-92233720368547758070"}) {
    CAPTURE(bad);
    CHECK(parse(bad, v) == parse_status::invalid);
  }
}
