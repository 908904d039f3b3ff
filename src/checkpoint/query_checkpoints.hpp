#pragma once
/// One query's stream of checkpoints: commits snapshots of its operator states as epochs (full
/// or delta), applies retention after each commit, restores the newest valid chain, and cleans
/// up when the query ends. Epochs only grow over a directory's lifetime, so a file is never
/// overwritten and a delta always names exactly the files it builds on.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/checkpoint.hpp>

#include "checkpoint/file_format.hpp"
#include "exec/execution_context.hpp"

namespace ftq::checkpoint {

/// An operator state to snapshot or restore, by operator id.
struct state_ref {
  std::uint32_t operator_id = 0;
  exec::operator_state* state = nullptr;
};

/// What one commit wrote and what it cost.
struct commit_report {
  checkpoint_info info;
  std::chrono::nanoseconds serialize{0};  // packing, compression, encryption
  std::chrono::nanoseconds write{0};      // the durable commit
  std::vector<section_info> sections;     // each state's section: sizes and kind
  std::vector<std::uint64_t> retained;    // epochs still on disk after retention ran
};

/// What a restore found: the checkpoint it restored (none: start from scratch) and every newer
/// one it had to skip, with the reason.
struct restore_report {
  std::optional<checkpoint_info> restored;
  std::vector<checkpoint_check> skipped;
};

class query_checkpoints {
 public:
  query_checkpoints(checkpoint_manager& manager, std::string query_id, std::array<unsigned char, 32> plan_hash);

  const std::string& query_id() const noexcept { return query_id_; }

  /// Creates the query's directory, sweeps temp files of crashed commits and learns the epochs
  /// already there. Called once before commit() or restore().
  boost::asio::awaitable<void> open();

  /// Snapshots `states` as the next epoch (a delta when allowed and worthwhile), commits it
  /// durably, marks the states committed, then deletes what retention no longer needs. On an
  /// I/O failure it throws and the states stay as they were: the next delta still builds on the
  /// last committed epoch.
  boost::asio::awaitable<commit_report> commit(std::vector<state_ref> states);

  /// Restores the newest checkpoint whose whole chain verifies into states fresh from
  /// make_state(); `fresh` re-creates them if a chain fails halfway. Corrupt, truncated or
  /// tampered files are skipped (logged, and listed in the report); a checkpoint of another
  /// plan, a wrong or missing key throw checkpoint_error.
  boost::asio::awaitable<restore_report> restore(std::function<std::vector<state_ref>()> fresh);

  /// For rolling part of a running query back: reads the chain of the epoch last committed or
  /// restored and hands every section, base first, to `apply` (on the manager's CPU pool; the
  /// caller's coroutine is suspended meanwhile). Returns false, calling nothing, when there is
  /// no such epoch. Errors are thrown: this chain verified when it was written or restored.
  using section_visitor =
      std::function<void(std::uint32_t operator_id, const msgpack::object& section, exec::snapshot_kind kind)>;
  boost::asio::awaitable<bool> reload_committed(section_visitor apply);

  /// Deletes every checkpoint of the query (a fresh start was asked for).
  boost::asio::awaitable<void> discard_all();

  /// The query ended: deletes its checkpoints, or only applies retention when the manager's
  /// options say to retain them (or the query did not succeed).
  boost::asio::awaitable<void> finish(bool succeeded);

  std::uint64_t commits() const noexcept { return commits_; }
  const std::optional<checkpoint_info>& last_commit() const noexcept { return last_; }

 private:
  /// A checkpoint file of this query as far as retention and chains need to know it.
  struct known_file {
    file_kind kind = file_kind::full;
    std::uint64_t parent_epoch = 0;
    std::uint64_t base_epoch = 0;
    std::uint64_t stored_bytes = 0;
    bool readable = true;  // false: its header did not parse
  };

  file_kind choose_kind() const;
  /// Epochs of `epoch`'s chain, newest first, ending at its full base; empty if a link is missing.
  std::vector<std::uint64_t> chain_of(std::uint64_t epoch) const;
  boost::asio::awaitable<void> apply_retention();
  void refuse_other_plan(const file_summary& s, const std::string& path) const;
  /// Reads and verifies every file of `chain` (newest first), returned base first.
  boost::asio::awaitable<std::vector<decoded_file>> read_chain(std::vector<std::uint64_t> chain);
  /// Loads a verified chain, base first, into `states`.
  void apply_chain(const std::vector<decoded_file>& chain, const std::vector<state_ref>& states) const;
  /// New deltas extend the restored `chain` (newest first).
  void note_restored(const std::vector<std::uint64_t>& chain);

  checkpoint_manager::impl& manager_;
  std::string query_id_;
  std::array<unsigned char, 32> plan_hash_;
  std::filesystem::path dir_;
  bool opened_ = false;

  std::map<std::uint64_t, known_file> files_;  // by epoch, as found by open() and written since
  std::uint64_t next_epoch_ = 1;

  // The chain new deltas extend: set by a commit or a restore.
  std::optional<std::uint64_t> committed_epoch_;
  std::uint64_t base_epoch_ = 0;
  std::uint64_t base_bytes_ = 0;
  std::uint64_t chain_bytes_ = 0;  // stored bytes of the deltas since the base
  std::size_t deltas_since_base_ = 0;

  std::uint64_t commits_ = 0;
  std::optional<checkpoint_info> last_;
};

}  // namespace ftq::checkpoint
