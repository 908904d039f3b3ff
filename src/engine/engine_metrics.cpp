#include "engine/engine_metrics.hpp"

#include <algorithm>

namespace ftq::engine_detail {

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void histogram::observe(double v) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);  // first bound >= v
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

histogram_snapshot histogram::snapshot() const { return histogram_snapshot{bounds_, counts_, sum_, count_}; }

namespace {

double seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

// Commits take from under a millisecond (a small state on io_uring) to seconds (a large hash
// table); recoveries from a retry's backoff to a long replay; states from bytes to gigabytes.
engine_metrics::engine_metrics()
    : commit_seconds_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      stored_bytes_({1024, 16384, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824}),
      recovery_seconds_({0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}) {}

void engine_metrics::query_started() {
  std::lock_guard lock(mutex_);
  ++counters_.queries_started;
}

void engine_metrics::query_ended(query_state how, std::uint64_t rows_scanned, std::uint64_t rows_output) {
  std::lock_guard lock(mutex_);
  counters_.queries_succeeded += how == query_state::succeeded ? 1 : 0;
  counters_.queries_failed += how == query_state::failed ? 1 : 0;
  counters_.queries_cancelled += how == query_state::cancelled ? 1 : 0;
  counters_.rows_scanned += rows_scanned;
  counters_.rows_output += rows_output;
}

void engine_metrics::failure(error_class cls) {
  std::lock_guard lock(mutex_);
  const auto i = static_cast<std::size_t>(cls);
  if (i < counters_.failures_by_class.size()) {
    ++counters_.failures_by_class[i];
  }
  counters_.stalls += cls == error_class::stall ? 1 : 0;
}

void engine_metrics::recovery(recovery_action action) {
  std::lock_guard lock(mutex_);
  counters_.retries += action == recovery_action::retry ? 1 : 0;
  counters_.operator_restores += action == recovery_action::restore_operator ? 1 : 0;
  counters_.pipeline_restarts += action == recovery_action::restart_pipeline ? 1 : 0;
}

void engine_metrics::recovered(std::chrono::nanoseconds took) {
  std::lock_guard lock(mutex_);
  recovery_seconds_.observe(seconds(took));
}

void engine_metrics::checkpoint_committed(std::chrono::nanoseconds took, std::uint64_t raw_bytes,
                                          std::uint64_t stored_bytes, bool delta) {
  std::lock_guard lock(mutex_);
  ++counters_.checkpoint_commits;
  counters_.checkpoint_deltas += delta ? 1 : 0;
  counters_.checkpoint_raw_bytes += raw_bytes;
  counters_.checkpoint_stored_bytes += stored_bytes;
  commit_seconds_.observe(seconds(took));
  stored_bytes_.observe(static_cast<double>(stored_bytes));
}

void engine_metrics::checkpoint_failed() {
  std::lock_guard lock(mutex_);
  ++counters_.checkpoint_failures;
}

metrics_snapshot engine_metrics::snapshot() const {
  std::lock_guard lock(mutex_);
  metrics_snapshot s = counters_;
  s.checkpoint_commit_seconds = commit_seconds_.snapshot();
  s.checkpoint_stored_bytes_per_commit = stored_bytes_.snapshot();
  s.recovery_seconds = recovery_seconds_.snapshot();
  return s;
}

}  // namespace ftq::engine_detail
