#pragma once
/// Coordinates one query's recovery. It owns the query's fault_tolerant_operators (one per
/// operator, installed as the operators' supervisors), knows the operator tree's pipelines, and
/// performs rollbacks: an operator's subtree (less the finished pipelines whose output a state
/// keeps, like a built hash table) goes back to the last checkpoint, or to fresh states when
/// there is none, and the operator then drops the rows it had delivered already, so nothing
/// above it notices. It also records operator positions and the failure history in every
/// checkpoint (the query's runtime section), watches for stalls, and takes the final checkpoint
/// of a graceful stop.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <ftq/fault_tolerant_context.hpp>

#include "exec/execution_context.hpp"
#include "exec/physical_operator.hpp"

namespace ftq::engine_detail {

class fault_tolerant_operator;
class query_checkpointer;
class engine_metrics;
class recovery_gate;

/// How far an operator had got: what a rollback rewinds its counters to.
struct operator_position {
  std::uint64_t rows_out = 0;
  std::uint64_t batches_out = 0;
};

class query_recovery {
 public:
  query_recovery(const exec::physical_operator& root, exec::execution_context& ctx, fault_tolerant_context& ft,
                 query_checkpointer* checkpointer, recovery_gate& gate, std::uint32_t priority,
                 std::string fault_scope);
  ~query_recovery();
  query_recovery(const query_recovery&) = delete;
  query_recovery& operator=(const query_recovery&) = delete;

  fault_tolerant_context& context() noexcept { return ft_; }
  exec::execution_context& exec_context() noexcept { return ctx_; }
  query_checkpointer* checkpointer() noexcept { return checkpointer_; }
  /// The engine's counters for /metrics (null when none were set).
  engine_metrics* metrics() noexcept { return metrics_; }
  void set_metrics(engine_metrics* m) noexcept { metrics_ = m; }
  const exec::physical_operator& op(std::size_t id) const { return *ops_[id]; }
  fault_tolerant_operator& supervisor(std::size_t id) { return *supervisors_[id]; }
  std::uint32_t priority() const noexcept { return priority_; }
  /// The query's name as fault injection rules see it (the plan name).
  const std::string& fault_scope() const noexcept { return fault_scope_; }

  /// The state recording operator positions and the failure history in each checkpoint; its
  /// operator id is one past the last operator's.
  exec::operator_state& runtime_state() noexcept { return *runtime_; }
  std::uint32_t runtime_state_id() const noexcept { return static_cast<std::uint32_t>(ops_.size()); }

  /// The operator whose whole rollback covers `op`'s pipeline: the nearest ancestor consuming
  /// it whole (blocking_input), or the root.
  std::size_t pipeline_top(std::size_t op) const;
  /// Rolls `target` back (see recovery_action::restore_operator); waits for the engine's
  /// recovery gate first.
  boost::asio::awaitable<void> rollback(std::size_t target);

  /// A failure is unwinding to `target`'s rollback (restart_pipeline): operators between
  /// pass it up.
  void request_rollback(std::size_t target) noexcept { pending_rollback_ = target; }
  std::optional<std::size_t> pending_rollback() const noexcept { return pending_rollback_; }
  void clear_pending_rollback() noexcept { pending_rollback_.reset(); }
  /// Recovery gave up: every operator passes the failure up untouched.
  void set_failing() noexcept { failing_ = true; }
  bool failing() const noexcept { return failing_; }

  /// Operators still dropping replayed rows. No checkpoint is taken meanwhile: a state behind
  /// what its consumer has seen is not a consistent cut.
  bool replaying() const noexcept { return replaying_ > 0; }
  void replay_started() noexcept { ++replaying_; }
  void replay_finished() noexcept { --replaying_; }

  /// The stack of operators the query is inside (for stall detection).
  void enter(std::size_t op) {
    active_.push_back(static_cast<std::uint32_t>(op));
    innermost_.store(static_cast<std::int64_t>(op), std::memory_order_relaxed);
  }
  void leave() noexcept {
    if (!active_.empty()) {
      active_.pop_back();
    }
    innermost_.store(active_.empty() ? -1 : static_cast<std::int64_t>(active_.back()), std::memory_order_relaxed);
  }
  /// Readable from the watchdog on another thread of a pool.
  std::optional<std::size_t> innermost() const noexcept;
  const operator_key& key(std::size_t op) const { return keys_[op]; }

  /// Ends a watchdog: set `stopped` and emit `wake` on the watchdog's strand.
  struct watchdog_stop {
    std::atomic<bool> stopped{false};
    boost::asio::cancellation_signal wake;
  };
  /// Polls the detector for a stalled innermost operator until stopped, interrupting the
  /// operator when its silence passes the phi threshold.
  boost::asio::awaitable<void> watch_stalls(std::shared_ptr<watchdog_stop> stop);

  /// The query is waiting on purpose (a backoff, an open breaker, a restore): the watchdog does
  /// not take the silence for a stall.
  void set_waiting(bool waiting) noexcept { waiting_.store(waiting, std::memory_order_relaxed); }
  bool waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }

  /// A graceful stop: on seeing the cancellation, take one final checkpoint before unwinding.
  void want_final_checkpoint() noexcept { final_checkpoint_wanted_ = true; }
  bool take_final_checkpoint_turn() noexcept;

  /// Positions at the checkpoint last restored (by rollback or resume), for the runtime section.
  std::vector<operator_position>& restored_positions() noexcept { return restored_positions_; }

 private:
  struct scope_entry {
    std::size_t id;
    bool partial;  // keeps a finished part: rolled back with rollback_unfinished()
  };
  void collect_scope(std::size_t id, std::vector<scope_entry>& out) const;
  void index(const exec::physical_operator& op, std::optional<std::size_t> parent);

  exec::execution_context& ctx_;
  fault_tolerant_context& ft_;
  query_checkpointer* checkpointer_;
  engine_metrics* metrics_ = nullptr;
  recovery_gate& gate_;
  std::uint32_t priority_;
  std::string fault_scope_;
  std::vector<const exec::physical_operator*> ops_;  // by id
  std::vector<std::optional<std::size_t>> parent_;   // by id
  std::vector<operator_key> keys_;
  std::vector<std::unique_ptr<fault_tolerant_operator>> supervisors_;
  std::unique_ptr<exec::operator_state> runtime_;
  std::vector<operator_position> restored_positions_;
  std::optional<std::size_t> pending_rollback_;
  bool failing_ = false;
  int replaying_ = 0;
  std::vector<std::uint32_t> active_;
  std::atomic<std::int64_t> innermost_{-1};
  std::atomic<bool> waiting_{false};
  bool final_checkpoint_wanted_ = false;
  bool final_checkpoint_taken_ = false;
};

}  // namespace ftq::engine_detail
