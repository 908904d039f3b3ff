#pragma once
/// Queries handed to a pool of workers through a RADOS checkpoint store (`ftq submit`, `ftq
/// worker`), and their results, delivered exactly once.
///
/// submit() writes DIR/job (JSON: the plan text, its data directory, the output path, who
/// submitted it and when), creates the manifest, sets ftq.state "queued" and adds the query to
/// the index. A worker that holds the lease (cluster/lease.hpp) runs it; when it succeeds,
/// commit_result() writes the CSV to fresh result chunks, then ONE fenced compound operation on
/// the manifest (the lease asserted, the version compared) sets ftq.state "succeeded" and
/// ftq.result (sha256, bytes, rows, chunk objects, committed_by, at). Only one worker's result
/// can ever be committed: a worker that lost its lease is refused (errc::lease_lost) and its
/// chunks are deleted. deliver() then writes the output file from the committed bytes
/// atomically (temp file, fsync, rename, directory fsync); it is idempotent, so any worker (or
/// `ftq submit --wait`) can finish a delivery that a crash interrupted, and the file is never
/// torn or written twice with different bytes.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "cluster/lease.hpp"
#include "rados/connection.hpp"

namespace ftq::io {
class rados_store;
}

namespace ftq::cluster {

struct job_spec {
  std::string query_id;                              // names its directory: 1-128 of [A-Za-z0-9._-]
  std::string plan_json;                             // the plan text as submitted
  std::string plan_name;                             // for logs and status ("" -> query_id)
  std::string data_dir;                              // absolute: relative csv_scan paths resolve against it
  std::string output_path;                           // absolute: where the result CSV is delivered
  std::size_t batch_rows = 0;                        // 0: the engine's default
  std::chrono::milliseconds checkpoint_interval{0};  // 0: adaptive
  std::string inject;        // fault injection spec applied by the worker (as `ftq run --inject`); "" none
  std::string submitted_by;  // "host:pid"
  std::chrono::system_clock::time_point submitted_at{};
};

struct result_info {
  std::string sha256;  // hex of the CSV bytes
  std::uint64_t bytes = 0;
  std::uint64_t rows = 0;
  std::string committed_by;
  std::chrono::system_clock::time_point committed_at{};
};

struct job_status {
  std::string query_id;
  job_spec spec;    // as submitted (plan_json included)
  ownership owner;  // state, owner, lease, history
  std::optional<result_info> result;
  std::string error;                        // why it failed, when failed
  std::optional<std::uint64_t> last_epoch;  // newest checkpoint entry in the manifest
};

class job_registry {
 public:
  /// `prefix` is the store's PREFIX (rados://POOL/PREFIX); query Q lives at layout::join(prefix, Q).
  job_registry(std::shared_ptr<io::rados_store> store, std::string prefix);
  /// Connects to the cluster of `uri` (blocking; $CEPH_CONF when `ceph_conf` is empty) and opens
  /// the registry of its prefix, with a store of its own on `executor`: what `ftq submit` and
  /// `ftq status` need. Throws ftq::error(errc::store_unavailable).
  static job_registry connect(boost::asio::any_io_executor executor, const rados::store_uri& uri,
                              const std::string& ceph_conf);

  std::string dir_of(const std::string& query_id) const;

  /// Registers a new query. Throws ftq::error(errc::setting_invalid) when the id is taken by a
  /// query that has not ended, io_error for cluster errors. A query that ended (succeeded or
  /// failed) under the same id is replaced: its checkpoints, result and history are cleared.
  boost::asio::awaitable<void> submit(job_spec spec);
  /// Every query id in the index, sorted.
  boost::asio::awaitable<std::vector<std::string>> list();
  /// What the store knows of a query. A directory with a manifest but no job (made by `ftq run
  /// --checkpoint-store`) has an empty spec but for its id. Throws io_error (ENOENT: no such
  /// query), ftq::error(errc::setting_invalid) for an id that cannot name a query.
  boost::asio::awaitable<job_status> status(std::string query_id);
  /// Marks the query running under `held` (fenced; appends no history: taking the lease did).
  /// `held` must have been taken through this registry's store (its fencing state lives there).
  boost::asio::awaitable<void> mark_running(lease& held);
  /// Commits the result exactly once (see above). Throws errc::lease_lost when fenced, and also
  /// when the query has ended already (succeeded or failed: nothing ends twice).
  boost::asio::awaitable<result_info> commit_result(lease& held, std::string csv, std::uint64_t rows);
  /// Ends the query as failed with `why` (fenced like a commit); the history records "failed: why"
  /// and status() reports `why` as its error.
  boost::asio::awaitable<void> mark_failed(lease& held, std::string why);
  /// The committed result's bytes (verified against its sha256: errc::checkpoint_corrupt if not,
  /// or if a chunk is missing). Throws ftq::error(errc::checkpoint_not_found) when the query has
  /// no committed result.
  boost::asio::awaitable<std::string> read_result(std::string query_id);
  /// Writes the committed result to the job's output_path unless a file with exactly those bytes
  /// is there already. Returns true when it wrote. Throws io_error for the local write.
  boost::asio::awaitable<bool> deliver(std::string query_id);

 private:
  std::shared_ptr<io::rados_store> store_;
  std::string prefix_;
};

}  // namespace ftq::cluster
