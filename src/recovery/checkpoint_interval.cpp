#include <ftq/checkpoint_interval.hpp>
#include <ftq/error.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace ftq {

namespace {

using std::chrono::nanoseconds;

// Rounds to the nearest nanosecond, saturating instead of overflowing.
nanoseconds to_ns(double ns) noexcept {
  if (!(ns > 0)) {
    return nanoseconds(0);
  }
  if (ns >= static_cast<double>(std::numeric_limits<nanoseconds::rep>::max())) {
    return nanoseconds::max();
  }
  return nanoseconds(std::llround(ns));
}

[[noreturn]] void invalid(std::string_view field, const std::string& why) {
  throw ftq::error(errc::recovery_policy_invalid, "checkpoint interval: '" + std::string(field) + "' " + why);
}

}  // namespace

nanoseconds young_interval(nanoseconds cost, nanoseconds mtbf) noexcept {
  if (cost.count() <= 0 || mtbf.count() <= 0) {
    return nanoseconds(0);
  }
  return to_ns(std::sqrt(2.0 * static_cast<double>(cost.count()) * static_cast<double>(mtbf.count())));
}

nanoseconds daly_interval(nanoseconds cost, nanoseconds mtbf) noexcept {
  if (cost.count() <= 0 || mtbf.count() <= 0) {
    return nanoseconds(0);
  }
  const double c = static_cast<double>(cost.count());
  const double m = static_cast<double>(mtbf.count());
  if (c >= 2.0 * m) {
    return mtbf;
  }
  const double x = c / (2.0 * m);
  return to_ns(std::sqrt(2.0 * c * m) * (1.0 + std::sqrt(x) / 3.0 + x / 9.0) - c);
}

void interval_options::validate() const {
  const auto show = [](nanoseconds d) { return std::to_string(d.count()) + "ns"; };
  if (min.count() <= 0) {
    invalid("min", "must be positive, got " + show(min));
  }
  if (max < min) {
    invalid("max", "must be at least 'min' (" + show(min) + "), got " + show(max));
  }
  if (prior_mtbf.count() <= 0) {
    invalid("prior_mtbf", "must be positive, got " + show(prior_mtbf));
  }
  if (initial_cost.count() < 0) {
    invalid("initial_cost", "must not be negative, got " + show(initial_cost));
  }
  if (!(cost_smoothing > 0 && cost_smoothing <= 1)) {
    invalid("cost_smoothing", "must be in (0, 1], got " + std::to_string(cost_smoothing));
  }
}

checkpoint_interval_estimator::checkpoint_interval_estimator(interval_options o)
    : options_(o), cost_ns_(static_cast<double>(o.initial_cost.count())) {
  options_.validate();
}

void checkpoint_interval_estimator::record_cost(nanoseconds cost) {
  const double sample = cost.count() > 0 ? static_cast<double>(cost.count()) : 0.0;
  std::lock_guard lock(mu_);
  // The first measurement replaces the guess outright: initial_cost is no evidence.
  cost_ns_ = measured_ ? options_.cost_smoothing * sample + (1 - options_.cost_smoothing) * cost_ns_ : sample;
  measured_ = true;
}

void checkpoint_interval_estimator::record_failure() {
  std::lock_guard lock(mu_);
  ++failures_;
}

void checkpoint_interval_estimator::record_run_time(nanoseconds t) {
  if (t.count() <= 0) {
    return;
  }
  std::lock_guard lock(mu_);
  observed_ = observed_ > nanoseconds::max() - t ? nanoseconds::max() : observed_ + t;
}

interval_choice checkpoint_interval_estimator::current() const {
  interval_choice c;
  {
    std::lock_guard lock(mu_);
    c.cost = to_ns(cost_ns_);
    c.failures = failures_;
    c.observed = observed_;
  }
  const double mtbf = (static_cast<double>(options_.prior_mtbf.count()) + static_cast<double>(c.observed.count())) /
                      (1.0 + static_cast<double>(c.failures));
  c.mtbf = to_ns(mtbf);
  if (static_cast<double>(c.cost.count()) >= 2.0 * static_cast<double>(c.mtbf.count())) {
    c.interval = c.mtbf;  // what daly_interval() gives there too
    c.formula = "young";
  } else {
    c.interval = daly_interval(c.cost, c.mtbf);
    c.formula = "daly";
  }
  if (c.interval < options_.min) {
    c.interval = options_.min;
    c.formula = "min";
  } else if (c.interval > options_.max) {
    c.interval = options_.max;
    c.formula = "max";
  }
  return c;
}

}  // namespace ftq
