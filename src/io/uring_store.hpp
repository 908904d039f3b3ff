#pragma once
/// Makes the io_uring file store: one ring per store, completions awaited through an eventfd on
/// the store's executor. A commit is one linked SQE chain (openat into a fixed-file slot, writev,
/// fsync, close, renameat, openat of the directory, fsync, close); reads, unlinks and mkdirs go
/// through the ring one SQE at a time; list() runs on a one-thread pool (io_uring has no getdents).

#include <climits>
#include <memory>
#include <string>

#include "io/file_store.hpp"

namespace ftq::io::detail {

/// Knobs of the ring; the defaults suit production, tests shrink them to reach rare paths.
struct uring_options {
  /// SQ entries: the longest chain submitted at once. Longer chains (a commit of more than
  /// ring_entries - 7 write groups) are submitted in pieces, each after the previous completed.
  unsigned ring_entries = 256;
  /// iovecs per WRITEV SQE (IOV_MAX is the kernel's limit).
  unsigned max_iov = IOV_MAX;
  /// Fixed-file slots: commits and directory fsyncs in flight at once; more wait for a slot.
  unsigned fixed_files = 64;
  /// Tests only: when non-zero, the kernel is let consume at most this many SQEs of a piece at
  /// its first submit, as if io_uring_submit had returned less (the chain breaks there).
  unsigned submit_limit = 0;
};

/// Throws ftq::error(errc::io_backend_unavailable) if the ring cannot be set up.
std::unique_ptr<file_store> make_uring_store(boost::asio::any_io_executor executor,
                                             std::shared_ptr<fault_injector> faults, uring_options options,
                                             std::string reason);

/// What probe_io_uring() checks, for backend_info::reason ("ring, fixed-file table, ...").
std::string probe_summary();

}  // namespace ftq::io::detail
