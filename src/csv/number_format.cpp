#include "csv/number_format.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

namespace ftq::csv {

namespace {

char* copy_literal(char* out, const char* text) noexcept {
  const std::size_t n = std::strlen(text);
  std::memcpy(out, text, n);
  return out + n;
}

// from_chars takes '-' but not '+', so a '+' is skipped by hand (and "+-1" refused).
const char* skip_plus(const char* first, const char* last) noexcept {
  if (first != last && *first == '+') {
    ++first;
    if (first != last && *first == '-') {
      return nullptr;
    }
  }
  return first;
}

}  // namespace

char* write_double(char* out, double v) noexcept {
  if (std::isnan(v)) {
    return copy_literal(out, "nan");
  }
  if (std::isinf(v)) {
    return copy_literal(out, v < 0 ? "-inf" : "inf");
  }
  const double a = std::fabs(v);
  // Plain decimal is what people (and DuckDB) write for this range; shortest round trip in
  // either notation, so reading it back yields the same bits.
  const auto format = (a == 0.0 || (a >= 1e-6 && a < 1e16)) ? std::chars_format::fixed : std::chars_format::general;
  return std::to_chars(out, out + max_number_chars, v, format).ptr;
}

char* write_int64(char* out, std::int64_t v) noexcept { return std::to_chars(out, out + max_number_chars, v).ptr; }

parse_status parse_int64_long(const char* first, const char* last, std::int64_t& out) noexcept {
  const char* start = skip_plus(first, last);
  if (start == nullptr || start == last) {
    return parse_status::invalid;
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(start, last, value);
  if (ec == std::errc::result_out_of_range) {
    return parse_status::out_of_range;  // only a well-formed digit string is out of range
  }
  if (ec != std::errc{} || end != last) {
    return parse_status::invalid;
  }
  out = value;
  return parse_status::ok;
}

parse_status parse_double_general(const char* first, const char* last, double& out) noexcept {
  const char* start = skip_plus(first, last);
  if (start == nullptr || start == last) {
    return parse_status::invalid;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(start, last, value);
  if (ec == std::errc::result_out_of_range && end == last) {
    return parse_status::out_of_range;
  }
  if (ec != std::errc{} || end != last) {
    return parse_status::invalid;
  }
  out = value;
  return parse_status::ok;
}

}  // namespace ftq::csv
