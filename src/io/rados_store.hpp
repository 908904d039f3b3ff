#pragma once
/// The checkpoint store on Ceph RADOS: the same file_store contract as the local directory, so
/// the checkpoint manager (format, checksums, compression, encryption, retention, chains,
/// corrupt-file fallback, verify) is unchanged above it. Paths are object-name prefixes: a
/// "file" DIR/NAME is a manifest entry of DIR (rados/layout.hpp) plus its data chunks.
///
/// commit(DIR, NAME): the bytes go to fresh chunk objects (at most chunk_bytes each, written in
/// parallel with write_full); then ONE compound operation on DIR/manifest checks that the
/// manifest is still at the version this store last saw (cmpxattr), and, when DIR is held under
/// a lease (adopt()), that this client still holds it (cls_lock assert_locked); it sets the entry
/// f/NAME and bumps the version. Either all of it happens or none: a reader sees the old entry
/// or the new one. A replaced entry's old chunks are deleted afterwards (best effort: what is
/// left is sweep()'s). A failed check throws ftq::error(errc::lease_lost) ("...: fenced: the
/// manifest moved to version 9 (expected 7): another process owns this query now"), never
/// retried; a cluster error throws ftq::io_error with the object name and the errno. The new
/// chunks are deleted after a failure unless the manifest operation's outcome is unknown (a
/// timeout: it may have applied), in which case sweep() decides later.
///
/// remove() drops entries the same way (one fenced compound op per directory) and then deletes
/// their chunks. read() reads the manifest entry and the chunks, checking every chunk's length
/// (a chunk that is short, long or gone is io_error EIO). list(DIR) lists the entries;
/// list_dirs(PREFIX) reads PREFIX/ftq.index; make_dirs(DIR) creates DIR/manifest (version 0) and
/// adds DIR's last component to the index of its parent; make_dirs of the store's root (the
/// URI's PREFIX, options.root) or of "" creates nothing: a prefix is a name space whose index
/// appears with its first query. sweep(DIR) deletes the chunks under DIR that no entry
/// references (a crashed or fenced writer's); it lists the whole pool (RADOS has no prefix
/// index) on a helper thread, and never touches the manifest, the job or result chunks.
///
/// A single write larger than max_write_bytes is refused before it is sent (io_error EMSGSIZE):
/// Ceph's own limit, osd_max_write_size, is 90 MB by default. The constructor already refuses
/// chunk_bytes above it, so only a misconfigured cluster (a lower osd_max_write_size) gets there:
/// its own EMSGSIZE is reported the same way.
///
/// Fault injection (file_store.hpp's fault_injector) sees these steps, path = object name:
///   commit:  read (DIR/manifest: the replaced entry and the version, alongside the chunk
///            writes), write (per chunk), rename (path DIR/NAME: the compound op, the commit
///            point), unlink (per old chunk after success; per new chunk after a failure)
///   read:    read (DIR/manifest), read (per chunk)
///   remove:  per directory read (DIR/manifest), unlink (DIR/manifest: the fenced removal),
///            then unlink per chunk
///   list:    list (DIR/manifest);  list_dirs: list (PREFIX/ftq.index)
///   make_dirs: mkdir (DIR/manifest), mkdir (PARENT/ftq.index)
///   sweep:   list (DIR), read (DIR/manifest), unlink per orphan chunk
///   update_manifest: read (DIR/manifest) when the version is not known, rename (DIR/manifest)
/// An injected errno fails that step exactly as the cluster returning it would (io_error whose
/// code() is that errno; the operation is not sent).
///
/// Concurrency: every operation's completion resumes the caller on its own executor; no thread
/// of it waits on the cluster. Fenced operations on one directory through one store are
/// serialized (so a commit and a retention removal of the same query never fence each other);
/// two stores, or two processes, on one directory fence each other by the version.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/any_completion_handler.hpp>

#include "io/file_store.hpp"
#include "rados/connection.hpp"

namespace ftq::io {

struct rados_store_options {
  /// Largest chunk object. Larger means fewer objects and round trips per file; each must stay
  /// within max_write_bytes (one write_full per chunk).
  std::size_t chunk_bytes = std::size_t{64} << 20;
  /// Largest single write sent to the cluster: Ceph's osd_max_write_size (90 MB by default).
  std::size_t max_write_bytes = std::size_t{90} << 20;
  /// Chunk writes or reads in flight at once per commit or read. Each write in flight holds a
  /// copy of its chunk (librados may still read a buffer after a timed-out operation returned).
  std::size_t parallel_chunks = 4;
  /// The store's root: the PREFIX of rados://POOL/PREFIX ("" for the pool's root). make_dirs of
  /// it creates nothing.
  std::string root{};
  /// What info().reason says; empty: "rados: pool POOL".
  std::string reason{};
};

class rados_store final : public file_store {
 public:
  /// Throws ftq::error(errc::setting_invalid) when chunk_bytes is 0 or above max_write_bytes, or
  /// parallel_chunks is 0.
  rados_store(boost::asio::any_io_executor executor, std::shared_ptr<rados::connection> connection,
              rados_store_options options = {}, std::shared_ptr<fault_injector> faults = nullptr);
  ~rados_store() override;

  boost::asio::awaitable<void> commit(const commit_request& request) override;
  boost::asio::awaitable<std::vector<std::byte>> read(std::filesystem::path path) override;
  boost::asio::awaitable<void> remove(std::vector<std::filesystem::path> paths) override;
  boost::asio::awaitable<std::vector<std::string>> list(std::filesystem::path dir) override;
  boost::asio::awaitable<std::vector<std::string>> list_dirs(std::filesystem::path dir) override;
  boost::asio::awaitable<void> make_dirs(std::filesystem::path dir) override;
  boost::asio::awaitable<std::vector<std::string>> sweep(std::filesystem::path dir) override;

  /// From now on, changes to `dir`'s manifest are made under the lease `cookie` (assert_locked in
  /// every compound op) and expect manifest version `version` (what taking the lease set it to).
  void adopt(const std::string& dir, const std::string& cookie, std::uint64_t version);
  /// Changes to `dir` no longer assert a lease (the query ended or its lease was released).
  void disown(const std::string& dir);
  /// Runs ONE fenced compound operation on `dir`'s manifest: `steps` (the caller's setxattrs,
  /// omap changes, cmpxattrs...), plus the version compare-and-set against what this store
  /// expects (read first if not known yet), the lease assertion when `dir` is adopted, and the
  /// version bump. Returns the new version. Throws ftq::error(errc::lease_lost) when the version
  /// or the lease check fails (the expected version is then re-read on next use; a failing
  /// cmpxattr among `steps` looks the same), io_error for any other cluster error. Not retried.
  boost::asio::awaitable<std::uint64_t> update_manifest(std::string dir,
                                                        std::function<void(librados::ObjectWriteOperation&)> steps);
  /// The manifest version this store expects for `dir` next (nullopt: not read yet).
  std::optional<std::uint64_t> expected_version(const std::string& dir) const;

  const std::shared_ptr<rados::connection>& connection() const noexcept { return connection_; }
  const rados_store_options& options() const noexcept { return options_; }

 private:
  struct manifest_read;  // what one read of a manifest returned (rados_store.cpp)
  struct fenced_result;  // what one fenced compound operation returned
  struct dir_state {
    std::optional<std::uint64_t> version;
    std::string lease_cookie;  // empty: no lease asserted
    bool busy = false;         // a fenced operation on the directory is running
    /// The next ones in order, each with the executor it resumes on.
    std::deque<std::pair<boost::asio::any_io_executor, boost::asio::any_completion_handler<void()>>> waiters;
  };
  /// Holds a directory's fenced-operation turn; gives it to the next waiter when destroyed.
  class dir_turn;

  boost::asio::awaitable<dir_turn> take_turn(std::string dir);
  void pass_turn(const std::string& dir);
  boost::asio::awaitable<manifest_read> read_manifest(std::string dir, std::set<std::string> keys);
  boost::asio::awaitable<fenced_result> fenced(std::string dir, std::uint64_t expected,
                                               std::function<void(librados::ObjectWriteOperation&)> steps, op_kind kind,
                                               std::string step_path);
  /// Throws what a failed fenced operation means: lease_lost (naming the version it found or the
  /// lease) or io_error.
  boost::asio::awaitable<void> throw_fenced_error(std::string dir, std::uint64_t expected, int r);
  boost::asio::awaitable<int> remove_object(std::string oid);
  /// Deletes `oids` (unlink steps), parallel_chunks at a time; returns the first error other than
  /// ENOENT with its object, or 0.
  boost::asio::awaitable<std::pair<int, std::string>> remove_objects(std::vector<std::string> oids);
  /// Every omap entry of `oid` whose key starts with `prefix`, the prefix cut from the keys, read
  /// page by page and announced to the fault injector as one `op` step; empty when `oid` does not
  /// exist. Throws io_error.
  boost::asio::awaitable<std::map<std::string, librados::bufferlist>> omap_entries(std::string oid, std::string prefix,
                                                                                   op_kind op);
  std::string next_unique();
  int before(op_kind op, const std::string& path);
  void after(op_kind op, const std::string& path, int error);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<rados::connection> connection_;
  rados_store_options options_;
  std::shared_ptr<fault_injector> faults_;
  mutable std::mutex mutex_;
  std::map<std::string, dir_state> dirs_;
};

}  // namespace ftq::io
