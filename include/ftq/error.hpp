#pragma once
/// Declares ftq's error codes (`ftq::errc`, with their own error_category) and the typed
/// exceptions that end a query. Each exception carries the context needed to act on it: the
/// plan path of a bad plan, file:line:column of a bad CSV cell, the path and errno of an I/O
/// failure, the operator of a failed query.

#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

namespace ftq {

enum class errc {
  plan_invalid = 1,  // the plan is malformed or refers to something that does not exist
  csv_malformed,     // a CSV file does not match its declared schema
  io_failed,         // a read or write of a data or result file failed
  query_cancelled,   // the query was cancelled before it finished
  internal,          // a broken invariant inside ftq (a bug)
  // Checkpoints (see docs/checkpoint-format.md).
  checkpoint_corrupt,              // a checksum, length or structure check failed: torn, truncated or bit-rotted
  checkpoint_tampered,             // the AES-GCM tag did not verify with the right key: the bytes were altered
  checkpoint_wrong_key,            // the file was encrypted with another key (its key id differs)
  checkpoint_key_missing,          // the file is encrypted and no key was given
  checkpoint_key_invalid,          // a key file or variable is unusable: wrong length, not hex, mode not 0600
  checkpoint_plan_mismatch,        // the checkpoint belongs to another plan
  checkpoint_version_unsupported,  // written by a newer (or unknown) format or state version
  checkpoint_not_found,            // no complete checkpoint exists for the query
  io_backend_unavailable,          // FTQ_IO_BACKEND forced a backend this machine cannot use
  // Fault tolerance (see docs/fault-tolerance.md).
  operator_failed,          // an operator raised an error of no more specific kind (injected faults too)
  transient_failure,        // a failure expected to pass when tried again (injected, or a flaky source)
  operator_stalled,         // the stall detector found an operator that stopped making progress
  retries_exhausted,        // the recovery policy's attempts for an operator ran out
  retry_budget_exhausted,   // the query's or the engine's retry budget is spent
  circuit_open,             // the failure detector holds the operator open and no probe is admitted
  recovery_failed,          // a recovery action itself failed (restoring state, a named handler)
  recovery_policy_invalid,  // a recovery policy names an unknown error class, action or handler
  handler_timeout,          // a named recovery handler overran its time limit
  // Settings.
  setting_invalid,  // an option's value is unusable (a status token too short, an address that does not parse)
  // Shared checkpoint stores and ownership (see docs/rados.md).
  store_unavailable,  // the checkpoint store cannot be reached or opened (no cluster, no pool, bad ceph.conf)
  lease_held,         // another live process owns the query (its lease is current)
  lease_lost,         // this process no longer owns the query: its lease lapsed or another took it over (fenced)
};

const std::error_category& ftq_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

/// Base of every exception ftq throws on purpose.
class error : public std::runtime_error {
 public:
  error(std::error_code code, const std::string& what) : std::runtime_error(what), code_(code) {}
  const std::error_code& code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// A plan that cannot run. what() is "<path>: <message>", e.g.
/// "plan.input.predicate.args[1]: unknown column 'l_shipdat' (columns: l_orderkey, ...)".
class plan_error : public error {
 public:
  plan_error(std::string path, std::string message);
  const std::string& path() const noexcept { return path_; }
  const std::string& message() const noexcept { return message_; }

 private:
  std::string path_;
  std::string message_;
};

/// A CSV file that does not match its schema. what() is "<file>:<line>:<column>: <message>";
/// line and column are 1-based, column counts bytes within the line.
class csv_error : public error {
 public:
  csv_error(std::string file, std::uint64_t line, std::uint64_t column, std::string message);
  const std::string& file() const noexcept { return file_; }
  std::uint64_t line() const noexcept { return line_; }
  std::uint64_t column() const noexcept { return column_; }

 private:
  std::string file_;
  std::uint64_t line_;
  std::uint64_t column_;
};

/// An operating-system I/O failure on `path`; code() is the system error (ENOSPC stays ENOSPC).
class io_error : public error {
 public:
  io_error(std::string path, std::error_code code, const std::string& doing);
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// A checkpoint that cannot be written or read back. what() names everything known of where:
/// "<path>: epoch 7: operator 3: offset 4096: <message>" (unknown parts are left out).
class checkpoint_error : public error {
 public:
  static constexpr std::uint64_t unknown = UINT64_MAX;

  checkpoint_error(std::error_code code, std::string path, std::string message, std::uint64_t epoch = unknown,
                   std::uint64_t operator_id = unknown, std::uint64_t offset = unknown);
  const std::string& path() const noexcept { return path_; }
  const std::string& message() const noexcept { return message_; }
  std::uint64_t epoch() const noexcept { return epoch_; }
  std::uint64_t operator_id() const noexcept { return operator_id_; }
  std::uint64_t offset() const noexcept { return offset_; }

 private:
  std::string path_;
  std::string message_;
  std::uint64_t epoch_;
  std::uint64_t operator_id_;
  std::uint64_t offset_;
};

/// A failure of one operator that recovery could not (or must not) absorb: what() is
/// "operator 3 (hash_join): <message>". code() says why recovery stopped (retries_exhausted,
/// retry_budget_exhausted, ...) or is the cause's own code when it was never retryable.
class operator_error : public error {
 public:
  operator_error(std::error_code code, std::uint64_t operator_id, std::string operator_name, std::string message,
                 std::uint32_t attempts = 0);
  std::uint64_t operator_id() const noexcept { return operator_id_; }
  const std::string& operator_name() const noexcept { return operator_name_; }
  const std::string& message() const noexcept { return message_; }
  /// Attempts made before giving up (0: none was allowed).
  std::uint32_t attempts() const noexcept { return attempts_; }

 private:
  std::uint64_t operator_id_;
  std::string operator_name_;
  std::string message_;
  std::uint32_t attempts_;
};

}  // namespace ftq

template <>
struct std::is_error_code_enum<ftq::errc> : std::true_type {};
