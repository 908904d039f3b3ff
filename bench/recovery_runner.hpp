#pragma once
/// Runs one plan once, for `ftq-bench recovery`, on a fresh engine (so no failure history, breaker
/// or budget carries over from an earlier run) with the checkpoint schedule, injected faults and
/// recovery policy a run_spec names, and returns its wall time, a digest of its result and what
/// fault tolerance and checkpointing did. Finishes when the query has succeeded or failed; a
/// failed query is a result (run_result::ok false), never an exception.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/plan.hpp>

#include "inject/fault_plan.hpp"

namespace ftq::bench {

struct run_spec {
  const plan* query = nullptr;
  /// The plan name the run uses (and fault injection's query scope); empty: the plan's own.
  std::string name;
  /// Take checkpoints (through the runner's manager).
  bool checkpoints = false;
  /// With checkpoints: every this many rows scanned; 0: the adaptive interval.
  std::uint64_t every_rows = 0;
  /// With the adaptive interval: the prior MTBF (unset: interval_options' default).
  std::optional<std::chrono::nanoseconds> prior_mtbf;
  /// Null: no faults. Shared: its rules' counts carry over between runs given the same plan.
  std::shared_ptr<inject::fault_plan> faults;
  /// Unset: the engine's default policy.
  std::optional<recovery_policy> recovery;
};

/// Digests of a result: equal results have equal digests.
struct result_digest {
  std::uint64_t rows = 0;
  std::uint64_t ordered = 0;    // depends on row order (for sorted results)
  std::uint64_t unordered = 0;  // a sum of row hashes: the same rows in any order
  bool operator==(const result_digest&) const = default;
};

struct run_result {
  double seconds = 0;  // prepare + run, wall time
  bool ok = false;
  std::error_code code;  // when !ok and the failure was an ftq::error
  std::string error;     // what() when !ok
  result_digest digest;
  fault_tolerance_stats ft;
  checkpoint_stats checkpoints;
  std::chrono::nanoseconds interval{0};  // the checkpoint interval in force at the end
  std::string interval_formula;
};

class recovery_runner {
 public:
  /// `base` holds the engine options every run starts from; checkpoints go under
  /// `checkpoint_dir`, which is emptied now.
  recovery_runner(engine_options base, const std::filesystem::path& checkpoint_dir);
  ~recovery_runner();
  recovery_runner(const recovery_runner&) = delete;
  recovery_runner& operator=(const recovery_runner&) = delete;

  run_result run(const run_spec& spec);
  const checkpoint_manager& manager() const noexcept { return *manager_; }

 private:
  boost::asio::io_context io_{1};
  engine_options base_;
  std::shared_ptr<checkpoint_manager> manager_;
  std::uint64_t runs_ = 0;
};

}  // namespace ftq::bench
