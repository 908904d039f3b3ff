#include "core/duration_text.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <utility>

namespace ftq {

namespace {

std::string with_unit(double value, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g%s", value, unit);
  return buf;
}

}  // namespace

std::optional<std::uint64_t> parse_count(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  const std::optional<std::uint64_t> n = parse_count(text.substr(0, digits));
  const std::string_view unit = text.substr(digits);
  constexpr std::array<std::pair<std::string_view, std::int64_t>, 6> units{{{"ns", 1},
                                                                            {"us", 1'000},
                                                                            {"ms", 1'000'000},
                                                                            {"s", 1'000'000'000},
                                                                            {"m", 60'000'000'000},
                                                                            {"h", 3'600'000'000'000}}};
  if (!n || *n == 0) {
    return std::nullopt;
  }
  for (const auto& [suffix, ns] : units) {
    if (suffix == unit) {
      if (*n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / ns)) {
        return std::nullopt;
      }
      return std::chrono::nanoseconds(static_cast<std::int64_t>(*n) * ns);
    }
  }
  return std::nullopt;
}

std::string exact_duration_text(std::chrono::nanoseconds d) {
  struct unit {
    std::int64_t ns;
    std::string_view suffix;
  };
  constexpr std::array<unit, 6> units{{{3'600'000'000'000, "h"},
                                       {60'000'000'000, "m"},
                                       {1'000'000'000, "s"},
                                       {1'000'000, "ms"},
                                       {1'000, "us"},
                                       {1, "ns"}}};
  const std::int64_t n = d.count();
  for (const unit& u : units) {
    if (n != 0 && n % u.ns == 0) {
      return std::to_string(n / u.ns) + std::string(u.suffix);
    }
  }
  return std::to_string(n) + "ns";
}

std::string duration_text(std::chrono::nanoseconds d) {
  const bool negative = d.count() < 0;
  const double ns = negative ? -static_cast<double>(d.count()) : static_cast<double>(d.count());
  std::string text;
  if (ns == 0) {
    text = "0s";
  } else if (ns < 1e3) {
    text = with_unit(ns, "ns");
  } else if (ns < 1e6) {
    text = with_unit(ns / 1e3, "us");
  } else if (ns < 1e9) {
    text = with_unit(ns / 1e6, "ms");
  } else if (ns < 60e9) {
    text = with_unit(ns / 1e9, "s");
  } else {
    const auto total_s = static_cast<long long>(ns / 1e9);
    text = std::to_string(total_s / 60) + "m" + std::to_string(total_s % 60) + "s";
  }
  return negative ? "-" + text : text;
}

}  // namespace ftq
