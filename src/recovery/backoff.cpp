#include <ftq/retry.hpp>

#include <algorithm>
#include <cmath>

#include "core/duration_text.hpp"

namespace ftq {

namespace {

constexpr std::string_view backoff_names[] = {"fixed", "exponential", "decorrelated", "adaptive"};

[[noreturn]] void invalid(const std::string& message) {
  throw error(errc::recovery_policy_invalid, "retry_policy." + message);
}

}  // namespace

std::string_view backoff_name(retry_policy::backoff b) noexcept {
  const auto i = static_cast<std::size_t>(b);
  return i < std::size(backoff_names) ? backoff_names[i] : std::string_view("unknown");
}

std::optional<retry_policy::backoff> parse_backoff(std::string_view name) noexcept {
  for (std::size_t i = 0; i < std::size(backoff_names); ++i) {
    if (backoff_names[i] == name) {
      return static_cast<retry_policy::backoff>(i);
    }
  }
  return std::nullopt;
}

void retry_policy::validate() const {
  if (static_cast<std::size_t>(kind) >= std::size(backoff_names)) {
    invalid("kind: unknown backoff " + std::to_string(static_cast<int>(kind)));
  }
  if (base.count() < 0) {
    invalid("base (" + duration_text(base) + ") is negative");
  }
  if (cap.count() < 0) {
    invalid("cap (" + duration_text(cap) + ") is negative");
  }
  if (base > cap) {
    invalid("base (" + duration_text(base) + ") exceeds cap (" + duration_text(cap) + ")");
  }
  if (!(multiplier >= 1.0) || std::isinf(multiplier)) {
    invalid("multiplier (" + std::to_string(multiplier) + ") must be finite and at least 1");
  }
  if (!(adaptive_gain >= 0.0) || std::isinf(adaptive_gain)) {
    invalid("adaptive_gain (" + std::to_string(adaptive_gain) + ") must be finite and at least 0");
  }
  if (kind == backoff::decorrelated && base.count() == 0) {
    invalid("base must be positive for decorrelated backoff (its delays grow from base)");
  }
}

backoff_schedule::backoff_schedule(const retry_policy& p, std::uint64_t seed)
    : policy_(p), state_(seed), previous_ns_(static_cast<double>(p.base.count())) {}

double backoff_schedule::uniform() noexcept {
  // splitmix64: tiny, seedable with any value, and the same stream on every platform (the
  // standard distributions are implementation-defined).
  state_ += 0x9E3779B97F4A7C15ULL;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::chrono::nanoseconds backoff_schedule::next(double recent_failure_rate) {
  const double rate = std::isnan(recent_failure_rate) ? 0.0 : std::clamp(recent_failure_rate, 0.0, 1.0);
  const double base = static_cast<double>(policy_.base.count());
  const double cap = static_cast<double>(policy_.cap.count());
  // base * multiplier^attempt, without 0 * inf = NaN once the power overflows.
  const auto grown = [&](double factor) {
    if (base <= 0) {
      return 0.0;
    }
    const double bound = base * std::pow(policy_.multiplier, static_cast<double>(attempts_)) * factor;
    return bound < cap ? bound : cap;
  };
  double delay = 0;
  switch (policy_.kind) {
    case retry_policy::backoff::fixed:
      delay = std::min(base, cap);
      break;
    case retry_policy::backoff::exponential:
      delay = uniform() * grown(1.0);
      break;
    case retry_policy::backoff::adaptive:
      delay = uniform() * grown(1.0 + policy_.adaptive_gain * rate);
      break;
    case retry_policy::backoff::decorrelated: {
      const double high = std::max(base, 3.0 * previous_ns_);
      delay = std::min(cap, base + uniform() * (high - base));
      previous_ns_ = delay;
      break;
    }
  }
  ++attempts_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(delay, cap)));
}

std::uint32_t backoff_schedule::attempts() const noexcept { return attempts_; }

void backoff_schedule::reset() noexcept {
  attempts_ = 0;
  previous_ns_ = static_cast<double>(policy_.base.count());
}

}  // namespace ftq
