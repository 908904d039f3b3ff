#pragma once
/// Holds a compiled query's internals: the bound plan, its operator tree (with the CSV sink on
/// top when the result goes to a file), its execution context, its checkpointing and recovery,
/// and its published state.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>

#include <ftq/engine.hpp>

#include "engine/query_checkpointer.hpp"
#include "engine/query_recovery.hpp"
#include "exec/execution_context.hpp"
#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq {

namespace inject {
class checkpoint_fault_router;
}

struct query::impl {
  std::uint64_t id = 0;
  std::string name;
  query_options options;
  std::unique_ptr<plan_detail::bound_node> bound;
  exec::operator_ptr root;
  std::shared_ptr<exec::query_progress> progress;
  std::unique_ptr<exec::execution_context> context;
  std::atomic<query_state> state{query_state::prepared};
  std::unique_ptr<engine_detail::query_checkpointer> checkpointer;  // null: no checkpoints
  std::string checkpoint_id;
  std::optional<std::size_t> memory_sink;  // the id of the sink holding an in-memory result
  std::unique_ptr<fault_tolerant_context> fault_tolerance;
  std::unique_ptr<engine_detail::query_recovery> recovery;  // null: fault tolerance off
  // With a fault plan of its own (options.faults) and a checkpoint manager that routes faults:
  // the router, and the query's directory, routed to the plan's checkpoint rules while it runs.
  std::shared_ptr<inject::checkpoint_fault_router> fault_router;
  std::filesystem::path fault_dir;

  // When it ran and how it ended, for status (guarded: written by run(), read by any thread).
  mutable std::mutex ended_mutex;
  std::chrono::system_clock::time_point started_wall{};
  std::chrono::steady_clock::time_point started{};
  std::optional<std::chrono::system_clock::time_point> finished_wall;
  std::chrono::nanoseconds elapsed_final{0};
  std::string error_message;
  // Set by query::abandon() while it runs: run() then fails with this error whatever the
  // operators were doing (and the state goes from running to its end under ended_mutex too,
  // so an abandon() either lands before the end or is a no-op).
  struct abandonment {
    std::error_code code;
    std::string why;
  };
  std::optional<abandonment> abandoned;
};

}  // namespace ftq
