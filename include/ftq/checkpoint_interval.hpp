#pragma once
/// Chooses how often a query checkpoints: from the measured cost of its checkpoints and the
/// failures it has seen, the interval that minimises expected lost work plus checkpoint
/// overhead (Daly 2006, with Young 1974 as its first order), kept within configured bounds.
/// One estimator per query; the engine may feed it engine-wide failures too.

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace ftq {

/// Young (1974): tau = sqrt(2 * cost * mtbf). Zero for a non-positive cost or mtbf; saturates
/// at nanoseconds::max().
std::chrono::nanoseconds young_interval(std::chrono::nanoseconds cost, std::chrono::nanoseconds mtbf) noexcept;
/// Daly (2006), for cost < 2 * mtbf:
/// tau = sqrt(2 c M) * (1 + sqrt(c / (2M)) / 3 + (c / (2M)) / 9) - c; else tau = M.
/// Zero for a non-positive cost or mtbf.
std::chrono::nanoseconds daly_interval(std::chrono::nanoseconds cost, std::chrono::nanoseconds mtbf) noexcept;

struct interval_options {
  /// Floor: below it checkpointing costs more than it saves whatever the estimates say.
  std::chrono::nanoseconds min{std::chrono::milliseconds(200)};
  /// Ceiling: bounds the work lost to a failure when failures are rare (the formula would say hours).
  std::chrono::nanoseconds max{std::chrono::seconds(60)};
  /// Belief before any failure is seen; a smaller value checkpoints more often from the start.
  std::chrono::nanoseconds prior_mtbf{std::chrono::hours(1)};
  /// Cost assumed before the first checkpoint is measured.
  std::chrono::nanoseconds initial_cost{std::chrono::milliseconds(10)};
  /// EWMA weight of the newest cost sample: higher follows changes faster, lower smooths noise.
  double cost_smoothing = 0.3;
  /// Throws ftq::error(errc::recovery_policy_invalid) naming the field: min must be positive,
  /// max >= min, prior_mtbf positive, initial_cost not negative, cost_smoothing in (0, 1].
  void validate() const;
};

/// The interval in force and everything it was computed from.
struct interval_choice {
  std::chrono::nanoseconds interval{0};
  std::chrono::nanoseconds cost{0};  // smoothed checkpoint cost (time the query waits on one)
  std::chrono::nanoseconds mtbf{0};  // estimate: (prior_mtbf + observed run time) / (1 + failures)
  std::uint64_t failures = 0;
  std::chrono::nanoseconds observed{0};
  /// "daly"; "young" when Daly's expansion is undefined (cost >= 2 mtbf) and the interval is the
  /// mtbf; "min" or "max" when the bound replaced the formula's value.
  std::string_view formula;
};

/// The MTBF estimate is Bayesian: the failure rate has a Gamma(shape 1, rate prior_mtbf) prior
/// (an exponential prior whose mean rate is 1 / prior_mtbf); after k failures in observed time T
/// the posterior is Gamma(1 + k, prior_mtbf + T), and the estimate is the reciprocal of its mean
/// rate: (prior_mtbf + T) / (1 + k). So it starts at prior_mtbf, is never zero or infinite, and
/// converges to T / k as evidence accumulates. Thread-safe.
class checkpoint_interval_estimator {
 public:
  /// Throws as interval_options::validate().
  explicit checkpoint_interval_estimator(interval_options o = {});

  /// One checkpoint took `cost` (negative values count as zero).
  void record_cost(std::chrono::nanoseconds cost);
  void record_failure();
  /// Adds `t` to the observed run time (negative values are ignored).
  void record_run_time(std::chrono::nanoseconds t);
  interval_choice current() const;
  const interval_options& options() const noexcept { return options_; }

 private:
  interval_options options_;
  mutable std::mutex mu_;
  double cost_ns_;  // smoothed
  bool measured_ = false;
  std::uint64_t failures_ = 0;
  std::chrono::nanoseconds observed_{0};
};

}  // namespace ftq
