#include "status/utf8.hpp"

#include <doctest/doctest.h>

using ftq::status::append_repaired_utf8;
using ftq::status::valid_utf8;

namespace {

std::string repaired(std::string_view s) {
  std::string out = "<";
  append_repaired_utf8(out, s);
  return out;
}

const std::string fffd = "\xef\xbf\xbd";

}  // namespace

TEST_CASE("valid_utf8 accepts well-formed sequences of every length") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii \x01\x7f"));
  CHECK(valid_utf8("\xc3\xa9"));              // U+00E9
  CHECK(valid_utf8("\xe2\x82\xac"));          // U+20AC
  CHECK(valid_utf8("\xed\x9f\xbf"));          // U+D7FF, just below the surrogates
  CHECK(valid_utf8("\xf0\x9f\x98\x80"));      // U+1F600
  CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  CHECK(valid_utf8(std::string("a\0b", 3)));  // NUL is a character
}

TEST_CASE("valid_utf8 rejects stray, truncated, overlong, surrogate and out-of-range sequences") {
  for (const char* bad :
       {"\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xc3\x28", "\xe2\x28\xa1"}) {
    CAPTURE(std::string_view(bad));
    CHECK_FALSE(valid_utf8(bad));
  }
}

TEST_CASE("append_repaired_utf8 replaces each invalid byte with U+FFFD and keeps the rest") {
  CHECK(repaired("ok \xc3\xa9") == "<ok \xc3\xa9");
  CHECK(repaired("a\xe1z") == "<a" + fffd + "z");
  CHECK(repaired("\xc3") == "<" + fffd);
  CHECK(repaired("\xed\xa0\x80") == "<" + fffd + fffd + fffd);
  CHECK(repaired("\xf0\x9f\x98\x80\xff") == "<\xf0\x9f\x98\x80" + fffd);
  CHECK(valid_utf8(repaired("\xe2\x82 \xf4\x90\x80\x80 \xc0")));
}
