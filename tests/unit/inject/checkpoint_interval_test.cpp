#include <ftq/checkpoint_interval.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include <doctest/doctest.h>
#include <ftq/error.hpp>

using namespace std::chrono_literals;
using ftq::checkpoint_interval_estimator;
using ftq::interval_options;
using std::chrono::nanoseconds;

namespace {

double seconds(nanoseconds d) { return std::chrono::duration<double>(d).count(); }

std::string validation_error(const interval_options& o) {
  try {
    o.validate();
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::recovery_policy_invalid));
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("Young's interval is sqrt(2 c M): cost 1 s, MTBF 1 h gives 84.85 s") {
  CHECK(seconds(ftq::young_interval(1s, 1h)) == doctest::Approx(84.8528).epsilon(1e-6));
  // To the nanosecond it returns in.
  CHECK(std::llabs(ftq::young_interval(1s, 1h).count() - std::llround(std::sqrt(7200.0) * 1e9)) <= 1);
  CHECK(seconds(ftq::young_interval(10ms, 1h)) == doctest::Approx(std::sqrt(2 * 0.01 * 3600)).epsilon(1e-9));
  CHECK(ftq::young_interval(0s, 1h) == 0ns);
  CHECK(ftq::young_interval(1s, 0s) == 0ns);
  CHECK(ftq::young_interval(nanoseconds::max(), nanoseconds::max()) == nanoseconds::max());
}

TEST_CASE("Daly's interval: sqrt(2cM) (1 + sqrt(c/2M)/3 + c/2M/9) - c, and M once c >= 2M") {
  // c = 1 s, M = 3600 s: x = 1/7200; 84.852814 * (1 + 0.0117851/3 + 0.000138889/9) - 1.
  const double x = 1.0 / 7200;
  const double expected = std::sqrt(7200.0) * (1 + std::sqrt(x) / 3 + x / 9) - 1;
  CHECK(expected == doctest::Approx(84.18745).epsilon(1e-6));  // the hand computation
  CHECK(seconds(ftq::daly_interval(1s, 1h)) == doctest::Approx(expected).epsilon(1e-9));
  // Daly's correction is small next to Young's when c << M, and takes the cost off.
  CHECK(ftq::daly_interval(1s, 1h) < ftq::young_interval(1s, 1h));
  CHECK(ftq::daly_interval(2h, 1h) == 1h);
  CHECK(ftq::daly_interval(3h, 1h) == 1h);
  // Just below c = 2M: x = 1 - eps, tau = 2M (1 + 1/3 + 1/9) - 2M = 8M/9.
  CHECK(seconds(ftq::daly_interval(7199s, 1h)) == doctest::Approx(3600.0 * 8 / 9).epsilon(1e-3));
  CHECK(ftq::daly_interval(0s, 1h) == 0ns);
}

TEST_CASE("the estimator starts from the prior and the initial cost") {
  checkpoint_interval_estimator e;
  const ftq::interval_choice c = e.current();
  CHECK(c.cost == 10ms);
  CHECK(c.mtbf == 1h);
  CHECK(c.failures == 0);
  CHECK(c.observed == 0ns);
  CHECK(c.formula == "daly");
  CHECK(c.interval == ftq::daly_interval(10ms, 1h));  // ~8.5 s, within [200 ms, 60 s]
}

TEST_CASE("the interval is clamped to min and max, and the formula says so") {
  interval_options o;
  o.min = 1s;
  o.max = 30s;
  checkpoint_interval_estimator e(o);
  e.record_cost(1ms);  // Daly: ~2.7 s
  CHECK(e.current().formula == "daly");
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  e.record_cost(1us);
  CHECK(e.current().interval == 1s);
  CHECK(e.current().formula == "min");

  checkpoint_interval_estimator big(o);
  big.record_cost(5s);  // Daly: ~185 s
  CHECK(big.current().interval == 30s);
  CHECK(big.current().formula == "max");
}

TEST_CASE("when the cost reaches twice the MTBF the interval is the MTBF") {
  interval_options o;
  o.prior_mtbf = 10s;
  o.max = 1h;
  checkpoint_interval_estimator e(o);
  e.record_cost(25s);
  const auto c = e.current();
  CHECK(c.formula == "young");
  CHECK(c.interval == 10s);
}

TEST_CASE("the cost is an EWMA: the first sample replaces the guess, later ones weigh cost_smoothing") {
  interval_options o;
  o.cost_smoothing = 0.25;
  checkpoint_interval_estimator e(o);
  e.record_cost(100ms);
  CHECK(e.current().cost == 100ms);
  e.record_cost(200ms);
  CHECK(e.current().cost == 125ms);  // 0.25 * 200 + 0.75 * 100
  e.record_cost(-5ms);               // counts as 0
  CHECK(e.current().cost == nanoseconds(93'750'000));
  CHECK(e.current().interval == ftq::daly_interval(nanoseconds(93'750'000), 1h));
}

TEST_CASE("failures shrink the MTBF estimate and the interval; run time without failures grows them") {
  checkpoint_interval_estimator e;
  e.record_cost(100ms);
  const auto before = e.current();
  e.record_run_time(1h);
  CHECK(e.current().observed == 1h);
  CHECK(e.current().mtbf == 2h);  // (1 h + 1 h) / (1 + 0)
  CHECK(e.current().interval > before.interval);
  e.record_failure();
  e.record_failure();
  e.record_failure();
  const auto after = e.current();
  CHECK(after.failures == 3);
  CHECK(after.mtbf == 30min);  // (1 h + 1 h) / (1 + 3)
  CHECK(after.interval < before.interval);
  CHECK(after.interval == ftq::daly_interval(100ms, 30min));
  e.record_run_time(-1s);  // ignored
  CHECK(e.current().observed == 1h);
}

TEST_CASE("invalid options are rejected naming the field") {
  interval_options o;
  CHECK(validation_error(o).empty());
  o.min = 0s;
  CHECK(validation_error(o).find("checkpoint interval: 'min' must be positive") == 0);
  o = {};
  o.max = 100ms;
  CHECK(validation_error(o).find("'max' must be at least 'min'") != std::string::npos);
  o = {};
  o.prior_mtbf = -1s;
  CHECK(validation_error(o).find("'prior_mtbf' must be positive") != std::string::npos);
  o = {};
  o.initial_cost = -1s;
  CHECK(validation_error(o).find("'initial_cost' must not be negative") != std::string::npos);
  for (const double w : {0.0, -0.5, 1.5, std::nan("")}) {
    o = {};
    o.cost_smoothing = w;
    CHECK(validation_error(o).find("'cost_smoothing' must be in (0, 1]") != std::string::npos);
  }
  o = {};
  o.cost_smoothing = 0;
  CHECK_THROWS_AS(checkpoint_interval_estimator{o}, ftq::error);
}
