#include "status/json_writer.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "status/utf8.hpp"

namespace ftq::status {

json_writer::json_writer(std::size_t size_hint) { buf_.resize(std::max<std::size_t>(size_hint, 64)); }

void json_writer::grow(std::size_t n) { buf_.resize(std::max(buf_.size() * 2, pos_ + n)); }

void json_writer::raw(std::string_view s) {
  // std::copy, not memcpy: an empty string_view may hold a null pointer, which memcpy must not get.
  std::copy(s.begin(), s.end(), reserve(s.size()));
  pos_ += s.size();
}

std::string json_writer::take() {
  buf_.resize(pos_);
  pos_ = 0;
  need_comma_ = false;
  return std::move(buf_);
}

void json_writer::begin_object() {
  separate();
  raw("{");
  need_comma_ = false;
}

void json_writer::end_object() {
  raw("}");
  need_comma_ = true;
}

void json_writer::begin_array() {
  separate();
  raw("[");
  need_comma_ = false;
}

void json_writer::end_array() {
  raw("]");
  need_comma_ = true;
}

json_writer& json_writer::key(std::string_view k) {
  char* p = reserve(k.size() + 4);
  char* const start = p;
  if (need_comma_) {
    *p++ = ',';
  }
  *p++ = '"';
  p = std::copy(k.begin(), k.end(), p);
  *p++ = '"';
  *p++ = ':';
  pos_ += static_cast<std::size_t>(p - start);
  need_comma_ = false;
  return *this;
}

void json_writer::uint(std::uint64_t v) {
  separate();
  char* p = reserve(20);
  pos_ += static_cast<std::size_t>(std::to_chars(p, p + 20, v).ptr - p);
  need_comma_ = true;
}

void json_writer::sint(std::int64_t v) {
  separate();
  char* p = reserve(20);
  pos_ += static_cast<std::size_t>(std::to_chars(p, p + 20, v).ptr - p);
  need_comma_ = true;
}

void json_writer::real(double v) {
  if (!std::isfinite(v)) {
    null();
    return;
  }
  separate();
  // Boost.JSON 1.81 would print 12.345 as 1.2345E1 and infinity as Infinity (not JSON);
  // to_chars' shortest form is plain where that is shorter and always valid JSON.
  char* p = reserve(34);
  char* const end = std::to_chars(p, p + 32, v).ptr;
  const std::string_view text(p, static_cast<std::size_t>(end - p));
  pos_ += text.size();
  if (text.find_first_of(".e") == std::string_view::npos) {
    raw(".0");
  }
  need_comma_ = true;
}

void json_writer::fixed(std::int64_t value, unsigned decimals) {
  separate();
  constexpr std::uint64_t powers[] = {1,
                                      10,
                                      100,
                                      1000,
                                      10000,
                                      100000,
                                      1000000,
                                      10000000,
                                      100000000,
                                      1000000000,
                                      10000000000,
                                      100000000000,
                                      1000000000000,
                                      10000000000000,
                                      100000000000000,
                                      1000000000000000,
                                      10000000000000000,
                                      100000000000000000,
                                      1000000000000000000};
  decimals = std::min(decimals, 18u);
  char* p = reserve(48);
  char* const start = p;
  // The magnitude in unsigned arithmetic: -INT64_MIN does not fit an int64.
  const std::uint64_t magnitude =
      value < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
  if (value < 0) {
    *p++ = '-';
  }
  p = std::to_chars(p, p + 20, magnitude / powers[decimals]).ptr;
  *p++ = '.';
  std::uint64_t fraction = magnitude % powers[decimals];
  if (fraction == 0) {
    *p++ = '0';
  } else {
    char digits[18];
    for (unsigned i = decimals; i-- > 0;) {
      digits[i] = static_cast<char>('0' + fraction % 10);
      fraction /= 10;
    }
    unsigned length = decimals;
    while (digits[length - 1] == '0') {
      --length;
    }
    std::memcpy(p, digits, length);
    p += length;
  }
  pos_ += static_cast<std::size_t>(p - start);
  need_comma_ = true;
}

void json_writer::boolean(bool v) {
  separate();
  raw(v ? "true" : "false");
  need_comma_ = true;
}

void json_writer::string(std::string_view s) {
  separate();
  // Most strings (names, states, paths) are plain ASCII that needs no escape: copy them without
  // the serializer's per-call setup. The rest goes through Boost.JSON, whose rules decide, after
  // invalid UTF-8 (a request path echoed in an error, say) is repaired: JSON must be UTF-8.
  if (std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return c == '"' || c == '\\' || u < 0x20 || u >= 0x80;
      })) {
    char* p = reserve(s.size() + 2);
    *p++ = '"';
    *std::copy(s.begin(), s.end(), p) = '"';
    pos_ += s.size() + 2;
    need_comma_ = true;
    return;
  }
  std::string repaired;
  if (!valid_utf8(s)) {
    append_repaired_utf8(repaired, s);
    s = repaired;
  }
  escaper_.reset(boost::json::string_view(s.data(), s.size()));
  while (!escaper_.done()) {
    constexpr std::size_t chunk = 512;
    char* p = reserve(chunk);
    pos_ += escaper_.read(p, chunk).size();
  }
  need_comma_ = true;
}

void json_writer::null() {
  separate();
  raw("null");
  need_comma_ = true;
}

}  // namespace ftq::status
