#pragma once
/// Takes one query's checkpoints on the schedule its options set: every N rows scanned and/or
/// every T of wall time, or by default at the adaptive interval (Daly's formula over the
/// checkpoint cost it measures and the failures it sees), between batches (the operators'
/// supervisors ask due()). A failed commit does not fail the query: it is counted and logged,
/// and the next checkpoint retries, still building on the last committed epoch. Except when the
/// store refuses it with errc::lease_lost (another process owns the query now): then take()
/// throws that error and the query takes no checkpoint ever again.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <ftq/checkpoint_interval.hpp>
#include <ftq/engine.hpp>
#include <ftq/status.hpp>

#include "checkpoint/query_checkpoints.hpp"
#include "exec/execution_context.hpp"

namespace ftq::engine_detail {

class engine_metrics;

/// "<plan name>-<16 hex digits>": the plan's name made safe for a directory name, and a hash of
/// the plan and its output location, so reruns of one command find their checkpoints.
std::string default_checkpoint_id(const std::string& plan_name, const std::string& plan_json,
                                  const std::string& output);
/// SHA-256 of the plan's canonical JSON: what a checkpoint must match to be restored.
std::array<unsigned char, 32> plan_hash(const std::string& plan_json);

class query_checkpointer final : public exec::checkpoint_trigger {
 public:
  query_checkpointer(const checkpoint_schedule& schedule, std::string query_id, std::array<unsigned char, 32> hash,
                     interval_options adaptive);

  /// Adds a state that is not an operator's (the query's runtime section) under `id`.
  void add_state(std::uint32_t id, exec::operator_state* state);
  /// Whether the interval is adaptive (neither rows nor a fixed interval was asked for).
  bool adaptive() const noexcept { return adaptive_; }
  /// The adaptive interval in force and its inputs (also meaningful for fixed schedules: the
  /// cost and failures measured so far).
  interval_choice interval() const { return estimator_.current(); }
  /// A failure happened in the query: the adaptive interval shortens.
  void record_failure() { estimator_.record_failure(); }

  const std::string& query_id() const noexcept { return stream_.query_id(); }

  bool due(const exec::execution_context& ctx) noexcept override;
  /// Commits a checkpoint of every state. A failure is counted and logged, except errc::lease_lost:
  /// that one stops checkpointing (stop_checkpointing()) and is thrown as ftq::error(lease_lost)
  /// saying the commit was refused because another process owns the query. Does nothing once
  /// stopped.
  boost::asio::awaitable<void> take(exec::execution_context& ctx) override;

  /// No checkpoint from now on: take() does nothing, due() is false, and the engine skips
  /// finish() (the query's checkpoints are no longer this process's to clean up). For a lost
  /// lease and query::abandon(). Thread-safe.
  void stop_checkpointing() noexcept { stopped_.store(true, std::memory_order_release); }
  bool stopped() const noexcept { return stopped_.load(std::memory_order_acquire); }

  /// Called when the query starts: makes its directory, sweeps crashed commits' temp files.
  boost::asio::awaitable<void> start(exec::execution_context& ctx);
  /// Restores the newest valid checkpoint into ctx's states (fresh from init_states, which
  /// `reinit` redoes if a chain fails halfway).
  boost::asio::awaitable<checkpoint::restore_report> restore(exec::execution_context& ctx,
                                                             std::function<void()> reinit);
  /// Called when the query ends: deletes its checkpoints on success unless told to retain them.
  boost::asio::awaitable<void> finish(bool succeeded);
  /// Rollback of part of the running query: see query_checkpoints::reload_committed.
  boost::asio::awaitable<bool> reload(checkpoint::query_checkpoints::section_visitor apply);
  /// Deletes every checkpoint of the query (a fresh start).
  boost::asio::awaitable<void> discard_all();

  checkpoint_stats stats() const;

  /// Takes a checkpoint at the next batch boundary, whatever the schedule says (the status
  /// endpoint's POST /queries/{id}/checkpoint). Thread-safe.
  void request_now() noexcept { requested_.store(true, std::memory_order_relaxed); }
  /// Commits and failures are also counted there (may be null).
  void set_metrics(engine_metrics* m) noexcept { metrics_ = m; }
  /// The last commits (newest last, up to recent_limit), and each state's section in the last
  /// one, by state id. Thread-safe.
  static constexpr std::size_t recent_limit = 32;
  std::vector<checkpoint_entry> recent() const;
  std::vector<std::optional<operator_checkpoint>> last_sections(std::size_t operator_count) const;

 private:
  std::vector<checkpoint::state_ref> states_of(exec::execution_context& ctx) const;
  void schedule_next(const exec::execution_context& ctx);

  std::shared_ptr<checkpoint_manager> manager_;
  checkpoint::query_checkpoints stream_;
  std::uint64_t every_rows_;
  std::chrono::steady_clock::duration interval_;
  std::uint64_t next_rows_ = 0;
  std::chrono::steady_clock::time_point next_time_;
  bool adaptive_ = false;
  checkpoint_interval_estimator estimator_;
  std::chrono::steady_clock::time_point last_schedule_{};
  std::vector<checkpoint::state_ref> extra_states_;

  std::atomic<bool> requested_{false};
  std::atomic<bool> stopped_{false};
  engine_metrics* metrics_ = nullptr;

  mutable std::mutex stats_mutex_;
  checkpoint_stats stats_;
  std::deque<checkpoint_entry> recent_;
  std::vector<operator_checkpoint> sections_;  // the last commit's, by position
  std::vector<std::uint32_t> section_ids_;
};

}  // namespace ftq::engine_detail
