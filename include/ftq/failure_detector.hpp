#pragma once
/// Watches operators' failures and progress for one engine: records every failure in a bounded,
/// queryable history that can be saved with checkpoints and loaded after a restart; keeps a
/// count window and a time window of outcomes per operator whose thresholds open a circuit
/// breaker (open -> half-open after a timeout -> exactly N probes -> closed or open again); and
/// learns each operator's heartbeat inter-arrival times to tell a stalled operator (phi accrual).
/// Thread-safe; cheap enough to call once per batch per operator.

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ftq/clock.hpp>
#include <ftq/retry.hpp>

namespace ftq {

enum class breaker_state : std::uint8_t { closed, open, half_open };
/// "closed", "open", "half_open".
std::string_view breaker_state_name(breaker_state s) noexcept;

/// One failure, as recorded and as saved.
struct failure_record {
  std::uint64_t seq = 0;                         // assigned by record_failure, increasing
  std::chrono::system_clock::time_point time{};  // wall time, for people and for `since`
  std::string query{};                           // query id (checkpoint id or name)
  std::uint32_t operator_id = 0;
  std::string operator_name{};
  error_class cls{};
  std::string message{};
  std::uint32_t attempt = 0;
  std::string recovery{};  // action taken: "retry", "restore_operator", "restart_pipeline", "fail", handler name...
  std::string outcome{};   // "pending", "recovered", "failed"
};

/// Which records history() returns; unset fields match everything.
struct history_filter {
  // Default member initializers let callers name only what they filter by ({.query = "q1"})
  // without -Wmissing-field-initializers.
  std::optional<std::string> query{};
  std::optional<std::uint32_t> operator_id{};
  std::optional<std::chrono::system_clock::time_point> since{};  // time >= since
  std::size_t limit = 0;                                         // the newest `limit` matches; 0: all
};

/// Phi accrual tuning. The defaults follow Akka's: suspect at phi 8 (the silence would be a
/// 1-in-10^8 event), learn from the last 100 intervals, and tolerate a 500 ms pause and 100 ms
/// of jitter even when batches arrived like clockwork.
struct phi_options {
  double threshold = 8.0;       // suspicious() once phi reaches it
  std::size_t window = 100;     // intervals remembered
  std::size_t min_samples = 8;  // phi is 0 until this many intervals are known
  std::chrono::nanoseconds min_std_deviation{std::chrono::milliseconds(100)};  // floor of the learned std
  std::chrono::nanoseconds acceptable_pause{std::chrono::milliseconds(500)};   // added to the learned mean
};

/// Phi accrual (Hayashibara et al.; Akka's variant): learns inter-arrival times of heartbeats,
/// phi(now) = -log10(P(an interval this long or longer)) under a normal distribution with the
/// learned mean (+ acceptable_pause) and std (at least min_std_deviation). 0 until min_samples.
/// Allocation-free after construction; not thread-safe (the detector locks around it).
class phi_accrual_estimator {
 public:
  explicit phi_accrual_estimator(phi_options o = {});
  void heartbeat(clock::time_point t) noexcept;
  double phi(clock::time_point now) const noexcept;
  bool suspicious(clock::time_point now) const noexcept;
  /// Intervals remembered (at most options.window).
  std::size_t samples() const noexcept;
  std::chrono::nanoseconds mean() const noexcept;           // learned, without acceptable_pause
  std::chrono::nanoseconds std_deviation() const noexcept;  // learned, without the floor
  const phi_options& options() const noexcept;

 private:
  phi_options options_;
  std::vector<double> intervals_;  // ring of nanoseconds, sized window
  std::size_t next_ = 0;
  std::size_t count_ = 0;
  double sum_ = 0;
  double sum_squares_ = 0;
  bool has_last_ = false;
  clock::time_point last_{};
};

/// Tuning of the breaker and the history. Defaults: an operator failing 5 times within a minute,
/// or in half of its last 100 outcomes (once it has 10), is held open for 1 s, then one probe
/// decides; resilience4j's defaults, scaled to batches.
struct detector_options {
  std::size_t history_capacity = 1024;  // oldest records dropped beyond it
  std::size_t window_count = 100;       // outcomes (successes+failures) in the count window
  std::chrono::nanoseconds window_time{std::chrono::seconds(60)};
  std::uint32_t failure_threshold = 5;  // failures within window_time that open the breaker
  double failure_rate_threshold = 0.5;  // or this rate over the count window...
  std::size_t min_outcomes = 10;        // ...once it holds at least this many outcomes
  std::chrono::nanoseconds recovery_timeout{std::chrono::seconds(1)};  // open -> half_open after it
  std::uint32_t half_open_probes = 1;                                  // attempts admitted while half-open
  phi_options phi{};
  void validate() const;  // ftq::error(recovery_policy_invalid) naming the field
};

/// Key of one operator of one query.
struct operator_key {
  std::string query{};
  std::uint32_t operator_id = 0;
  auto operator<=>(const operator_key&) const = default;
};

/// Thread-safe: one per engine, shared by queries on a thread pool. Every probe must be
/// destroyed before the detector.
class failure_detector {
 public:
  failure_detector(detector_options o, std::shared_ptr<clock> c);
  ~failure_detector();
  failure_detector(const failure_detector&) = delete;
  failure_detector& operator=(const failure_detector&) = delete;

  const detector_options& options() const noexcept;

  /// Records a failure (seq and time assigned; time is wall time moved by the detector's clock,
  /// so a manual_clock moves it too) in history and windows; may open a closed breaker. Returns seq.
  /// Failures while open or half-open are recorded but leave the breaker to its probes.
  std::uint64_t record_failure(failure_record r);
  /// An outcome in the count window. Allocation-free once the operator is known.
  void record_success(const operator_key& k);
  /// Updates the newest record with `seq`; a seq no longer held is ignored.
  void set_outcome(std::uint64_t seq, std::string recovery, std::string outcome);
  /// open turns half_open once recovery_timeout passed. Unknown operators are closed.
  breaker_state state(const operator_key& k);
  /// When an open breaker turns half-open (clock::time_point{} unless open).
  clock::time_point reopens_at(const operator_key& k) const;
  /// Failures over the outcomes in the count window, in [0, 1] (0 with no outcomes).
  double failure_rate(const operator_key& k) const;
  /// Failures within window_time before now.
  std::size_t failures_in_window(const operator_key& k) const;

  /// An admitted attempt. While half-open exactly half_open_probes are admitted per half-open
  /// period; the breaker closes once all admitted probes succeeded (its windows start empty),
  /// and any fail() reopens it (a new recovery_timeout). A probe destroyed without succeed() or
  /// fail() (an unexpected exception unwound past it) counts as failed, so the breaker never
  /// stays half-open for good. In the closed state admit() returns an inert handle (is_probe()
  /// false); in the open state, or half-open with all probes taken, nullopt. Probes only drive
  /// the breaker: record_failure/record_success still record the outcome. The first outcome
  /// of a probe counts; a probe from an earlier half-open period is ignored.
  class probe {
   public:
    probe(probe&& other) noexcept;
    /// Settles this probe first as its destructor would (no outcome: failed), then takes `other`.
    probe& operator=(probe&& other) noexcept;
    probe(const probe&) = delete;
    probe& operator=(const probe&) = delete;
    ~probe();
    void succeed();
    void fail();
    bool is_probe() const noexcept;

   private:
    friend class failure_detector;
    probe(failure_detector* d, operator_key k, std::uint64_t period) noexcept;
    void abandon() noexcept;
    failure_detector* detector_ = nullptr;  // null: inert, or already decided
    operator_key key_;
    std::uint64_t period_ = 0;
    bool probe_ = false;
  };
  std::optional<probe> admit(const operator_key& k);

  /// Oldest first.
  std::vector<failure_record> history(const history_filter& f = {}) const;
  /// Failures recorded since construction plus records merged in by load_history().
  std::uint64_t total_failures() const noexcept;

  /// History persistence: msgpack bytes, versioned ([tag, version, [records...]], fields at
  /// stable positions); load() merges records it has not seen (by query+seq), keeps them ordered
  /// by seq and within capacity, and makes later seqs larger than every loaded one.
  std::vector<std::byte> save_history() const;
  /// Throws ftq::checkpoint_error(checkpoint_corrupt) on bad bytes (nothing merged), or
  /// (checkpoint_version_unsupported) for a newer format.
  void load_history(std::span<const std::byte> bytes);

  /// Phi accrual per operator: heartbeat when an operator makes progress; suspicious() is what a
  /// watchdog polls. Allocation-free once the operator is known.
  void heartbeat(const operator_key& k, clock::time_point t);
  double phi(const operator_key& k, clock::time_point now) const;
  /// phi(k, now) >= options().phi.threshold.
  bool suspicious(const operator_key& k, clock::time_point now) const;
  /// Drops a finished query's windows, breakers and phi estimators (keeps history).
  void forget(const std::string& query);

 private:
  struct impl;
  void probe_done(const operator_key& k, std::uint64_t period, bool ok);

  std::unique_ptr<impl> impl_;
};

}  // namespace ftq
