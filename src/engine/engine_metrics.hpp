#pragma once
/// The engine's monotonic counters and histograms for the status endpoint's /metrics: failures
/// by class, recoveries by action, recovery time, checkpoint commits (latency, bytes). Events
/// here are rare (a failure, a commit), so one mutex guards the histograms; the per-batch row
/// counts are not kept here but summed from the queries' own published counters at snapshot
/// time. Thread-safe.

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include <ftq/engine.hpp>
#include <ftq/fault_tolerant_context.hpp>
#include <ftq/retry.hpp>
#include <ftq/status.hpp>

namespace ftq::engine_detail {

/// Fixed buckets, as Prometheus histograms have.
class histogram {
 public:
  explicit histogram(std::vector<double> bounds);
  void observe(double v);
  histogram_snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class engine_metrics {
 public:
  engine_metrics();

  void query_started();
  void query_ended(query_state how, std::uint64_t rows_scanned, std::uint64_t rows_output);
  void failure(error_class cls);
  void recovery(recovery_action action);
  void recovered(std::chrono::nanoseconds took);
  void checkpoint_committed(std::chrono::nanoseconds took, std::uint64_t raw_bytes, std::uint64_t stored_bytes,
                            bool delta);
  void checkpoint_failed();

  /// The counters; rows_scanned and rows_output hold the finished queries' rows only (the
  /// engine adds the running ones').
  metrics_snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  metrics_snapshot counters_;
  histogram commit_seconds_;
  histogram stored_bytes_;
  histogram recovery_seconds_;
};

}  // namespace ftq::engine_detail
