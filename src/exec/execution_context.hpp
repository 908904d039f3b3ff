#pragma once
/// Holds what one running query shares across its operators: the executor, the batch size, every
/// operator's mutable state (indexed by operator id), progress counters, cancellation, and the
/// cooperative-yield clock that keeps one query from starving others on the same executor.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <ftq/batch.hpp>
#include <ftq/operator_phase.hpp>

#include "exec/state/state_io.hpp"

namespace ftq::exec {

struct query_progress;

/// Base of every operator's mutable execution state: everything an operator needs to continue
/// exactly where it was, which it can snapshot to msgpack and restore (exec/state/state_io.hpp).
/// Snapshots are taken only between batches (see physical_operator::next), never mid-batch.
struct operator_state {
  virtual ~operator_state() = default;

  /// Packs the state. With `requested` == delta, a state that has a committed snapshot and
  /// supports deltas packs only what was added or changed since it; otherwise it packs all of
  /// itself. Returns the kind it packed.
  virtual snapshot_kind save(state_packer& out, snapshot_kind requested) const = 0;
  /// Restores from a section save() packed: a full snapshot replaces the state (which starts as
  /// make_state() left it), a delta applies on top of the state restored so far. Throws
  /// checkpoint_error (corrupt or unsupported version) for a section it cannot read.
  virtual void load(const msgpack::object& in, snapshot_kind kind) = 0;
  /// The last save() is durable: later deltas are relative to it. Restoring counts as a commit.
  virtual void snapshot_committed() {}
  /// Roughly how many bytes a full snapshot packs, to weigh a delta against a full one.
  virtual std::uint64_t snapshot_size_hint() const { return 0; }
  /// Partial recovery rolls back one pipeline. A state that also belongs to a finished one (a
  /// hash join whose build side is built) keeps that part and rolls back only the rest: to what
  /// `in` holds (a section as load() takes; a chain is applied base first), or with `in` null to
  /// how make_state() left it. Returns false when it has no finished part; the caller then
  /// replaces the whole state instead.
  virtual bool rollback_unfinished(const msgpack::object* in, snapshot_kind kind) {
    (void)in;
    (void)kind;
    return false;
  }
  /// Whether the state holds child `child`'s finished output that a rollback keeps (so the
  /// child's pipeline need not run again).
  virtual bool keeps_finished_input(std::size_t child) const {
    (void)child;
    return false;
  }
  /// Takes back what the state added to the query's progress totals (a scan's estimate of its
  /// rows, the bytes it read): a rollback is about to replace it by a state that publishes its
  /// own. A loaded state starts with nothing published.
  virtual void retract_progress(query_progress& progress) { (void)progress; }
  /// Called on the executor before save() for a checkpoint: quick work the snapshot needs done
  /// first (a sink hands its buffered rows to the kernel).
  virtual void prepare_snapshot() {}
  /// Called after prepare_snapshot(), off the executor thread (it may block: fsync), before the
  /// checkpoint is committed; nothing touches the state meanwhile. What save() records must be
  /// durable once this returns (a sink's output up to the offset it saves).
  virtual void sync_snapshot() {}
};

class execution_context;

/// Takes a query's checkpoints. physical_operator::next() asks it between batches, where every
/// operator up the call stack has folded all the batches it received, so the states it
/// snapshots there form a consistent cut of the whole query.
class checkpoint_trigger {
 public:
  virtual ~checkpoint_trigger() = default;
  /// Whether a checkpoint is due; called once per batch per operator, so it must be cheap.
  virtual bool due(const execution_context& ctx) noexcept = 0;
  /// Snapshots every operator state of `ctx` and commits them.
  virtual boost::asio::awaitable<void> take(execution_context& ctx) = 0;
};

class physical_operator;

/// Runs an operator's batches under supervision: physical_operator::next() hands each call to
/// the operator's supervisor when it has one (engine/fault_tolerant_operator.hpp: checkpoints,
/// retries, restores), and runs the plain loop when it has none.
class operator_supervisor {
 public:
  virtual ~operator_supervisor() = default;
  virtual boost::asio::awaitable<std::optional<batch>> next(const physical_operator& op, execution_context& ctx) = 0;
};

/// Decides which query runs when several want the executor (engine/priority_scheduler.hpp): a
/// query holds a turn while it computes, yields it regularly, and gives it up while it waits
/// (a backoff, a checkpoint commit) so others run meanwhile. Without one, a yield is a plain
/// post to the executor (first come, first served) and waits hold nothing.
class yield_scheduler {
 public:
  virtual ~yield_scheduler() = default;
  virtual boost::asio::awaitable<void> yield(execution_context& ctx) = 0;
  virtual void leave(execution_context& ctx) = 0;
  virtual boost::asio::awaitable<void> enter(execution_context& ctx) = 0;
};

/// Counters one query publishes while it runs; read from any thread.
struct query_progress {
  std::atomic<std::uint64_t> rows_scanned{0};   // rows produced by the scans so far
  std::atomic<std::uint64_t> rows_total{0};     // scans' total rows, estimated for CSV files
  std::atomic<std::uint64_t> bytes_scanned{0};  // CSV bytes parsed so far
  std::atomic<std::uint64_t> bytes_total{0};    // CSV bytes to parse in all
  std::atomic<std::uint64_t> rows_out{0};       // rows the root has produced
};

/// A value the query's coroutine writes and any thread may read (the status endpoint on a
/// thread pool): relaxed loads and stores, no read-modify-write, so the one writer pays nothing
/// over a plain variable.
template <class T>
class published {
 public:
  published(T v = T{}) noexcept : v_(v) {}  // NOLINT(google-explicit-constructor): a drop-in value
  published(const published& o) noexcept : v_(o.load()) {}
  published& operator=(const published& o) noexcept {
    store(o.load());
    return *this;
  }
  published& operator=(T v) noexcept {
    store(v);
    return *this;
  }
  operator T() const noexcept { return load(); }  // NOLINT(google-explicit-constructor)
  T load() const noexcept { return v_.load(std::memory_order_relaxed); }
  void store(T v) noexcept { v_.store(v, std::memory_order_relaxed); }
  published& operator++() noexcept requires std::is_integral_v<T> {
    store(load() + 1);
    return *this;
  }
  published& operator+=(T d) noexcept requires std::is_integral_v<T> {
    store(load() + d);
    return *this;
  }

 private:
  std::atomic<T> v_;
};

/// Asks an engine's queries to yield more often for a while: when other handlers share the
/// executor and are waiting (the status endpoint under load), a query's 2 ms time slice is what
/// each of them waits for, so the slice shrinks to `interval` until `window` after the last
/// demand. Thread-safe; checking costs one relaxed load per yield check.
class yield_pressure {
 public:
  explicit yield_pressure(std::chrono::microseconds interval) noexcept : interval_(interval) {}
  void demand(std::chrono::steady_clock::duration window) noexcept {
    const auto until = (std::chrono::steady_clock::now() + window).time_since_epoch().count();
    // Only ever extends, and skips the store while the current window is nearly as long.
    if (until - until_.load(std::memory_order_relaxed) > window.count() / 8) {
      until_.store(until, std::memory_order_relaxed);
    }
  }
  /// The slice to use at `now`: `interval` under pressure, else `normal`.
  std::chrono::microseconds slice(std::chrono::steady_clock::time_point now,
                                  std::chrono::microseconds normal) const noexcept {
    return now.time_since_epoch().count() < until_.load(std::memory_order_relaxed) ? interval_ : normal;
  }

 private:
  std::chrono::microseconds interval_;
  std::atomic<std::chrono::steady_clock::rep> until_{0};
};

/// Per-operator counters.
struct operator_stats {
  published<std::uint64_t> batches_out = 0;
  published<std::uint64_t> rows_out = 0;
  /// Every live row produce() returned, rows replayed after a rollback included; a rollback
  /// never rewinds it (rows_out and batches_out go back to the checkpoint's).
  published<std::uint64_t> rows_produced = 0;
  published<operator_phase> phase = operator_phase::idle;
};

class execution_context {
 public:
  execution_context(boost::asio::any_io_executor executor, std::size_t batch_rows, std::size_t operator_count,
                    std::shared_ptr<query_progress> progress,
                    std::chrono::microseconds yield_interval = default_yield_interval);

  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }
  std::size_t batch_rows() const noexcept { return batch_rows_; }
  query_progress& progress() noexcept { return *progress_; }
  const query_progress& progress() const noexcept { return *progress_; }

  void set_state(std::size_t operator_id, std::unique_ptr<operator_state> state);
  template <class State>
  State& state(std::size_t operator_id) {
    return static_cast<State&>(*states_[operator_id]);
  }
  operator_state* state_ptr(std::size_t operator_id) noexcept { return states_[operator_id].get(); }
  operator_stats& stats(std::size_t operator_id) noexcept { return stats_[operator_id]; }
  const std::vector<operator_stats>& all_stats() const noexcept { return stats_; }

  /// Asks the query to stop; the next check_cancelled() throws ftq::error(errc::query_cancelled),
  /// and a backoff or stall it is sleeping through ends at once.
  void cancel() noexcept;
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }
  void check_cancelled() const;

  /// Posts the coroutine back to the executor when it has run for yield_interval() without
  /// suspending, letting other queries on the executor run. Cheap when no yield is due.
  boost::asio::awaitable<void> maybe_yield();
  /// maybe_yield() without the cancellation check: for supervisors and for long loops inside an
  /// operator, so that cancellation is seen only where every state is between batches (where a
  /// graceful stop can take its final checkpoint).
  boost::asio::awaitable<void> yield_if_due();
  /// Number of times maybe_yield() actually yielded (for tests and stats).
  std::uint64_t yields() const noexcept { return yields_; }

  std::chrono::microseconds yield_interval() const noexcept { return yield_interval_; }

  /// Number of operators (and so of states); operator ids are [0, operator_count()).
  std::size_t operator_count() const noexcept { return states_.size(); }
  /// Installs the query's checkpoint trigger (null: no checkpoints). Not owned.
  void set_checkpoint_trigger(checkpoint_trigger* trigger) noexcept { trigger_ = trigger; }
  checkpoint_trigger* trigger() const noexcept { return trigger_; }

  static constexpr std::chrono::microseconds default_yield_interval{2000};

  /// Supervision (not owned; null: the operator runs unsupervised).
  void set_supervisor(std::size_t operator_id, operator_supervisor* s);
  operator_supervisor* supervisor(std::size_t operator_id) const noexcept {
    return supervisors_.empty() ? nullptr : supervisors_[operator_id];
  }
  /// Shared by the engine's queries (not owned; null: the slice is always yield_interval()).
  void set_yield_pressure(const yield_pressure* p) noexcept { pressure_ = p; }
  /// Who decides the order of yields (not owned; null: plain posts).
  void set_yield_scheduler(yield_scheduler* s) noexcept { scheduler_ = s; }
  /// Around a wait that takes a while (a backoff, a commit): lets other queries have the
  /// executor meanwhile. No-ops without a scheduler.
  void pause_turn() {
    if (scheduler_ != nullptr) {
      scheduler_->leave(*this);
    }
  }
  boost::asio::awaitable<void> resume_turn();

  /// Interruptible waits: a backoff or an injected stall sleeps on `wait_slot()`; cancel() and
  /// interrupt() signal it (from any thread: the signal is emitted on the executor), so neither a
  /// cancelled query nor a stalled operator waits out its timer.
  boost::asio::cancellation_slot wait_slot() noexcept { return wait_signal_->slot(); }
  /// Marks operator `operator_id` as stalled and wakes its wait; take_interrupt() reports it once.
  void interrupt(std::size_t operator_id) noexcept;
  std::optional<std::size_t> take_interrupt() noexcept;

 private:
  void wake_waiter() noexcept;

  boost::asio::any_io_executor executor_;
  std::size_t batch_rows_;
  std::vector<std::unique_ptr<operator_state>> states_;
  std::vector<operator_stats> stats_;
  std::shared_ptr<query_progress> progress_;
  std::atomic<bool> cancelled_{false};
  std::chrono::microseconds yield_interval_;
  const yield_pressure* pressure_ = nullptr;
  std::chrono::steady_clock::time_point last_yield_;
  std::uint64_t yields_ = 0;
  checkpoint_trigger* trigger_ = nullptr;
  std::vector<operator_supervisor*> supervisors_;
  yield_scheduler* scheduler_ = nullptr;
  // Shared with the posted emit, which may run after a finished query is gone.
  std::shared_ptr<boost::asio::cancellation_signal> wait_signal_ = std::make_shared<boost::asio::cancellation_signal>();
  std::atomic<std::int64_t> interrupted_{-1};  // operator id, or -1
};

}  // namespace ftq::exec
