#pragma once
// Gives the checkpoint tests one way to reach a checkpoint store, whichever it is: a local
// directory written through the threads or the io_uring backend, or a prefix of a Ceph RADOS
// pool (FTQ_TEST_RADOS=rados://POOL with CEPH_CONF, as tests/rados/with-cluster.sh exports).
// It reads back what a manager committed, damages it at rest (the file itself locally; on RADOS
// a new commit of the same entry, which is all a damaged "disk" can look like there), lists the
// epochs present and what crashed commits left behind: temp files locally, chunk objects that no
// manifest entry references on RADOS (src/rados/layout.hpp, read here independently of the store).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <ftq/checkpoint.hpp>

#include "io/file_store.hpp"
#include "rados/connection.hpp"
#include "support/temp_dir.hpp"

namespace ftq::test {

/// FTQ_TEST_RADOS ("rados://POOL[/PREFIX]") taken apart; nullopt when it is unset or empty.
std::optional<rados::store_uri> rados_test_uri();
/// One connection per process to FTQ_TEST_RADOS's pool (CEPH_CONF's cluster), made on first use
/// and shared by every test after it. Throws when FTQ_TEST_RADOS is unset or the cluster is
/// unreachable.
std::shared_ptr<rados::connection> rados_test_connection();
/// A "rados://POOL/PREFIX" that no other test, run or process uses: FTQ_TEST_RADOS's own prefix,
/// then "ftq-test-<pid>-<random>", then "<n>-<hint>" (hint cut to the allowed characters).
std::string unique_rados_store(std::string_view hint);
/// Deletes every object whose name starts with `prefix` + "/" (best effort, for cleanup).
void remove_rados_objects(const std::string& prefix) noexcept;

/// Store kinds the checkpoint tests loop over: "threads" always, "uring" when io_uring works
/// here, "rados" when FTQ_TEST_RADOS is set.
std::vector<std::string> checkpoint_store_kinds();

class checkpoint_store_fixture {
 public:
  /// `kind`: "threads", "uring" or "rados".
  explicit checkpoint_store_fixture(std::string kind);
  /// RADOS: deletes every object under its prefix (the local directory goes with tmp()).
  ~checkpoint_store_fixture();
  checkpoint_store_fixture(const checkpoint_store_fixture&) = delete;
  checkpoint_store_fixture& operator=(const checkpoint_store_fixture&) = delete;

  const std::string& kind() const noexcept { return kind_; }
  bool on_rados() const noexcept { return kind_ == "rados"; }
  /// What checkpoint_manager::backend() says for this kind: "threads", "io_uring" or "rados".
  std::string backend_name() const;
  /// A local directory of its own (key files live here whatever the store).
  const temp_dir& tmp() const noexcept { return tmp_; }

  /// Options of a manager on this store, the same on every call (so a second manager finds the
  /// first one's checkpoints): locally tmp()/ck with the backend forced; on RADOS a prefix of
  /// its own and the shared connection. No key from the environment.
  checkpoint_options options() const;
  /// The root a manager made from options() lists: tmp()/ck, or the RADOS prefix.
  std::filesystem::path root() const;
  /// Where query `id`'s checkpoints live: root()/id.
  std::filesystem::path query_dir(const std::string& id) const;
  /// A store of this kind over the same root as options(), routing its I/O through `faults`.
  std::unique_ptr<io::file_store> make_store(boost::asio::any_io_executor executor,
                                             std::shared_ptr<io::fault_injector> faults) const;

  /// The stored bytes of checkpoint `path`, read through m's store on `io` (m's io_context).
  std::string bytes(boost::asio::io_context& io, checkpoint_manager& m, const std::filesystem::path& path) const;
  /// Replaces checkpoint `path`'s bytes at rest: locally the file is rewritten; on RADOS the same
  /// entry is committed anew through m's store (so m's own view of the manifest stays current).
  void overwrite(boost::asio::io_context& io, checkpoint_manager& m, const std::filesystem::path& path,
                 const std::string& bytes) const;
  /// Flips one bit of the byte at `offset` at rest.
  void flip_byte(boost::asio::io_context& io, checkpoint_manager& m, const std::filesystem::path& path,
                 std::size_t offset) const;
  /// Cuts checkpoint `path` to `size` bytes at rest.
  void truncate(boost::asio::io_context& io, checkpoint_manager& m, const std::filesystem::path& path,
                std::size_t size) const;

  /// Epochs of query `id`'s checkpoints present, sorted. Fails the test (REQUIRE) on anything
  /// else there: a file or entry that is not a checkpoint, a temp file, an unreferenced chunk.
  std::vector<std::uint64_t> epochs(const std::string& id) const;
  /// What crashed or failed commits left anywhere under root(): temp files (paths relative to
  /// root()) locally; on RADOS chunk objects that no manifest entry references (object names).
  std::vector<std::string> strays() const;

  /// RADOS: writes an object of `bytes` named `oid` directly, as a writer that crashed before its
  /// manifest operation left it. Local kinds: writes the file root()/oid.
  void plant(const std::string& oid, const std::string& bytes) const;

 private:
  std::string kind_;
  temp_dir tmp_{"ftq-ckstore"};
  std::string store_;   // RADOS: rados://POOL/PREFIX
  std::string prefix_;  // RADOS: PREFIX
};

/// Chunk objects under `prefix` + "/" that no manifest entry references (see strays()).
std::vector<std::string> rados_strays(const std::string& prefix);
/// Committed files under `prefix` + "/" (one per manifest entry, at any depth) plus the
/// unreferenced chunk groups (one per crashed writer's file): what files_in() counts on RADOS.
std::size_t rados_files(const std::string& prefix);

}  // namespace ftq::test
