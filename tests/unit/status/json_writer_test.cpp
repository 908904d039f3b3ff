#include "status/json_writer.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <boost/json.hpp>

using ftq::status::json_writer;

TEST_CASE("json_writer places commas in nested objects and arrays") {
  json_writer w;
  w.begin_object();
  w.key("a").uint(1);
  w.key("b").begin_array();
  w.sint(-2);
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.null();
  w.end_array();
  w.key("c").boolean(false);
  w.key("d").begin_object();
  w.key("e").boolean(true);
  w.end_object();
  w.end_object();
  const std::string out = w.take();
  CHECK(out == R"({"a":1,"b":[-2,{},[],null],"c":false,"d":{"e":true}})");
}

TEST_CASE("json_writer prints doubles plainly and non-finite ones as null") {
  json_writer w;
  w.begin_array();
  w.real(12.345);
  w.real(0.5);
  w.real(100.0);
  w.real(0.0);
  w.real(1e-7);
  w.real(std::numeric_limits<double>::infinity());
  w.real(-std::numeric_limits<double>::infinity());
  w.real(std::nan(""));
  w.real(-3.25);
  w.end_array();
  const std::string out = w.take();
  CHECK(out == "[12.345,0.5,100.0,0.0,1e-07,null,null,null,-3.25]");
  CHECK(boost::json::parse(out).as_array().at(4).as_double() == 1e-7);
}

TEST_CASE("json_writer escapes strings so any bytes read back unchanged") {
  const std::string nasty = std::string("q\"u\\o\nt\te\x01\x1f", 12) + std::string(1, '\0') + "/\xc3\xa9";
  json_writer w;
  w.begin_object();
  w.key("s").string(nasty);
  w.key("long").string(std::string(2000, '"'));  // escaped, longer than the writer's chunk
  w.end_object();
  const std::string out = w.take();
  const auto v = boost::json::parse(out);
  CHECK(v.at("s").as_string() == nasty);
  CHECK(v.at("long").as_string() == std::string(2000, '"'));
  CHECK(out.find('\n') == std::string::npos);
}

TEST_CASE("json_writer prints the extremes of integers") {
  json_writer w;
  w.begin_array();
  w.uint(std::numeric_limits<std::uint64_t>::max());
  w.sint(std::numeric_limits<std::int64_t>::min());
  w.end_array();
  const std::string out = w.take();
  CHECK(out == "[18446744073709551615,-9223372036854775808]");
}

TEST_CASE("json_writer grows from a tiny size hint and starts over after take()") {
  json_writer w(1);
  w.begin_array();
  for (int i = 0; i < 1000; ++i) {
    w.string("item");
  }
  w.end_array();
  const std::string first = w.take();
  CHECK(boost::json::parse(first).as_array().size() == 1000);
  w.begin_object();
  w.key("k").uint(7);
  w.end_object();
  CHECK(w.take() == R"({"k":7})");
}

TEST_CASE("json_writer::fixed prints scaled integers as real() prints the same double") {
  json_writer w;
  w.begin_array();
  w.fixed(11345000, 6);
  w.fixed(4000, 6);
  w.fixed(2000000, 6);
  w.fixed(0, 6);
  w.fixed(-1500, 3);
  w.fixed(1, 6);
  w.fixed(42, 0);
  w.fixed(std::numeric_limits<std::int64_t>::min(), 6);
  w.end_array();
  const std::string out = w.take();
  CHECK(out == "[11.345,0.004,2.0,0.0,-1.5,0.000001,42.0,-9223372036854.775808]");
  const auto a = boost::json::parse(out).as_array();
  for (const auto& v : a) {
    CHECK(v.is_double());
  }
  CHECK(a.at(0).as_double() == 11.345);
  CHECK(a.at(5).as_double() == 1e-6);
}

TEST_CASE("json_writer writes empty strings, null-pointer views included") {
  json_writer w;
  w.begin_array();
  w.string(std::string_view{});
  w.string("");
  w.end_array();
  CHECK(w.take() == R"(["",""])");
}

TEST_CASE("json_writer repairs invalid UTF-8 so the text stays JSON") {
  json_writer w;
  w.begin_array();
  w.string("caf\xc3\xa9");
  w.string("l\xe1st \"quoted\"");
  w.string(std::string("\xff\0", 2));
  w.end_array();
  const std::string out = w.take();
  const auto a = boost::json::parse(out).as_array();
  CHECK(a.at(0).as_string() == "caf\xc3\xa9");
  CHECK(a.at(1).as_string() == "l\xef\xbf\xbdst \"quoted\"");
  CHECK(a.at(2).as_string() == std::string("\xef\xbf\xbd\0", 4));
}
