#pragma once
// Provides a fault_injector that simulates a power loss (after LevelDB's fault_injection_test):
// it watches the operations a store performs on one directory, can make the machine "stop"
// after the n-th operation, and crash() then rewrites the directory to what a real disk would
// hold after the power came back.
//
// The model, which is what POSIX promises and no more:
// - A file's content is durable as of its last successful fsync; it is read back from disk in
//   after(fsync). A file never fsynced has empty durable content.
// - A directory's entries (which name holds which file) are durable as of its last successful
//   fsync_dir: a creation, rename or unlink not followed by a directory fsync is lost.
// - Files are identities, not names: a rename moves the file; the name it replaced keeps, in
//   the durable entries, the old file and its old durable content until the directory is fsynced.
// - Files present when the simulator starts count as durable, entries and content.
// So crash() removes every regular file of the directory and writes back, for each durable
// entry, the durable content of the file it names. Only the watched directory is modelled
// (not its subdirectories); ops elsewhere are counted but otherwise ignored.
//
// With the io_uring backend after() calls come when the whole chain has completed, after later
// links already ran; after(fsync) of a temp file that is gone reads it at committed_path(),
// which holds the same inode (nothing writes to a file between its fsync and its rename).

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "io/file_store.hpp"

namespace ftq::test {

class crash_simulator : public ftq::io::fault_injector {
 public:
  /// Watches `dir`, taking its current files as durable.
  explicit crash_simulator(std::filesystem::path dir);

  /// Operations numbered after `n` (1-based, all kinds, counted from construction) fail with
  /// EIO without running: the machine stopped after operation n (0: before the first). Until
  /// this is called the machine never stops.
  void stop_after(std::size_t n);
  /// How many operations were announced so far (stopped ones included).
  std::size_t operations() const;

  int before(ftq::io::op_kind op, const std::filesystem::path& path) override;
  void after(ftq::io::op_kind op, const std::filesystem::path& path, int error) override;

  /// Rewrites the directory to its durable state (see above) and carries on from there with the
  /// machine running again and the operation count reset.
  void crash();

 private:
  struct file_state {
    std::string durable;
  };
  using entries = std::map<std::string, std::shared_ptr<file_state>>;
  // The name of `path` if it lies directly in the watched directory, else "".
  std::string name_in_dir(const std::filesystem::path& path) const;

  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::optional<std::size_t> stop_after_;
  std::size_t count_ = 0;
  entries live_;     // the directory as it is now
  entries durable_;  // as of its last fsync
};

}  // namespace ftq::test
