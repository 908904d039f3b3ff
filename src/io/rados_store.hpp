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
/// or the new one. A replaced entry's old chunks are deleted afterwards. A failed check throws
/// ftq::error(errc::lease_lost) ("...: fenced: the manifest moved to version 9 (expected 7):
/// another process owns this query now"), never retried; a cluster error throws ftq::io_error
/// with the object name and the errno.
///
/// remove() drops entries the same way (one fenced compound op per directory) and then deletes
/// their chunks. read() reads the manifest entry and the chunks. list(DIR) lists the entries;
/// list_dirs(PREFIX) reads PREFIX/ftq.index; make_dirs(DIR) creates DIR/manifest (version 0) and
/// adds DIR's last component to the index of its parent. sweep(DIR) deletes the objects under
/// DIR that no entry references (a crashed or fenced writer's chunks).
///
/// A single write larger than max_write_bytes is refused before it is sent (io_error EMSGSIZE):
/// Ceph's own limit, osd_max_write_size, is 90 MB by default.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>

#include "io/file_store.hpp"
#include "rados/connection.hpp"

namespace ftq::io {

struct rados_store_options {
  std::size_t chunk_bytes = std::size_t{64} << 20;
  std::size_t max_write_bytes = std::size_t{90} << 20;
  /// Chunk writes or reads in flight at once per commit or read.
  std::size_t parallel_chunks = 4;
};

class rados_store final : public file_store {
 public:
  /// Throws ftq::error(errc::setting_invalid) when chunk_bytes is 0 or above max_write_bytes.
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
  /// or the lease check fails (the expected version is then re-read on next use), io_error for
  /// any other cluster error. Not retried.
  boost::asio::awaitable<std::uint64_t> update_manifest(std::string dir,
                                                        std::function<void(librados::ObjectWriteOperation&)> steps);
  /// The manifest version this store expects for `dir` next (nullopt: not read yet).
  std::optional<std::uint64_t> expected_version(const std::string& dir) const;

  const std::shared_ptr<rados::connection>& connection() const noexcept { return connection_; }
  const rados_store_options& options() const noexcept { return options_; }

 private:
  struct dir_state {
    std::optional<std::uint64_t> version;
    std::string lease_cookie;  // empty: no lease asserted
  };
  boost::asio::any_io_executor executor_;
  std::shared_ptr<rados::connection> connection_;
  rados_store_options options_;
  std::shared_ptr<fault_injector> faults_;
  mutable std::mutex mutex_;
  std::map<std::string, dir_state> dirs_;
};

}  // namespace ftq::io
