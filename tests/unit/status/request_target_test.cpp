#include "status/request_target.hpp"

#include <doctest/doctest.h>

using ftq::status::parse_target;
using ftq::status::percent_decode;

TEST_CASE("parse_target splits the path from decoded parameters") {
  const auto t = parse_target("/failures?query=q%201&since=5m&x=a+b&flag&=v");
  CHECK(t.error.empty());
  CHECK(t.path == "/failures");
  REQUIRE(t.params.size() == 5);
  CHECK(*t.find("query") == "q 1");
  CHECK(*t.find("since") == "5m");
  CHECK(*t.find("x") == "a b");
  CHECK(*t.find("flag") == "");
  CHECK(*t.find("") == "v");
  CHECK(t.find("limit") == nullptr);
}

TEST_CASE("parse_target: no query, an empty one, empty items, repeats") {
  CHECK(parse_target("/status").path == "/status");
  CHECK(parse_target("/status").params.empty());
  CHECK(parse_target("/status?").params.empty());
  CHECK(parse_target("/status?&&").params.empty());
  const auto t = parse_target("/f?limit=1&limit=2");
  CHECK(t.params.size() == 2);
  CHECK(*t.find("limit") == "2");
  CHECK(parse_target("/a%2Fb?x=1").path == "/a%2Fb");  // the path is not decoded
  CHECK(*parse_target("/f?q=a?b=c").find("q") == "a?b=c");
}

TEST_CASE("parse_target: a malformed escape anywhere makes the target bad") {
  for (const char* bad : {"/f?q=%", "/f?q=%4", "/f?q=%zz", "/f?q=%4g", "/f?%=1", "/f?a=1&b=%"}) {
    CAPTURE(bad);
    const auto t = parse_target(bad);
    CHECK(!t.error.empty());
    CHECK(t.params.empty());
  }
}

TEST_CASE("percent_decode decodes every byte value") {
  CHECK(percent_decode("%00%7f%80%FF%41%2b+") == std::string("\0\x7f\x80\xff"
                                                             "A+ ",
                                                             7));
  CHECK(percent_decode("") == "");
  CHECK(percent_decode("plain") == "plain");
  CHECK_FALSE(percent_decode("%").has_value());
}
