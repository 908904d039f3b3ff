#pragma once
/// Decides one operator's breaker state from its outcomes: a ring of the last window_count
/// outcomes (the count window) and the times of its failures within window_time (the time
/// window) open a closed breaker; open turns half-open after recovery_timeout; half-open admits
/// half_open_probes probes per period, closes (windows emptied) once all of them succeeded and
/// reopens on any probe failure. Allocates its ring once; not thread-safe (the detector locks).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include <ftq/failure_detector.hpp>

namespace ftq::recovery {

class circuit_breaker {
 public:
  enum class admission : std::uint8_t { inert, probe, refused };

  /// `o` must outlive the breaker (the detector's own options).
  explicit circuit_breaker(const detector_options& o);

  void record_failure(clock::time_point now);
  void record_success() noexcept;
  /// Turns open into half-open once recovery_timeout passed.
  breaker_state state(clock::time_point now) noexcept;
  clock::time_point reopens_at() const noexcept;
  double failure_rate() const noexcept;
  std::size_t failures_in_window(clock::time_point now) const noexcept;

  /// inert when closed; probe (and its period in `period`) while half-open probes remain;
  /// refused otherwise.
  admission admit(clock::time_point now, std::uint64_t& period) noexcept;
  /// A probe of `period` ended; probes of an earlier period are ignored.
  void probe_done(std::uint64_t period, bool ok, clock::time_point now) noexcept;

 private:
  void open(clock::time_point now) noexcept;
  void close() noexcept;

  const detector_options* options_;
  std::vector<std::uint8_t> outcomes_;  // ring: 1 failure, 0 success
  std::size_t next_ = 0;
  std::size_t count_ = 0;
  std::size_t failures_ = 0;
  std::deque<clock::time_point> failure_times_;  // within window_time, oldest first
  breaker_state state_ = breaker_state::closed;
  clock::time_point reopens_at_{};
  std::uint64_t period_ = 0;  // changes on every state change: stale probes are recognised
  std::uint32_t admitted_ = 0;
  std::uint32_t succeeded_ = 0;
};

}  // namespace ftq::recovery
