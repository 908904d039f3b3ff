#pragma once
/// A consistent, self-contained copy of what an engine is doing: its queries (running and
/// recently finished), their operators, failures and checkpoints, engine-wide metrics, and for
/// a worker sharing a checkpoint store, who owns which query of it (cluster_view).
/// engine::snapshot() takes one from any thread without stopping a query; the status endpoint
/// (ftq/status_server.hpp) renders one per request. Plain data: copy it, keep it, test with it.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ftq/checkpoint_interval.hpp>
#include <ftq/engine.hpp>
#include <ftq/failure_detector.hpp>
#include <ftq/fault_tolerant_context.hpp>
#include <ftq/operator_phase.hpp>
#include <ftq/retry.hpp>

namespace ftq {

/// Buckets of a histogram: counts[i] observations were <= bounds[i] and > bounds[i - 1];
/// counts.back() (one more than bounds) holds those above the last bound.
struct histogram_snapshot {
  std::vector<double> bounds;
  std::vector<std::uint64_t> counts;
  double sum = 0;
  std::uint64_t count = 0;
};

inline constexpr std::size_t error_class_count = 8;  // error_class::internal + 1

/// Engine-wide counters since the engine was made (monotonic: Prometheus counters).
struct metrics_snapshot {
  std::uint64_t queries_started = 0;
  std::uint64_t queries_succeeded = 0;
  std::uint64_t queries_failed = 0;
  std::uint64_t queries_cancelled = 0;
  std::uint64_t rows_scanned = 0;  // rows the scans produced, re-reads after a rollback included
  std::uint64_t rows_output = 0;   // result rows delivered
  std::array<std::uint64_t, error_class_count> failures_by_class{};  // indexed by error_class
  std::uint64_t retries = 0;                                         // recoveries by retry in place
  std::uint64_t operator_restores = 0;                               // recoveries by restore_operator
  std::uint64_t pipeline_restarts = 0;                               // recoveries by restart_pipeline
  std::uint64_t stalls = 0;
  std::uint64_t checkpoint_commits = 0;
  std::uint64_t checkpoint_deltas = 0;
  std::uint64_t checkpoint_failures = 0;
  std::uint64_t checkpoint_raw_bytes = 0;        // sum over commits, before compression
  std::uint64_t checkpoint_stored_bytes = 0;     // sum over commits, as written
  histogram_snapshot checkpoint_commit_seconds;  // serialize + durable write, per commit
  histogram_snapshot checkpoint_stored_bytes_per_commit;
  histogram_snapshot recovery_seconds;  // from a failure to the next batch the operator delivered
};

/// One checkpoint a query committed.
struct checkpoint_entry {
  std::uint64_t epoch = 0;
  bool delta = false;
  std::uint64_t base_epoch = 0;
  std::chrono::system_clock::time_point created{};
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  std::chrono::nanoseconds commit_time{0};  // serialize + durable write
  bool retained = true;                     // still on disk (retention has not removed it)
};

/// One operator's section of a checkpoint.
struct operator_checkpoint {
  std::uint64_t epoch = 0;
  std::chrono::system_clock::time_point created{};
  std::uint64_t raw_bytes = 0;
  std::uint64_t stored_bytes = 0;
  bool delta = false;  // the operator saved only what changed since its previous section
};

struct operator_status {
  std::uint32_t id = 0;
  std::string name;       // "csv_scan", "hash_join", ...
  std::string plan_path;  // where it is in the plan: "input.probe"
  std::vector<std::uint32_t> children;
  operator_phase phase = operator_phase::idle;
  std::uint64_t rows_in = 0;   // rows its children delivered to it
  std::uint64_t rows_out = 0;  // rows it delivered (a rollback rewinds this to the checkpoint's)
  std::uint64_t batches_out = 0;
  std::uint64_t failures = 0;  // its failures in the query's history
  breaker_state breaker = breaker_state::closed;
  double failure_rate = 0;                // over the detector's count window
  double phi = 0;                         // stall suspicion (phi accrual); 0 before it has learned
  std::uint32_t retry_attempts_left = 0;  // before its retry sequence gives up
  std::optional<operator_checkpoint> last_checkpoint;
};

struct query_status {
  std::uint64_t id = 0;
  std::string name;
  std::string checkpoint_id;  // empty: the query takes no checkpoints
  query_state state = query_state::prepared;
  std::string error;  // what() of the failure that ended it (failed or cancelled)
  std::uint32_t priority = 1;
  query_progress_snapshot progress{};
  std::chrono::system_clock::time_point started{};
  std::optional<std::chrono::system_clock::time_point> finished;
  std::chrono::nanoseconds elapsed{0};
  std::optional<std::chrono::nanoseconds> eta;  // from the rate so far; none before any progress
  fault_tolerance_stats fault_tolerance{};
  double retry_budget_left = 0;  // tokens in the query's retry budget
  std::string recovery_policy;   // recovery_policy::describe()
  checkpoint_stats checkpoints{};
  std::string checkpoint_backend;  // "io_uring", "threads" (empty without checkpoints)
  bool adaptive_interval = false;
  interval_choice interval{};                     // the checkpoint interval in force and its inputs
  std::vector<checkpoint_entry> checkpoint_list;  // newest last; bounded (the last 32)
  // By operator id: the plan's root is 0; a sink the engine puts on top (the result's) is last.
  std::vector<operator_status> operators;
};

struct engine_status {
  std::string version;
  std::string io_backend;         // of the checkpoint manager queries use ("none" without)
  std::string io_backend_reason;  // why that backend (io_uring refused by the kernel, forced...)
  std::chrono::system_clock::time_point started{};
  std::chrono::system_clock::time_point now{};
  std::chrono::nanoseconds uptime{0};
  std::size_t concurrency = 1;
  std::size_t batch_rows = 0;
  std::size_t queries_running = 0;
};

/// One change of a query's owner, as the shared store's history records it.
struct cluster_handover {
  std::chrono::system_clock::time_point at{};
  std::string from;  // the previous owner ("" for the first)
  std::string to;    // the new owner ("" when released or finished)
  std::string why;   // "first owner", "took over: lease of W lapsed", "released", "succeeded", ...
};

/// A query's committed result (committed exactly once, by one worker).
struct cluster_result {
  std::string sha256;  // hex of the result CSV's bytes
  std::uint64_t bytes = 0;
  std::uint64_t rows = 0;
  std::string committed_by;  // the worker whose commit landed
  std::chrono::system_clock::time_point committed_at{};
};

/// One query of the shared store, as its manifest says (not only this worker's queries).
struct cluster_query {
  std::string id;     // the query id (its directory in the store)
  std::string state;  // "queued", "running", "succeeded", "failed" ("" before it was recorded)
  std::string owner;  // the last lease holder ("" when never owned)
  std::optional<std::chrono::system_clock::time_point> lease_until;  // none: never leased
  bool lease_current = false;                                        // the owner's lease still runs
  std::optional<std::uint64_t> last_epoch;                           // newest checkpoint; none yet
  std::string error;                                                 // why it failed, when failed
  std::optional<cluster_result> result;                              // once succeeded
  std::vector<cluster_handover> history;                             // oldest first
};

/// What a worker sharing a checkpoint store sees of it: who owns what, and what was taken over
/// from whom (engine::set_cluster_view provides it).
struct cluster_view {
  std::string worker;  // this worker's id
  std::string store;   // the store's URI, "rados://POOL/PREFIX"
  std::vector<cluster_query> queries;
  std::uint64_t takeovers = 0;       // queries this worker took over from a lapsed lease
  std::uint64_t leases_held = 0;     // leases this worker holds now
  std::uint64_t fenced_commits = 0;  // commits (checkpoint or result) the store refused this worker
};

/// Which parts of a snapshot to fill (the rest stay empty): a request for /healthz need not copy
/// every failure record.
enum class snapshot_parts : unsigned {
  engine = 0,
  queries = 1u << 0,      // query_status without operators and checkpoint_list
  operators = 1u << 1,    // query_status::operators
  checkpoints = 1u << 2,  // query_status::checkpoint_list
  failures = 1u << 3,     // engine_snapshot::failures
  metrics = 1u << 4,
  cluster = 1u << 5,  // engine_snapshot::cluster
  all = 0x3f,
};
constexpr snapshot_parts operator|(snapshot_parts a, snapshot_parts b) noexcept {
  return static_cast<snapshot_parts>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool has(snapshot_parts set, snapshot_parts p) noexcept {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(p)) != 0;
}

struct engine_snapshot {
  engine_status engine;
  std::vector<query_status> queries;     // running ones, then recently finished, by id
  std::vector<failure_record> failures;  // the detector's history, oldest first
  metrics_snapshot metrics;
  std::optional<cluster_view> cluster;  // none: the engine has no cluster view (or it was not asked for)
};

}  // namespace ftq
