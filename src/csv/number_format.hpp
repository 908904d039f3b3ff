#pragma once
/// Converts numbers to and from the text ftq's CSV files hold: int64 plainly, float64 as the
/// shortest text that reads back to the same bits (plain decimal where that stays readable),
/// and parses both back strictly (the whole field must be the number).

#include <cstddef>
#include <cstdint>

namespace ftq::csv {

/// Room write_double / write_int64 may need, sign and terminator-free.
inline constexpr std::size_t max_number_chars = 32;

/// Writes `v` into `out` (at least max_number_chars bytes) and returns the end. Integral values
/// and other |v| in [1e-6, 1e16) print in plain decimal ("625120", "0.1"), others in shortest
/// scientific form ("1e+300"); NaN prints "nan", infinities "inf" / "-inf", -0.0 prints "-0".
char* write_double(char* out, double v) noexcept;
char* write_int64(char* out, std::int64_t v) noexcept;

enum class parse_status : std::uint8_t {
  ok,
  invalid,       // not a number of the wanted type, or trailing characters
  out_of_range,  // a well-formed number the type cannot hold
};

// Out-of-line parts of the parsers below: numbers the inline fast paths do not take.
parse_status parse_int64_long(const char* first, const char* last, std::int64_t& out) noexcept;
parse_status parse_double_general(const char* first, const char* last, double& out) noexcept;

// Powers of ten that are exact doubles: dividing an exact integer mantissa (< 2^53) by one of
// them is correctly rounded, so plain decimals need no general algorithm (Clinger's fast path).
inline constexpr double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
inline constexpr std::uint64_t max_exact_mantissa = std::uint64_t{1} << 53;

/// Parses all of [first, last) as a base-10 int64, with an optional leading '+' or '-'.
inline parse_status parse_int64(const char* first, const char* last, std::int64_t& out) noexcept {
  const char* p = first;
  bool negative = false;
  if (p != last && (*p == '-' || *p == '+')) {
    negative = *p == '-';
    ++p;
  }
  const std::size_t digits = static_cast<std::size_t>(last - p);
  if (digits == 0) {
    return parse_status::invalid;
  }
  if (digits <= 18) {
    // 18 digits cannot overflow, so the loop needs no range check.
    std::uint64_t value = 0;
    for (; p != last; ++p) {
      const unsigned d = static_cast<unsigned char>(*p) - unsigned{'0'};
      if (d > 9) {
        return parse_status::invalid;
      }
      value = value * 10 + d;
    }
    out = negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
    return parse_status::ok;
  }
  return parse_int64_long(first, last, out);
}

/// Parses all of [first, last) as a float64: decimal or scientific ("1.5", "-2", "1e-3", ".5"),
/// "inf", "infinity" and "nan" in any case; an optional leading '+'. Inline for the common
/// plain decimal, which the CSV scan converts millions of times per second.
inline parse_status parse_double(const char* first, const char* last, double& out) noexcept {
  const char* p = first;
  bool negative = false;
  if (p != last && (*p == '-' || *p == '+')) {
    negative = *p == '-';
    ++p;
  }
  // Fast path: [digits][.digits] with at most 19 digits and an exactly representable mantissa.
  // Everything else (exponents, long mantissas, inf, nan, errors) takes the general path.
  {
    const char* q = p;
    std::uint64_t mantissa = 0;
    int digits = 0;
    for (; q != last; ++q) {
      const unsigned d = static_cast<unsigned char>(*q) - unsigned{'0'};
      if (d > 9) {
        break;
      }
      mantissa = mantissa * 10 + d;
      ++digits;
    }
    int fraction_digits = 0;
    if (q != last && *q == '.') {
      ++q;
      for (; q != last; ++q) {
        const unsigned d = static_cast<unsigned char>(*q) - unsigned{'0'};
        if (d > 9) {
          break;
        }
        mantissa = mantissa * 10 + d;
        ++fraction_digits;
      }
      digits += fraction_digits;
    }
    if (q == last && digits > 0 && digits <= 19 && mantissa <= max_exact_mantissa && fraction_digits <= 22) {
      const double value = static_cast<double>(mantissa) / exact_pow10[fraction_digits];
      out = negative ? -value : value;
      return parse_status::ok;
    }
  }
  return parse_double_general(first, last, out);
}

}  // namespace ftq::csv
