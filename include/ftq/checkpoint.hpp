#pragma once
/// Persists running queries' operator states so a query can resume after a failure instead of
/// starting over. A checkpoint_manager owns one directory: the checkpoints of query Q live in
/// DIR/Q/, one file per epoch (docs/checkpoint-format.md), each committed atomically and
/// durably (a crash leaves the previous checkpoint or the new one, never a torn one), written
/// through io_uring or, where that is unavailable, a small thread pool, so no executor thread
/// ever waits on the disk. Files are compressed (zstd by default) and optionally encrypted
/// (AES-256-GCM); large states that changed little are written as deltas chained to a full one.
/// Reading back picks the newest checkpoint whose checksums and tag verify.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace ftq {

namespace io {
class fault_injector;  // src/io/file_store.hpp: fails or crashes chosen I/O steps (tests, --inject)
}
namespace rados {
class connection;  // src/rados/connection.hpp: one client of a Ceph cluster and pool
}

enum class checkpoint_compression : std::uint8_t { none, lz4, zstd };

struct checkpoint_options {
  /// Root directory; created 0700 if missing. Unused with a RADOS store.
  std::filesystem::path dir{};
  /// Where checkpoints live: empty for the local directory `dir`, or "rados://POOL[/PREFIX]" for
  /// a Ceph RADOS pool (docs/rados.md): the same files, each an entry of its query's manifest
  /// object, committed atomically by one compound operation that also fences stale owners.
  std::string store{};
  /// RADOS: the ceph.conf to read; empty: $CEPH_CONF, else /etc/ceph/ceph.conf.
  std::filesystem::path ceph_conf{};
  /// RADOS: an open connection to share (workers share one among their queries and leases);
  /// null: the manager connects itself (blocking, in its constructor).
  std::shared_ptr<rados::connection> rados{};
  /// RADOS: checkpoint bytes go in objects of at most this size (at most 64 MiB), several written
  /// at once: a 64 MiB commit measured 293 ms as one object and 120-145 ms as 8 MiB chunks. A
  /// single write above rados_max_write_bytes (Ceph's osd_max_write_size, 90 MB by default) is
  /// refused.
  std::size_t rados_chunk_bytes = std::size_t{8} << 20;
  std::size_t rados_max_write_bytes = std::size_t{90} << 20;
  /// zstd at level 1 compresses operator state at several hundred MB/s; lz4 is a little faster
  /// and compresses less; none skips it.
  checkpoint_compression compression = checkpoint_compression::zstd;
  int compression_level = 1;
  /// AES-256-GCM key: a file of 32 raw bytes or 64 hex digits, mode 0600. Empty: the key comes
  /// from the environment variable `key_env` (64 hex digits) if set, else files are not encrypted.
  std::filesystem::path key_file{};
  std::string key_env = "FTQ_CHECKPOINT_KEY";
  /// Complete checkpoints kept per query; older ones, and files no kept one needs, are deleted.
  std::size_t keep = 2;
  /// Incremental checkpoints: a delta holds what changed since the previous epoch. A full one is
  /// forced after `max_deltas` deltas in a row, or once the deltas since the full one add up to
  /// more than `max_chain_ratio` times its size (restore replays the whole chain).
  bool incremental = true;
  std::size_t max_deltas = 8;
  double max_chain_ratio = 1.0;
  /// Keep a query's checkpoints after it succeeds (the last `keep`); by default they go.
  bool retain_on_success = false;
  /// "", "auto", "uring" or "threads"; empty defers to FTQ_IO_BACKEND.
  std::string io_backend{};
  /// Receives one line per notable event (backend chosen, checkpoint skipped and why, commit
  /// failed). Empty: events are dropped (they stay visible through the returned reports).
  std::function<void(std::string_view)> log{};
  /// Fault injection for tests, benchmarks and the demo (docs/fault-injection.md): consulted
  /// before every I/O step of the store. Null, the default, in production.
  std::shared_ptr<io::fault_injector> faults{};
};

/// One checkpoint file as its header describes it.
struct checkpoint_info {
  std::string query_id;
  std::uint64_t epoch = 0;
  bool delta = false;
  std::uint64_t base_epoch = 0;    // the full checkpoint its chain starts at
  std::uint64_t parent_epoch = 0;  // what a delta applies on top of
  std::chrono::system_clock::time_point created;
  std::uint64_t raw_bytes = 0;     // serialized state, before compression
  std::uint64_t stored_bytes = 0;  // file size
  std::string compression;
  bool encrypted = false;
  std::string backend;  // I/O backend that wrote it
  std::filesystem::path path;
  std::vector<std::uint32_t> operator_ids;
};

/// The outcome of verifying one checkpoint file.
struct checkpoint_check {
  checkpoint_info info;   // as much as could be read (path always)
  std::error_code error;  // empty when the file verified
  std::string message;    // what failed, with offset and operator where known
};

class checkpoint_manager {
 public:
  /// Chooses the I/O backend and loads the key (throws checkpoint_error(checkpoint_key_invalid)
  /// for a bad key file, ftq::error(io_backend_unavailable) for a backend that cannot work).
  checkpoint_manager(boost::asio::any_io_executor executor, checkpoint_options options);
  ~checkpoint_manager();
  checkpoint_manager(const checkpoint_manager&) = delete;
  checkpoint_manager& operator=(const checkpoint_manager&) = delete;

  const checkpoint_options& options() const noexcept;
  /// "io_uring", "threads" or "rados", and why it was chosen.
  std::string_view backend() const noexcept;
  const std::string& backend_reason() const noexcept;
  bool encrypts() const noexcept;

  /// Creates the directory (0700) and deletes temp files a crashed commit left behind. Returns
  /// how many it deleted. Queries call it before their first checkpoint. On RADOS it does
  /// nothing: each query sweeps its own objects when it opens them.
  boost::asio::awaitable<std::size_t> open();
  /// Every checkpoint file of `query_id` (all queries when empty), newest epoch first per query.
  /// Reads headers only: no key needed. Unreadable files are reported by verify(), not here. A
  /// named query without any checkpoint throws checkpoint_error(checkpoint_not_found).
  boost::asio::awaitable<std::vector<checkpoint_info>> list(std::string query_id);
  /// Verifies every checkpoint file (checksums, and the tag when encrypted and a key is set).
  boost::asio::awaitable<std::vector<checkpoint_check>> verify(std::string query_id);
  /// Deletes all checkpoints of `query_id`.
  boost::asio::awaitable<void> remove_query(std::string query_id);

  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace ftq
