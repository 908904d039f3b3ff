#pragma once
/// Describes one fault-injection rule as parsed from a spec or JSON file (fault_spec.hpp) and
/// prints it back in canonical spec form (fixed key order, defaults left out), which is how
/// injected errors and fault_plan::describe() name it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "io/file_store.hpp"

namespace ftq::inject {

enum class rule_kind : std::uint8_t {
  throw_error,       // throw:...   an operator throws before producing
  stall,             // stall:...   an operator waits before producing
  crash,             // crash:op... the process is SIGKILLed before an operator produces
  checkpoint_fail,   // checkpoint:... a checkpoint commit fails at one step with an errno
  checkpoint_crash,  // crash:checkpoint=N  the process is SIGKILLed before a step of a commit
};

struct fault_rule {
  rule_kind kind = rule_kind::throw_error;

  // Operator rules (throw, stall, crash). Which operator: by name, by id, or any when neither.
  std::optional<std::string> op_name;
  std::optional<std::uint32_t> op_id;
  std::string query;  // empty: every query
  // The trigger: batch > 0 fires at that logical batch number (`times` firings in all);
  // otherwise p fires by the seeded hash of the produce call (at most `max` firings when set).
  std::uint64_t batch = 0;
  std::uint64_t times = 1;
  double p = 0;
  std::optional<std::uint64_t> max;
  bool transient = false;                 // throw: class=transient (else class=fault)
  std::chrono::nanoseconds stall_for{0};  // stall: for=

  // Checkpoint rules: the commit (1-based, counted over the injector's life) and the step.
  std::uint64_t commit = 0;               // checkpoint: n=, crash: checkpoint=
  int error = 0;                          // checkpoint: errno=
  io::op_kind step = io::op_kind::write;  // open, write, fsync, rename or fsync_dir
};

/// The rule in canonical spec form, e.g. "throw:op=hash_join,batch=5" or
/// "checkpoint:n=3,times=2,errno=ENOSPC,step=fsync". Parsing it gives the same rule back.
std::string to_spec(const fault_rule& r);

/// The errnos a checkpoint rule may inject, by name: EIO and ENOSPC (nullopt for others).
std::optional<int> errno_from_name(std::string_view name);
/// "EIO", "ENOSPC"; "errno N" for any other value.
std::string errno_name(int error);

}  // namespace ftq::inject
