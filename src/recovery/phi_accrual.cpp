#include <ftq/failure_detector.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace ftq {

namespace {

// -log10(P(X >= x)) for X normal(mean, sd), accurate far into the tail where erfc underflows.
double tail_phi(double z) {
  const double x = z / std::numbers::sqrt2;
  if (x < 20) {
    const double p = 0.5 * std::erfc(x);
    return p > 0 ? -std::log10(p) : 0.0;
  }
  // erfc(x) ~ exp(-x^2) / (x sqrt(pi)) * (1 - 1 / (2 x^2)) for large x.
  const double ln_erfc = -x * x - std::log(x * std::sqrt(std::numbers::pi)) + std::log1p(-0.5 / (x * x));
  return -(std::log(0.5) + ln_erfc) / std::numbers::ln10;
}

}  // namespace

phi_accrual_estimator::phi_accrual_estimator(phi_options o)
    : options_(o), intervals_(std::max<std::size_t>(o.window, 1)) {}

void phi_accrual_estimator::heartbeat(clock::time_point t) noexcept {
  if (has_last_ && t >= last_) {
    const double x = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - last_).count());
    const std::size_t window = intervals_.size();
    if (count_ == window) {
      const double old = intervals_[next_];
      sum_ -= old;
      sum_squares_ -= old * old;
    } else {
      ++count_;
    }
    intervals_[next_] = x;
    sum_ += x;
    sum_squares_ += x * x;
    next_ = (next_ + 1) % window;
    if (next_ == 0) {
      // Once per window, recomputed exactly: the running sums of squares lose precision by
      // subtraction, and intervals of seconds square to 1e18 ns^2.
      sum_ = 0;
      sum_squares_ = 0;
      for (std::size_t i = 0; i < count_; ++i) {
        sum_ += intervals_[i];
        sum_squares_ += intervals_[i] * intervals_[i];
      }
    }
  }
  if (!has_last_ || t > last_) {
    last_ = t;
  }
  has_last_ = true;
}

std::size_t phi_accrual_estimator::samples() const noexcept { return count_; }

std::chrono::nanoseconds phi_accrual_estimator::mean() const noexcept {
  if (count_ == 0) {
    return std::chrono::nanoseconds(0);
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(sum_ / static_cast<double>(count_)));
}

std::chrono::nanoseconds phi_accrual_estimator::std_deviation() const noexcept {
  if (count_ == 0) {
    return std::chrono::nanoseconds(0);
  }
  const double n = static_cast<double>(count_);
  const double m = sum_ / n;
  const double var = std::max(0.0, sum_squares_ / n - m * m);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::sqrt(var)));
}

double phi_accrual_estimator::phi(clock::time_point now) const noexcept {
  if (!has_last_ || count_ < std::max<std::size_t>(options_.min_samples, 1) || now <= last_) {
    return 0.0;
  }
  const double n = static_cast<double>(count_);
  const double m = sum_ / n;
  const double var = std::max(0.0, sum_squares_ / n - m * m);
  const double mean = m + static_cast<double>(options_.acceptable_pause.count());
  const double sd = std::max(std::sqrt(var), static_cast<double>(options_.min_std_deviation.count()));
  const double elapsed = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
  if (!(sd > 0)) {
    return elapsed > mean ? std::numeric_limits<double>::infinity() : 0.0;
  }
  return std::max(0.0, tail_phi((elapsed - mean) / sd));
}

bool phi_accrual_estimator::suspicious(clock::time_point now) const noexcept { return phi(now) >= options_.threshold; }

const phi_options& phi_accrual_estimator::options() const noexcept { return options_; }

}  // namespace ftq
