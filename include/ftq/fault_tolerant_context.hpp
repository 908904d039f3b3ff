#pragma once
/// The fault-tolerance side of one query: the checkpoint manager that holds its states, the
/// failure detector that judges its operators, its retry policy and budget, and its recovery
/// policy. Recovery is declarative: a table from error class to action, validated when the query
/// is prepared. Code runs in recovery only as named handlers the embedding program registered in
/// C++, each under a time limit with its failure contained; a plan or a command line can name a
/// handler, never carry one.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/checkpoint_interval.hpp>
#include <ftq/clock.hpp>
#include <ftq/failure_detector.hpp>
#include <ftq/retry.hpp>

namespace ftq {

namespace inject {
class fault_plan;  // src/inject/fault_plan.hpp (docs/fault-injection.md)
}

/// What recovery does about a failed operator. Each keeps the promise that the query's result
/// equals a fault-free run's: nothing is delivered twice, nothing is lost.
enum class recovery_action : std::uint8_t {
  /// Call the operator again, in place. Only for failures raised before the operator changed
  /// its state (transient ones promise that), so nothing needs rolling back.
  retry,
  /// Roll the operator and its inputs back to the last checkpoint (finished pipelines below it,
  /// like a built hash table, are kept), run them again and drop the rows it had delivered
  /// already: nothing above it notices.
  restore_operator,
  /// Roll back the operator's whole pipeline, up to the operator that consumes it whole (an
  /// aggregate, a join's build, a sort) or the query's root, to the last checkpoint.
  restart_pipeline,
  /// Fail the query with the error.
  fail,
};
std::string_view recovery_action_name(recovery_action a) noexcept;
std::optional<recovery_action> parse_recovery_action(std::string_view name) noexcept;

/// What a named handler is told.
struct failure_event {
  std::string query;
  std::uint32_t operator_id = 0;
  std::string operator_name;
  error_class cls{};
  std::string message;
  std::uint32_t attempt = 0;  // retries already made for this failure (0: first)
};

/// Recovery code registered by the embedding program: refresh a credential, drop a cache, page
/// someone. It runs on the query's executor before the rule's action.
using recovery_handler = std::function<boost::asio::awaitable<void>(failure_event)>;

/// Named handlers. Thread-safe.
class handler_registry {
 public:
  struct entry {
    recovery_handler handler;
    /// A handler still running after this is abandoned (recorded as timed out) and recovery
    /// goes on without it.
    std::chrono::milliseconds time_limit{1000};
  };
  /// Registers (or replaces) `name`. Names are [A-Za-z0-9_.-]+; throws
  /// ftq::error(recovery_policy_invalid) for another name or a null handler.
  void add(std::string name, recovery_handler handler, std::chrono::milliseconds time_limit);
  void add(std::string name, recovery_handler handler);
  bool contains(std::string_view name) const;
  std::optional<entry> find(std::string_view name) const;
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
};

struct recovery_rule {
  error_class on{};
  recovery_action action = recovery_action::fail;
  std::string handler;  // run before the action; empty: none
};

/// Error class -> action. Classes without a rule take the default action:
/// transient: retry; resource, operator_fault, stall: restore_operator; checkpoint, internal,
/// bad_input, cancelled: fail.
struct recovery_policy {
  std::vector<recovery_rule> rules;
  /// Attempts and backoff of every action but fail (one sequence per operator, reset by a
  /// delivered batch).
  retry_policy retry{};

  /// The rule in force for `c` (a rule of its own, else the default with no handler).
  recovery_rule rule_for(error_class c) const;
  /// Throws ftq::error(recovery_policy_invalid) naming the rule: retry for a class that does not
  /// promise an untouched state, anything but fail for bad_input or cancelled, a handler not in
  /// `handlers`, a duplicate class, an invalid retry policy.
  void validate(const handler_registry& handlers) const;
  /// Parses "CLASS=ACTION[:HANDLER],..." plus optional "backoff=KIND", "attempts=N",
  /// "base=10ms", "cap=5s" items, e.g.
  /// "transient=retry,operator_fault=restart_pipeline:page_oncall,attempts=3,backoff=decorrelated".
  /// Throws ftq::error(recovery_policy_invalid) naming the item.
  static recovery_policy parse(std::string_view spec);
  /// The canonical form parse() reads, every class listed.
  std::string describe() const;
};

/// Engine-wide fault tolerance (engine_options::fault_tolerance); queries may override the
/// recovery policy and budget in query_options.
struct fault_tolerance_options {
  /// Off: a failure fails the query at once (checkpoints, when configured, are still taken).
  bool enabled = true;
  recovery_policy recovery{};
  detector_options detector{};
  /// Per-query retry budget (gRPC throttling): a burst of failures beyond half of it stops
  /// retries until successes earn tokens back.
  double query_budget_tokens = 20;
  double query_budget_ratio = 0.1;
  /// Engine-wide budget over all queries, so one bad disk cannot turn every query into a retry storm.
  double engine_budget_tokens = 200;
  double engine_budget_ratio = 0.1;
  /// Restores that may run at once; the rest wait, highest query priority first, then the
  /// cheapest to restore.
  std::size_t max_concurrent_recoveries = 2;
  /// Stall detection: a watchdog checks every `stall_check_interval` whether the operator a
  /// query is inside has been silent beyond the detector's phi threshold, and interrupts it.
  bool stall_detection = true;
  std::chrono::milliseconds stall_check_interval{100};
  /// Checkpoint interval bounds and priors for queries that checkpoint adaptively.
  interval_options checkpoint_interval{};
  /// Time source for backoff, windows and stall detection (null: the steady clock).
  std::shared_ptr<clock> time{};
  /// Injected faults (null: none). Shared by every query of the engine.
  std::shared_ptr<inject::fault_plan> faults{};
  /// Named recovery handlers rules may call.
  std::shared_ptr<handler_registry> handlers = std::make_shared<handler_registry>();
};

/// What fault tolerance did for one query so far.
struct fault_tolerance_stats {
  std::uint64_t failures = 0;           // operator failures seen (injected ones included)
  std::uint64_t retries = 0;            // recovered by retry in place
  std::uint64_t operator_restores = 0;  // recovered by restore_operator
  std::uint64_t pipeline_restarts = 0;  // recovered by restart_pipeline
  std::uint64_t handler_runs = 0;
  std::uint64_t handler_failures = 0;         // handlers that threw or overran their limit
  std::uint64_t stalls = 0;                   // operators interrupted by the stall detector
  std::uint64_t rows_replayed = 0;            // rows produced again after a rollback and dropped
  std::uint64_t states_restored = 0;          // operator states rolled back
  std::chrono::nanoseconds backoff_time{0};   // waited in backoff and for open breakers
  std::chrono::nanoseconds restore_time{0};   // spent restoring states
  std::chrono::nanoseconds recovery_time{0};  // from each failure to the next delivered batch
  double budget_tokens = 0;                   // the query's retry budget now
  bool resumed = false;                       // started from an earlier run's checkpoint
  std::uint64_t resumed_epoch = 0;
};

class checkpoint_manager;

/// One query's fault-tolerance context, made by the engine when the query is prepared. The
/// detector and the engine budget are shared by all of the engine's queries. Thread-safe to
/// observe while the query runs.
class fault_tolerant_context {
 public:
  fault_tolerant_context(std::string query_id, const fault_tolerance_options& options, recovery_policy policy,
                         std::shared_ptr<failure_detector> detector, std::shared_ptr<retry_budget> engine_budget,
                         std::shared_ptr<checkpoint_manager> checkpoints);

  /// The name failures are filed under (the query's checkpoint id, else its plan name).
  const std::string& query_id() const noexcept { return query_id_; }
  bool enabled() const noexcept { return options_.enabled; }
  const fault_tolerance_options& options() const noexcept { return options_; }
  const recovery_policy& policy() const noexcept { return policy_; }
  failure_detector& detector() const noexcept { return *detector_; }
  retry_budget& budget() noexcept { return budget_; }
  retry_budget& engine_budget() const noexcept { return *engine_budget_; }
  const std::shared_ptr<checkpoint_manager>& checkpoints() const noexcept { return checkpoints_; }
  const std::shared_ptr<clock>& time() const noexcept { return clock_; }
  inject::fault_plan* faults() const noexcept { return options_.faults.get(); }

  /// Runs the registered handler `name` for `event` under its time limit. Never throws: a
  /// handler that throws or overruns is abandoned, counted and recorded in the failure history;
  /// returns whether it completed.
  boost::asio::awaitable<bool> run_handler(std::string name, failure_event event);

  fault_tolerance_stats stats() const;
  template <class F>
  void update_stats(F&& f) {
    std::lock_guard lock(stats_mutex_);
    f(stats_);
  }

 private:
  std::string query_id_;
  fault_tolerance_options options_;
  recovery_policy policy_;
  std::shared_ptr<failure_detector> detector_;
  std::shared_ptr<retry_budget> engine_budget_;
  std::shared_ptr<checkpoint_manager> checkpoints_;
  std::shared_ptr<clock> clock_;
  retry_budget budget_;
  mutable std::mutex stats_mutex_;
  fault_tolerance_stats stats_;
};

}  // namespace ftq
