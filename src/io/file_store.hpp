#pragma once
/// The disk seam of checkpoints: a store that commits whole files atomically and durably, and
/// reads, lists and removes them, without ever blocking the caller's executor thread. Two
/// backends: io_uring (a commit is one linked SQE chain awaited through an eventfd) and a small
/// thread pool running plain syscalls. make_file_store() probes io_uring (ring setup and every
/// opcode used) and falls back to threads on its own; FTQ_IO_BACKEND=uring|threads forces one.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace ftq::io {

enum class backend_kind : std::uint8_t { io_uring, threads, rados };
std::string_view backend_name(backend_kind k) noexcept;  // "io_uring", "threads", "rados"

/// Which backend a store uses and why (e.g. "io_uring: probed ring and 7 opcodes",
/// "threads: io_uring_queue_init: Operation not permitted", "threads: forced by FTQ_IO_BACKEND").
struct backend_info {
  backend_kind kind = backend_kind::threads;
  std::string reason;
};

enum class backend_choice : std::uint8_t { automatic, io_uring, threads };
/// Reads FTQ_IO_BACKEND: unset or "auto" -> automatic, "uring" -> io_uring, "threads" -> threads.
/// Throws ftq::error(errc::io_backend_unavailable) for any other value.
backend_choice backend_choice_from_env();

/// Probes io_uring: sets up a ring and checks every opcode a commit or read uses. Returns the
/// reason it cannot be used, or an empty string if it can.
std::string probe_io_uring();

/// One file to commit: its bytes are the concatenation of `buffers`, which stay valid until the
/// commit completes.
struct commit_request {
  std::filesystem::path dir;  // existing directory; the file lands at dir / name
  std::string name;
  std::vector<std::span<const std::byte>> buffers;
};

/// Every I/O operation a store performs, for fault injection and crash simulation.
enum class op_kind : std::uint8_t { open, write, fsync, close, rename, fsync_dir, read, unlink, mkdir, list, stat };
std::string_view op_name(op_kind k) noexcept;  // "open", "write", ...

/// The file a commit's temp file "<name>.tmp-<unique>" lands on: the same path with the
/// ".tmp-<unique>" suffix cut (a path without that suffix is returned as it is).
std::filesystem::path committed_path(const std::filesystem::path& temp);
/// Whether a file name is a commit's temp file (left behind only by a crash mid-commit).
bool is_temp_name(std::string_view name) noexcept;

/// Test seam: consulted before and told after every operation of every backend (so it must be
/// thread-safe). Production stores have none.
///
/// Both backends perform the same operations in the same order. A commit of `dir/name` is:
/// open, write (one per group of up to IOV_MAX buffers, plus one per short-write continuation),
/// fsync, close (all on the temp file), rename (path: the temp file; it lands on
/// committed_path(path)), open, fsync_dir, close (all on `dir`); after a failure, unlink of the
/// temp file if it was created and not renamed. A read is open, stat, read..., close. remove is
/// unlink per path, then open/fsync_dir/close per directory that lost a file; make_dirs is mkdir
/// per component, then open/fsync_dir/close of each created directory's parent; list is one op.
/// A close that fails (injected or real) still releases the descriptor, as close(2) does.
///
/// The threads backend calls before() and after() around each syscall on its pool thread. The
/// io_uring backend calls before() when it prepares the SQE (on the submitting thread; a
/// non-zero errno replaces the SQE by one that fails, so a linked chain breaks exactly there) and
/// after() when the whole submitted chain has completed (steps cancelled by an earlier failure
/// are reported with ECANCELED): by then later links of the chain have already run, which is why
/// a rename carries the temp path and committed_path() names its destination.
class fault_injector {
 public:
  virtual ~fault_injector() = default;
  /// Returns 0 to let the operation run, or an errno (EIO, ENOSPC, ...) to fail it with instead.
  virtual int before(op_kind op, const std::filesystem::path& path) = 0;
  /// Reports the operation's outcome: 0 or the errno it failed with.
  virtual void after(op_kind op, const std::filesystem::path& path, int error) = 0;
};

class file_store {
 public:
  virtual ~file_store() = default;
  const backend_info& info() const noexcept { return info_; }

  /// Writes the file atomically and durably: a temp file "<name>.tmp-<unique>" in `dir`, created
  /// 0600 (O_EXCL), all bytes written (short writes continued), fsync, close, rename onto
  /// `name`, fsync of `dir`. A crash at any instant leaves either the old `name` (or none) or
  /// the new one complete; a failure removes the temp file when it can. Throws ftq::io_error
  /// carrying the path, the system error itself (ENOSPC stays ENOSPC) and the step that failed:
  /// what() is "<path>: <op_name>: <strerror>", the path being the temp file for open, write,
  /// fsync and close, dir/name for rename, and `dir` for its open, fsync_dir and close. A
  /// failure from the directory steps on leaves the new file in place, but not yet durable.
  virtual boost::asio::awaitable<void> commit(const commit_request& request) = 0;
  /// Reads a whole file. Throws ftq::io_error.
  virtual boost::asio::awaitable<std::vector<std::byte>> read(std::filesystem::path path) = 0;
  /// Removes files (missing ones are fine), then fsyncs their directories. Throws ftq::io_error.
  virtual boost::asio::awaitable<void> remove(std::vector<std::filesystem::path> paths) = 0;
  /// Names of the regular files in `dir` (not recursive), sorted; empty if `dir` does not exist.
  /// Temp files a crash left behind are listed too (is_temp_name() tells them apart).
  virtual boost::asio::awaitable<std::vector<std::string>> list(std::filesystem::path dir) = 0;
  /// Names of the subdirectories of `dir`, sorted; empty if `dir` does not exist.
  virtual boost::asio::awaitable<std::vector<std::string>> list_dirs(std::filesystem::path dir) = 0;
  /// Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are).
  virtual boost::asio::awaitable<void> make_dirs(std::filesystem::path dir) = 0;
  /// Deletes what crashed commits left behind in `dir` (temp files here; unreferenced chunks in
  /// RADOS) and returns their names. Call it only while no commit into `dir` is in flight.
  virtual boost::asio::awaitable<std::vector<std::string>> sweep(std::filesystem::path dir);

 protected:
  explicit file_store(backend_info info) : info_(std::move(info)) {}

 private:
  backend_info info_;
};

/// Makes a store whose operations complete on `executor`. With backend_choice::automatic, uses
/// io_uring if probe_io_uring() passes, else threads (the reason is kept in info()). Forcing
/// io_uring where it cannot work throws ftq::error(errc::io_backend_unavailable). The store may
/// be used from several threads running `executor` at once; destroy it with no operation in
/// flight and before the executor's execution context.
std::unique_ptr<file_store> make_file_store(boost::asio::any_io_executor executor,
                                            backend_choice choice = backend_choice_from_env(),
                                            std::shared_ptr<fault_injector> faults = nullptr);

}  // namespace ftq::io
