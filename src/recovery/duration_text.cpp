#include "recovery/duration_text.hpp"

#include <cstdio>

namespace ftq::recovery {

namespace {

std::string with_unit(double value, const char* unit) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g%s", value, unit);
  return buf;
}

}  // namespace

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

}  // namespace ftq::recovery
