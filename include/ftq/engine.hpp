#pragma once
/// Runs query plans as coroutines on the caller's Asio executor, surviving failures.
/// `prepare` compiles a plan (throwing ftq::plan_error for a bad one); `run` executes it and
/// returns its result, in memory or as a CSV file. Many queries may run at once on one
/// single-threaded io_context or a pool of threads, shared by priority: each yields regularly,
/// none blocks the executor for long, and none waits on a timer or the disk holding it. Every
/// operator runs through a fault_tolerant_operator: a failure is retried, or the failed
/// operator (or its pipeline) is rolled back to the last checkpoint and replayed, as the
/// query's recovery policy says (ftq/fault_tolerant_context.hpp), so a query that meets
/// failures returns exactly the result of a fault-free run.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <ftq/batch.hpp>
#include <ftq/checkpoint_interval.hpp>
#include <ftq/failure_detector.hpp>
#include <ftq/fault_tolerant_context.hpp>
#include <ftq/plan.hpp>
#include <ftq/table.hpp>
#include <ftq/types.hpp>

namespace ftq {

/// Engine-wide options, fixed when the engine is made.
struct engine_options {
  /// Rows per batch. Larger batches amortize per-batch overhead; smaller ones bound memory and
  /// make cancellation and yielding finer-grained.
  std::size_t batch_rows = default_batch_rows;
  /// Directory that relative csv_scan paths resolve against.
  std::filesystem::path data_dir = ".";
  /// Longest a query runs on the executor without giving other work a turn. Shorter keeps the
  /// embedding service more responsive; longer saves a few re-schedules (each ~1 µs).
  std::chrono::microseconds yield_interval{2000};
  /// The slice while something else on the executor asked for prompt turns
  /// (engine::serve_interactively: the status endpoint does for each request it reads).
  std::chrono::microseconds interactive_yield_interval{200};
  /// How many queries compute at once: the number of threads that run the executor (1 for an
  /// io_context run by one thread). The rest wait their turn, by priority.
  std::size_t concurrency = 1;
  /// Failure detection, retries, recovery, stall detection, fault injection.
  fault_tolerance_options fault_tolerance{};
  /// How many finished queries snapshot() (the status endpoint) still shows, newest kept.
  std::size_t status_history = 64;
};

class checkpoint_manager;
struct engine_snapshot;
struct cluster_view;
enum class snapshot_parts : unsigned;

/// When a query takes checkpoints, and where (see ftq/checkpoint.hpp).
struct checkpoint_schedule {
  /// Null: the query takes no checkpoints.
  std::shared_ptr<checkpoint_manager> manager{};
  /// Names the query's checkpoints (a directory under the manager's). Empty:
  /// "<plan name>-<first 16 hex digits of the plan's SHA-256>", stable across runs of one plan.
  std::string query_id{};
  /// A checkpoint after every this many rows scanned (0: not by rows).
  std::uint64_t every_rows = 0;
  /// A checkpoint after this much time (0: not by time). With neither set, the interval is
  /// adaptive: Daly's formula over the checkpoint cost measured and the failures seen, within
  /// engine_options::fault_tolerance.checkpoint_interval's bounds (query::checkpoint_interval()).
  std::chrono::milliseconds interval{0};
  /// Start over: delete the query's earlier checkpoints (and partial output) instead of resuming.
  /// By default a query resumes from the newest valid checkpoint an earlier run left.
  bool fresh = false;
};

/// Per-query options.
struct query_options {
  /// Write the result to this CSV file (atomically: a temp file renamed into place when the
  /// query succeeds). Empty: keep the result in memory in query_result::batches.
  std::filesystem::path output_csv{};
  checkpoint_schedule checkpoints{};
  /// Share of the executor while several queries compute (a query of priority 4 gets four time
  /// slices for each one a query of priority 1 gets), and the order recoveries run in when more
  /// are due than may run at once. At least 1.
  std::uint32_t priority = 1;
  /// Replaces the engine's recovery policy for this query; validated by prepare().
  std::optional<recovery_policy> recovery{};
  /// Rows per batch for this query (0: the engine's, engine_options::batch_rows), so queries of
  /// different batch sizes share one engine and its scheduling. Larger batches amortize
  /// per-batch overhead; smaller ones bound memory and make yielding finer-grained.
  std::size_t batch_rows = 0;
  /// Injected faults for this query in place of the engine's (null: the engine's,
  /// engine_options::fault_tolerance.faults): its operator throws, stalls and crashes fire in
  /// this query only, and the engine's plan never fires in it. Its checkpoint rules fail this
  /// query's commits only when its checkpoint manager was made with an
  /// inject::checkpoint_fault_router as checkpoint_options::faults (src/inject): prepare() throws
  /// ftq::error(setting_invalid) for checkpoint rules the manager cannot route. For tests and demos.
  std::shared_ptr<inject::fault_plan> faults{};
};

/// What a query's checkpointing has done so far.
struct checkpoint_stats {
  std::uint64_t commits = 0;   // checkpoints committed
  std::uint64_t deltas = 0;    // of which incremental
  std::uint64_t failures = 0;  // commits that failed (the query went on; the next one retries)
  std::uint64_t last_epoch = 0;
  std::uint64_t last_raw_bytes = 0;
  std::uint64_t last_stored_bytes = 0;
  bool last_delta = false;
  std::chrono::nanoseconds last_commit_time{0};   // serialize + durable write of the last one
  std::chrono::nanoseconds total_commit_time{0};  // of all committed ones
  std::chrono::nanoseconds max_commit_time{0};    // the slowest committed one
  std::string last_error;                         // what() of the last failure
};

enum class query_state { prepared, running, succeeded, failed, cancelled };
std::string_view query_state_name(query_state s) noexcept;

/// A consistent copy of one query's progress counters.
struct query_progress_snapshot {
  std::uint64_t rows_scanned = 0;   // rows the scans have produced
  std::uint64_t rows_total = 0;     // rows the scans will produce (estimated for CSV files)
  std::uint64_t bytes_scanned = 0;  // CSV bytes parsed
  std::uint64_t bytes_total = 0;    // CSV bytes in all
  std::uint64_t rows_out = 0;       // result rows so far
  /// Fraction done in [0, 1], by bytes for CSV sources, by rows for in-memory tables.
  double fraction() const noexcept;
};

struct query_result {
  schema columns;
  std::vector<batch> batches;  // the result rows (empty when written to output_csv)
  std::uint64_t rows = 0;      // result rows, in memory or written
  std::chrono::nanoseconds elapsed{0};
};

/// One compiled query. Thread-safe to observe (progress, state) while it runs; run it once.
class query {
 public:
  ~query();
  std::uint64_t id() const noexcept;
  const std::string& name() const noexcept;
  const schema& output_schema() const noexcept;
  query_state state() const noexcept;
  query_progress_snapshot progress() const noexcept;
  /// Asks the query to stop; run() then fails with ftq::error(errc::query_cancelled).
  void cancel() noexcept;
  /// Stops it gracefully: like cancel(), but a query that checkpoints first takes one final
  /// checkpoint, so a later run resumes from where it stopped.
  void stop() noexcept;
  /// Ends it because it must not go on here (another process owns it now: `code` is
  /// errc::lease_lost): like cancel(), but run() fails with ftq::error(code, why) (what() is
  /// `why`; the state is failed, or cancelled for errc::query_cancelled), and the query takes no
  /// checkpoint from now on, not even a stop()'s final one, nor cleans up its checkpoints. A
  /// commit already in flight is not recalled (the store fences it). Thread-safe; a no-op on a
  /// query that is not running, and the first call wins.
  void abandon(std::error_code code, std::string why);
  /// The operator tree as text, one operator per line with its plan path ("EXPLAIN").
  std::string explain() const;
  /// The id its checkpoints are filed under (empty when it takes none).
  const std::string& checkpoint_id() const noexcept;
  /// A copy of its checkpointing counters; safe while it runs.
  checkpoint_stats checkpoints() const;
  /// The checkpoint interval in force and what it was derived from.
  interval_choice checkpoint_interval() const;
  /// What fault tolerance did for it so far; safe while it runs.
  fault_tolerance_stats fault_tolerance() const;
  /// Its failures, oldest first (from the engine's failure detector, including those an earlier
  /// run recorded in the checkpoint it resumed from).
  std::vector<failure_record> failures() const;
  /// Its fault-tolerance context: policy, detector, budget.
  const fault_tolerant_context& context() const noexcept;
  std::uint32_t priority() const noexcept;
  /// Asks for a checkpoint at the next batch boundary, whatever the schedule (thread-safe).
  /// False when the query takes no checkpoints or is not running.
  bool request_checkpoint() noexcept;

  struct impl;
  explicit query(std::unique_ptr<impl> p);
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

using query_ptr = std::shared_ptr<query>;

/// The engine (`ftq::engine` for short).
class fault_tolerant_execution_engine {
 public:
  explicit fault_tolerant_execution_engine(boost::asio::any_io_executor executor, engine_options options = {});
  ~fault_tolerant_execution_engine();
  fault_tolerant_execution_engine(const fault_tolerant_execution_engine&) = delete;
  fault_tolerant_execution_engine& operator=(const fault_tolerant_execution_engine&) = delete;

  const engine_options& options() const noexcept;
  const boost::asio::any_io_executor& executor() const noexcept;

  /// Makes `t` available to table_scan nodes under t->name(). Replaces a table of that name.
  void register_table(table_ptr t);
  /// Compiles `p`: resolves columns, tables and files, checks types. Throws ftq::plan_error.
  query_ptr prepare(const plan& p, query_options options = {});
  /// Runs a prepared query to completion on the engine's executor and returns its result.
  /// Failures its recovery policy covers are recovered from; otherwise it throws the failure
  /// (ftq::csv_error, ftq::io_error...), ftq::operator_error when recovery gave up (retries or
  /// budget spent), or ftq::error(query_cancelled).
  boost::asio::awaitable<query_result> run(query_ptr q);
  /// prepare() then run(). The plan is taken by value: the coroutine starts later, when the
  /// caller's plan may be gone. (Overloads rather than a default argument: GCC 12 destroys a
  /// defaulted coroutine argument twice.)
  boost::asio::awaitable<query_result> execute(plan p, query_options options);
  boost::asio::awaitable<query_result> execute(plan p);

  /// Stops every running query gracefully (query::stop()); for SIGINT and SIGTERM handlers.
  /// Returns how many were asked to stop.
  std::size_t stop_all();
  /// Queries currently running.
  std::vector<query_ptr> running() const;
  /// The running query with this id (null if none).
  query_ptr find_running(std::uint64_t id) const;
  /// A consistent copy of the engine's state: its queries (running, then the last
  /// options().status_history finished), their operators, failures and checkpoints, and its
  /// metrics, as far as `parts` asks (ftq/status.hpp). Safe from any thread while queries run;
  /// costs a few microseconds per query and never waits for one.
  engine_snapshot snapshot(snapshot_parts parts) const;
  /// For the next `window`, queries yield every options().interactive_yield_interval instead of
  /// yield_interval, so handlers sharing the executor get a turn promptly (the status endpoint
  /// calls it for each request). Costs the queries a few more re-schedules; thread-safe.
  void serve_interactively(std::chrono::nanoseconds window) noexcept;
  /// The checkpoint I/O backend (and why) to report when no query has used one yet.
  void set_io_backend(std::string backend, std::string reason);
  /// What snapshot() reports as engine_snapshot::cluster (ftq/status.hpp): who owns which query
  /// of a shared checkpoint store. `provider` is called by every snapshot that asks for
  /// snapshot_parts::cluster, on the thread taking it (the status server's), so it must be
  /// thread-safe and quick: return a copy the caller keeps under its own lock, never read the
  /// store. A provider that throws leaves the snapshot's cluster empty. An empty function
  /// removes it. Thread-safe.
  void set_cluster_view(std::function<cluster_view()> provider);
  /// The failure detector all its queries share.
  failure_detector& detector() noexcept;
  /// Named recovery handlers rules may call (engine_options::fault_tolerance.handlers).
  handler_registry& handlers() noexcept;

  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

using engine = fault_tolerant_execution_engine;

}  // namespace ftq
