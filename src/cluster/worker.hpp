#pragma once
/// Runs the queries a pool of `ftq worker` processes shares through a RADOS checkpoint store
/// (docs/rados.md). Every poll interval it reads the index, takes the lease of each queued query
/// and of each running one whose owner's lease lapsed (up to max_queries at once), resumes it
/// from its newest valid checkpoint, runs it with checkpoints into the same store, commits the
/// result exactly once and delivers it to the job's output path. A lost lease or a fenced commit
/// stops the query at once; stop() stops every query after a final checkpoint and releases its
/// lease. Finishes when stopped, or after exit_when_idle without anything to run.
///
/// Logs one line per event, "<UTC ISO 8601 with ms>Z ftq worker <name>: <event>" (the events
/// are those of the `ftq worker` command line, docs/rados.md).

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <ftq/engine.hpp>
#include <ftq/status.hpp>

#include "cluster/job_registry.hpp"
#include "cluster/lease.hpp"

namespace ftq::cluster {

struct worker_options {
  /// "rados://POOL[/PREFIX]": the store whose queries this worker runs.
  std::string store;
  /// The ceph.conf to read; empty: $CEPH_CONF, else /etc/ceph/ceph.conf.
  std::filesystem::path ceph_conf{};
  /// Names the worker in leases, history and logs; empty: "<hostname>-<pid>-<4 random hex>".
  std::string name{};
  /// Lease duration and renewal period: a shorter lease means a faster takeover of a dead
  /// owner's queries and more renewal traffic; a renewal slower than the lease loses it.
  lease_options lease{};
  /// How often the index is read: shorter means queries start sooner, more reads of the cluster.
  std::chrono::milliseconds poll{200};
  /// Queries this worker runs at once (they share its one executor thread).
  std::size_t max_queries = 1;
  /// Finish once nothing has been running or startable for this long; nullopt: run until stop().
  std::optional<std::chrono::milliseconds> exit_when_idle{};
  /// Receives each log line (without a newline). Empty: stderr, flushed per line.
  std::function<void(std::string_view)> log{};
};

/// "<hostname>-<pid>-<4 random hex>".
std::string default_worker_name();
/// A query's status as the status endpoint and `ftq status` show it.
cluster_query to_cluster_query(const job_status& s, std::chrono::system_clock::time_point now);

class worker {
 public:
  /// Connects to the cluster (blocking) and opens the store. Throws ftq::error(setting_invalid)
  /// for a bad store URI, ftq::error(store_unavailable) when the cluster cannot be reached.
  worker(boost::asio::io_context& io, worker_options options);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  const std::string& name() const noexcept;
  const std::string& store() const noexcept;
  /// The one engine every query of the worker runs on, each with its job's batch size and
  /// injected faults (for a status endpoint: it lists them all).
  engine& query_engine() noexcept;
  /// Every query of the store as of the last poll, with this worker's counters. Thread-safe.
  cluster_view view() const;

  /// Polls and runs queries until stop() or exit_when_idle; returns once every query it ran has
  /// ended and its lease is released. Call once.
  boost::asio::awaitable<void> run();
  /// Writes one line in the worker's format: "<time> ftq worker <name>: <event>".
  void log(std::string_view event) const;

  /// Asks run() to finish: running queries stop after a final checkpoint, their leases are
  /// released. Call on the io_context's thread.
  void stop();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace ftq::cluster
