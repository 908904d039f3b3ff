#pragma once
/// The engine's internals: shared by engine.cpp (prepare, run) and engine_snapshot.cpp (what the
/// status endpoint reads).

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include <ftq/engine.hpp>
#include <ftq/status.hpp>

#include "engine/engine_metrics.hpp"
#include "engine/priority_scheduler.hpp"
#include "engine/recovery_gate.hpp"

namespace ftq {

struct fault_tolerant_execution_engine::impl {
  boost::asio::any_io_executor executor;
  engine_options options;
  std::chrono::system_clock::time_point started_wall = std::chrono::system_clock::now();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::mutex tables_mutex;
  std::map<std::string, table_ptr, std::less<>> tables;
  std::atomic<std::uint64_t> next_query_id{1};
  std::shared_ptr<clock> time;
  std::shared_ptr<failure_detector> detector;
  std::shared_ptr<retry_budget> budget;
  std::unique_ptr<engine_detail::recovery_gate> gate;
  std::unique_ptr<engine_detail::priority_scheduler> scheduler;
  engine_detail::engine_metrics metrics;
  std::unique_ptr<exec::yield_pressure> pressure;
  // Guards running and finished together, so a query moving from one to the other is never
  // seen in both or neither, and metrics' row totals move with it.
  mutable std::mutex running_mutex;
  std::vector<std::weak_ptr<query>> running;
  std::deque<query_status> finished;  // the last options.status_history, oldest first
  // The checkpoint backend the newest query with checkpoints uses, and why.
  std::string io_backend;
  std::string io_backend_reason;
  // set_cluster_view()'s provider: copied under the lock, called outside it (it takes its own).
  std::mutex cluster_mutex;
  std::shared_ptr<const std::function<cluster_view()>> cluster_provider;
};

namespace engine_detail {

/// One query's status now; `parts` chooses whether operators and checkpoints are filled.
query_status status_of(query& q, snapshot_parts parts);
/// Rows the query's scans produced (replays included: never decreases) and rows it output.
std::uint64_t rows_scanned_by(query& q);

}  // namespace engine_detail
}  // namespace ftq
