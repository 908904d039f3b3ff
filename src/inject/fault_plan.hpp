#pragma once
/// Decides which injected faults fire (docs/fault-injection.md): parses a spec string or JSON
/// file into rules, answers the engine before every operator produce call (throw, stall or crash
/// now?) and supplies the io::fault_injector that fails or crashes checkpoint commits. Every
/// decision is a function of the seed and the call's identity, never of timing, so a run is
/// reproducible however queries interleave. Off by default: a default-constructed plan is empty.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <ftq/error.hpp>

#include "inject/crash.hpp"
#include "io/file_store.hpp"

namespace ftq::inject {

enum class fault_kind : std::uint8_t { throw_transient, throw_fault, stall, crash };

/// What the engine must do before the operator produces: throw injected_error(f), await a
/// timer for stall_for, or crash_now(rule).
struct operator_fault {
  fault_kind kind = fault_kind::throw_fault;
  std::chrono::nanoseconds stall_for{0};
  std::string rule;  // the rule that fired, in canonical form: "throw:op=hash_join,batch=5"
};

/// The exception an injected throw raises: errc::transient_failure for class=transient, else
/// errc::operator_failed; what() is "injected fault (<rule>)".
ftq::error injected_error(const operator_fault& f);

namespace detail {
struct plan_state;
}

/// A handle: copies share the rules and the counters (each rule's `times` and `max` are counted
/// once over all copies). Safe to call from many threads at once.
class fault_plan {
 public:
  /// An empty plan: nothing is ever injected, on_produce() returns at once.
  fault_plan() = default;

  /// Parses "seed=7;throw:op=hash_join,batch=5;checkpoint:n=2,errno=EIO". Throws
  /// ftq::error(errc::recovery_policy_invalid) naming the rule and the key at fault.
  static fault_plan parse(std::string_view spec);
  /// Parses {"seed": 7, "rules": [{"kind": "throw", "op": "hash_join", "batch": 5}]}.
  static fault_plan from_json(std::string_view json);
  /// Reads a JSON file: ftq::io_error if it cannot be read; a bad plan's message starts with
  /// the path.
  static fault_plan load(const std::filesystem::path& file);
  /// The --inject convention: "@FILE" or a name ending in ".json" is a JSON file, anything else
  /// a spec string.
  static fault_plan from_argument(std::string_view arg);

  bool empty() const noexcept;
  std::uint64_t seed() const noexcept;
  /// The plan in canonical spec form ("seed=7;throw:op=hash_join,batch=5"); "" when empty.
  /// parse(describe()) gives an equivalent plan.
  std::string describe() const;

  /// Asked by the engine before operator `op` (named `name`) of query `query` produces:
  /// `batch` is its logical batch number (1-based: batches it has delivered + 1; it repeats on a
  /// retry or a replay), `call` a per-(query, operator) counter of produce calls that never repeats.
  /// A batch rule fires when batch == N until it has fired `times` times; a p rule by hash(call).
  /// Rules are tried in order; the first that fires is returned (and counted).
  std::optional<operator_fault> on_produce(std::string_view query, std::uint32_t op, std::string_view name,
                                           std::uint64_t batch, std::uint64_t call);

  /// For checkpoint_options::faults: the injector that counts commits and applies the
  /// checkpoint and crash:checkpoint rules (the same one on every call). Null when no such rule.
  std::shared_ptr<io::fault_injector> checkpoint_faults();

  struct counters {
    std::uint64_t throws = 0, stalls = 0, crashes = 0, checkpoint_failures = 0;
  };
  /// How many faults fired so far.
  counters injected() const;
  /// How many fired in query `query` (checkpoint_failures: the total, commits have no query).
  counters injected(std::string_view query) const;

 private:
  explicit fault_plan(std::shared_ptr<detail::plan_state> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::plan_state> state_;
};

}  // namespace ftq::inject
