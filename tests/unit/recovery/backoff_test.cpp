#include <ftq/retry.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using ftq::retry_policy;
using backoff = ftq::retry_policy::backoff;

namespace {

retry_policy policy(backoff kind, std::chrono::nanoseconds base, std::chrono::nanoseconds cap) {
  retry_policy p;
  p.kind = kind;
  p.base = base;
  p.cap = cap;
  return p;
}

std::vector<std::chrono::nanoseconds> delays(const retry_policy& p, std::uint64_t seed, int n, double rate = 0) {
  ftq::backoff_schedule s(p, seed);
  std::vector<std::chrono::nanoseconds> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(s.next(rate));
  }
  return out;
}

// The value of an ftq::error's what() thrown by `f`, or "" if none was thrown.
template <class F>
std::string invalid_message(F f) {
  try {
    f();
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::recovery_policy_invalid));
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("backoff names round-trip") {
  for (const backoff b : {backoff::fixed, backoff::exponential, backoff::decorrelated, backoff::adaptive}) {
    CHECK(ftq::parse_backoff(ftq::backoff_name(b)) == b);
  }
  CHECK(ftq::backoff_name(backoff::decorrelated) == "decorrelated");
  CHECK_FALSE(ftq::parse_backoff("linear").has_value());
}

TEST_CASE("fixed backoff: every delay is base, and never above cap") {
  for (const auto d : delays(policy(backoff::fixed, 40ms, 1s), 1, 8)) {
    CHECK(d == 40ms);
  }
  // validate() refuses base > cap, but a schedule built anyway still honours the cap.
  for (const auto d : delays(policy(backoff::fixed, 40ms, 15ms), 1, 3)) {
    CHECK(d == 15ms);
  }
}

TEST_CASE("exponential backoff: full jitter under base * multiplier^attempt, capped") {
  retry_policy p = policy(backoff::exponential, 10ms, 1s);
  p.multiplier = 2;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto ds = delays(p, seed, 10);
    for (std::size_t i = 0; i < ds.size(); ++i) {
      const auto bound = std::min<std::chrono::nanoseconds>(1s, 10ms * (1LL << i));
      CAPTURE(seed);
      CAPTURE(i);
      CHECK(ds[i] >= 0ns);
      CHECK(ds[i] <= bound);
    }
  }
  // Jitter covers the range: over many sequences the first delay takes values across [0, base].
  std::chrono::nanoseconds lo = 10ms;
  std::chrono::nanoseconds hi = 0ns;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const auto d = delays(p, seed, 1)[0];
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(lo < 1ms);
  CHECK(hi > 9ms);
  // Late attempts reach the cap's range but never pass it, even when the power overflows.
  const auto late = delays(p, 3, 2000);
  CHECK(*std::max_element(late.begin(), late.end()) <= 1s);
  CHECK(*std::max_element(late.begin() + 10, late.end()) > 500ms);
}

TEST_CASE("decorrelated backoff: each delay in [base, 3 * previous], capped") {
  const retry_policy p = policy(backoff::decorrelated, 10ms, 400ms);
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    const auto ds = delays(p, seed, 20);
    std::chrono::nanoseconds previous = 10ms;
    for (const auto d : ds) {
      CAPTURE(seed);
      CHECK(d >= 10ms);
      CHECK(d <= std::min<std::chrono::nanoseconds>(400ms, 3 * previous + 1ns));
      previous = d;
    }
  }
  // It does grow: after 20 steps some sequences sit at the cap.
  int capped = 0;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    capped += delays(p, seed, 20).back() == 400ms ? 1 : 0;
  }
  CHECK(capped > 0);
}

TEST_CASE("adaptive backoff: the same draw waits longer as the failure rate rises, never above cap") {
  retry_policy p = policy(backoff::adaptive, 10ms, 10s);
  p.adaptive_gain = 4;
  for (std::uint64_t seed = 1; seed < 20; ++seed) {
    const auto calm = delays(p, seed, 5, 0.0);
    const auto half = delays(p, seed, 5, 0.5);
    const auto storm = delays(p, seed, 5, 1.0);
    for (std::size_t i = 0; i < calm.size(); ++i) {
      CAPTURE(seed);
      CAPTURE(i);
      CHECK(half[i] >= calm[i]);
      CHECK(storm[i] >= half[i]);
      // Same uniform draw, bound scaled by (1 + 4 * rate): exactly 3x and 5x (to rounding).
      CHECK(std::abs(static_cast<double>(half[i].count()) - 3.0 * static_cast<double>(calm[i].count())) < 4);
      CHECK(std::abs(static_cast<double>(storm[i].count()) - 5.0 * static_cast<double>(calm[i].count())) < 6);
      CHECK(storm[i] <= std::min<std::chrono::nanoseconds>(10s, 50ms * (1LL << i)));
    }
  }
  // At rate 0 it is the exponential policy; rates outside [0, 1] and NaN are clamped.
  retry_policy e = p;
  e.kind = backoff::exponential;
  CHECK(delays(p, 7, 6, 0.0) == delays(e, 7, 6));
  CHECK(delays(p, 7, 6, -3.0) == delays(e, 7, 6));
  CHECK(delays(p, 7, 6, std::nan("")) == delays(e, 7, 6));
  CHECK(delays(p, 7, 6, 9.0) == delays(p, 7, 6, 1.0));
  retry_policy tight = p;
  tight.cap = 30ms;
  for (const auto d : delays(tight, 5, 10, 1.0)) {
    CHECK(d <= 30ms);
  }
}

TEST_CASE("backoff schedules are seeded: same seed, same delays; another seed, others") {
  for (const backoff b : {backoff::exponential, backoff::decorrelated, backoff::adaptive}) {
    const retry_policy p = policy(b, 10ms, 5s);
    CAPTURE(ftq::backoff_name(b));
    CHECK(delays(p, 42, 10, 0.3) == delays(p, 42, 10, 0.3));
    CHECK(delays(p, 42, 10, 0.3) != delays(p, 43, 10, 0.3));
  }
}

TEST_CASE("backoff_schedule: attempts counts delays; reset starts the growth over") {
  const retry_policy p = policy(backoff::exponential, 10ms, 5s);
  ftq::backoff_schedule s(p, 9);
  CHECK(s.attempts() == 0);
  for (int i = 0; i < 6; ++i) {
    (void)s.next(0);
  }
  CHECK(s.attempts() == 6);
  s.reset();
  CHECK(s.attempts() == 0);
  CHECK(s.next(0) <= 10ms);  // back to attempt 0's bound

  ftq::backoff_schedule d(policy(backoff::decorrelated, 10ms, 5s), 9);
  for (int i = 0; i < 10; ++i) {
    (void)d.next(0);
  }
  d.reset();
  CHECK(d.next(0) <= 30ms);  // previous is base again
}

TEST_CASE("retry_policy::validate names the offending field") {
  CHECK_NOTHROW(retry_policy{}.validate());
  retry_policy p;
  p.base = 2s;
  p.cap = 1s;
  CHECK(invalid_message([&] { p.validate(); }) == "retry_policy.base (2s) exceeds cap (1s)");
  p = {};
  p.multiplier = 0.5;
  CHECK(invalid_message([&] { p.validate(); }).find("retry_policy.multiplier") == 0);
  p = {};
  p.multiplier = std::nan("");
  CHECK(invalid_message([&] { p.validate(); }).find("retry_policy.multiplier") == 0);
  p = {};
  p.base = -1ms;
  CHECK(invalid_message([&] { p.validate(); }).find("retry_policy.base") == 0);
  p = {};
  p.adaptive_gain = -1;
  CHECK(invalid_message([&] { p.validate(); }).find("retry_policy.adaptive_gain") == 0);
  p = {};
  p.kind = backoff::decorrelated;
  p.base = 0ns;
  CHECK(invalid_message([&] { p.validate(); }).find("decorrelated") != std::string::npos);
  p = {};
  p.max_attempts = 0;  // no retries is a valid policy
  CHECK_NOTHROW(p.validate());
}
