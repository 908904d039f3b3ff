#include <ftq/failure_detector.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <memory>

using namespace std::chrono_literals;

namespace {

ftq::phi_options quick() {
  ftq::phi_options o;
  o.min_std_deviation = 10ms;
  o.acceptable_pause = 0ms;
  o.min_samples = 5;
  o.window = 20;
  return o;
}

}  // namespace

TEST_CASE("phi accrual: 0 until min_samples intervals are known") {
  ftq::phi_accrual_estimator e(quick());
  ftq::clock::time_point t{};
  for (int i = 0; i < 5; ++i) {  // 5 heartbeats = 4 intervals
    e.heartbeat(t);
    t += 100ms;
  }
  CHECK(e.samples() == 4);
  CHECK(e.phi(t + 10s) == 0.0);
  e.heartbeat(t);
  CHECK(e.samples() == 5);
  CHECK(e.phi(t + 10s) > 8);
}

TEST_CASE("phi accrual: a steady heartbeat stays low and silence makes phi rise") {
  ftq::phi_accrual_estimator e(quick());
  ftq::clock::time_point t{};
  for (int i = 0; i < 50; ++i) {
    e.heartbeat(t);
    t += (i % 2 == 0) ? 95ms : 105ms;
  }
  const ftq::clock::time_point last = t - 105ms;  // the last heartbeat
  CHECK(e.mean() == 100ms);
  CHECK(e.std_deviation() == 5ms);
  CHECK(e.phi(last + 50ms) < 0.5);
  CHECK(e.phi(last + 100ms) < 1);
  CHECK_FALSE(e.suspicious(last + 110ms));
  double previous = 0;
  for (auto gap = 100ms; gap <= 400ms; gap += 20ms) {
    const double phi = e.phi(last + gap);
    CAPTURE(gap.count());
    CHECK(phi >= previous);  // monotonic in silence
    previous = phi;
  }
  CHECK(e.suspicious(last + 200ms));  // 10 floored stds late
  CHECK(e.phi(last + 400ms) > 50);
  // Far in the tail erfc underflows; phi stays finite and growing.
  const double far = e.phi(last + 1h);
  CHECK(std::isfinite(far));
  CHECK(far > e.phi(last + 1s));
}

TEST_CASE("phi accrual: acceptable_pause and the std floor make it more tolerant") {
  ftq::phi_options strict = quick();
  ftq::phi_options lenient = quick();
  lenient.acceptable_pause = 500ms;
  ftq::phi_options floored = quick();
  floored.min_std_deviation = 200ms;
  ftq::phi_accrual_estimator a(strict), b(lenient), c(floored);
  ftq::clock::time_point t{};
  for (int i = 0; i < 20; ++i) {
    a.heartbeat(t);
    b.heartbeat(t);
    c.heartbeat(t);
    t += 100ms;
  }
  const ftq::clock::time_point last = t - 100ms;
  CHECK(a.suspicious(last + 400ms));
  CHECK_FALSE(b.suspicious(last + 400ms));
  CHECK_FALSE(c.suspicious(last + 400ms));
}

TEST_CASE("phi accrual: the window forgets old intervals, so it adapts to a new pace") {
  ftq::phi_accrual_estimator e(quick());  // window 20
  ftq::clock::time_point t{};
  for (int i = 0; i < 30; ++i) {
    e.heartbeat(t);
    t += 10ms;
  }
  for (int i = 0; i < 25; ++i) {
    e.heartbeat(t);
    t += 1s;
  }
  CHECK(e.samples() == 20);
  CHECK(e.mean() == 1s);
  const ftq::clock::time_point last = t - 1s;
  CHECK(e.phi(last + 1010ms) < 1);  // at the old 10 ms pace this silence would be beyond suspicion
}

TEST_CASE("failure_detector: per-operator phi from heartbeats; unknown operators are 0") {
  ftq::detector_options o;
  o.phi = quick();
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd(o, clk);
  const ftq::operator_key busy{"q", 1};
  const ftq::operator_key stuck{"q", 2};
  for (int i = 0; i < 20; ++i) {
    fd.heartbeat(busy, clk->now());
    fd.heartbeat(stuck, clk->now());
    clk->advance(50ms);
  }
  for (int i = 0; i < 20; ++i) {
    fd.heartbeat(busy, clk->now());
    clk->advance(50ms);
  }
  CHECK(fd.phi(busy, clk->now()) < 1);
  CHECK_FALSE(fd.suspicious(busy, clk->now()));
  CHECK(fd.phi(stuck, clk->now()) > 8);
  CHECK(fd.suspicious(stuck, clk->now()));
  CHECK(fd.phi({"q", 9}, clk->now()) == 0.0);
  fd.forget("q");
  CHECK(fd.phi(stuck, clk->now()) == 0.0);
}
