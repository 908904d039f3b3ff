#pragma once
/// Fails or crashes chosen steps of chosen checkpoint commits: an io::fault_injector that
/// numbers the commits a store performs (1, 2, ... from its construction, over every store it
/// is given to) and, before the step a rule names, returns the rule's errno or SIGKILLs the
/// process once the steps before it have run. Thread-safe, for every store: on RADOS a commit's
/// steps are write (its first chunk) and rename (the manifest operation, the commit point).

#include <atomic>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "inject/fault_rule.hpp"
#include "io/file_store.hpp"

namespace ftq::inject {

class checkpoint_fault_injector final : public io::fault_injector {
 public:
  /// Keeps the checkpoint_fail and checkpoint_crash rules of `rules` (the others are ignored).
  explicit checkpoint_fault_injector(const std::vector<fault_rule>& rules);

  int before(io::op_kind op, const std::filesystem::path& path) override;
  void after(io::op_kind op, const std::filesystem::path& path, int error) override;

  /// Commits started so far (each open of a temp file, or first chunk write on RADOS, is one).
  std::uint64_t commits() const;
  /// Steps failed on purpose so far.
  std::uint64_t failures() const;

 private:
  struct commit_state {
    std::uint64_t number = 0;
    bool wrote = false;   // the first write was seen: continuations are not "the write step"
    bool broken = false;  // a step was failed on purpose: later ones of this commit never run
  };
  struct pending_crash {
    io::op_kind op;
    std::string path;
    std::string why;
  };

  // Applies the rules to step `op` of commit `c`: an errno to inject, or 0.
  int decide(io::op_kind op, const std::filesystem::path& path, commit_state& c);

  std::vector<fault_rule> rules_;
  mutable std::mutex mu_;
  std::uint64_t commits_ = 0;
  std::uint64_t failures_ = 0;
  // Commits between the open of their temp file and the outcome of its rename, by temp path.
  std::map<std::string, commit_state> by_temp_;
  // RADOS commits in flight, by "DIR/NAME@UNIQUE" (their chunks are that plus ".i"), and the
  // file each will commit, DIR/NAME (the path of its manifest step, announced as a rename).
  std::map<std::string, commit_state> by_chunks_;
  std::map<std::string, std::string> chunks_of_file_;
  // Commits renamed (announced) whose directory fsync has not been announced yet, by directory.
  // The io_uring backend announces a whole chain before any of it runs, so a rename's outcome
  // comes after the fsync_dir's announcement: the queue links the two without it.
  std::map<std::string, std::deque<commit_state>> awaiting_dir_sync_;
  // Crash rules that fired: the step was failed so that the steps before it complete; its
  // outcome (after()) ends the process.
  std::vector<pending_crash> crashes_;
  std::atomic<bool> crash_pending_{false};
};

}  // namespace ftq::inject
