#pragma once
/// Remembers what a state's last committed snapshot holds, so that save() can pack a delta: the
/// size of an append-only container then (later slots are new), the slots changed in place
/// since (a dirty flag per slot: aggregate groups, bitmap pages), and whether something rewrote the
/// whole container (a compaction, a re-based bitmap), which forces a full pack. It records
/// nothing until the state's first save(), so a query that never checkpoints pays one branch.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "exec/state/state_io.hpp"

namespace ftq::exec {

class change_tracker {
 public:
  /// Whether changes are being recorded: from the first save() or restore on.
  bool on() const noexcept { return on_; }

  /// Marks slots ids[0..n) changed; every id must be below `slots`. Call only when on().
  void mark(const std::uint32_t* ids, std::size_t n, std::size_t slots) {
    grow(slots);
    // A byte per slot: plain stores, no read-modify-write chain through shared words.
    std::uint8_t* d = unsaved_.data();
    for (std::size_t i = 0; i < n; ++i) {
      d[ids[i]] = 1;
    }
  }
  /// Marks slots [0, count) changed: cheaper than mark() when a batch has more rows than there
  /// are slots. Call only when on().
  void mark_first(std::size_t count) {
    grow(count);
    std::fill(unsaved_.begin(), unsaved_.begin() + static_cast<std::ptrdiff_t>(count), std::uint8_t{1});
  }
  /// Marks one slot changed (slot < slots). Call only when on().
  void mark_one(std::size_t slot, std::size_t slots) {
    grow(slots);
    unsaved_[slot] = 1;
  }
  /// Records that the whole container was rewritten: the next save packs full.
  void mark_rewritten() noexcept { ++generation_; }

  /// Whether a delta can be packed: a snapshot was committed and nothing rewrote the container since.
  bool delta_possible() const noexcept { return on_ && committed_ && generation_ == committed_generation_; }
  /// Slots [0, committed_size()) were in the last committed snapshot.
  std::size_t committed_size() const noexcept { return committed_size_; }

  /// Called by save() (on a mutable tracker): the snapshot being packed holds `size` slots and
  /// every change recorded so far. Turns recording on.
  void saving(std::size_t size);
  /// What save() packs of an append-only container: slots [first, size).
  struct append_save {
    snapshot_kind kind;
    std::size_t first;  // committed_size() for a delta, 0 for a full pack
  };
  /// saving(size) for an append-only container: a delta when `requested` and delta_possible().
  append_save saving_appended(snapshot_kind requested, std::size_t size) {
    const bool delta = requested == snapshot_kind::delta && delta_possible();
    saving(size);
    return delta ? append_save{snapshot_kind::delta, committed_size_} : append_save{snapshot_kind::full, 0};
  }
  /// Number of changed slots below committed_size() that the delta being packed must carry.
  std::size_t changed_count() const noexcept;
  /// Calls f(slot) for each changed slot below committed_size(), ascending.
  template <class F>
  void for_each_changed(F f) const {
    const std::size_t limit = std::min(committed_size_, pending_.size());
    const std::uint8_t* d = pending_.data();
    std::size_t i = 0;
    for (; i + 8 <= limit; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, d + i, 8);
      if (word == 0) {
        continue;  // most slots of a large state did not change
      }
      for (std::size_t j = i; j < i + 8; ++j) {
        if (d[j] != 0) {
          f(j);
        }
      }
    }
    for (; i < limit; ++i) {
      if (d[i] != 0) {
        f(i);
      }
    }
  }

  /// The last save() is durable: later deltas are relative to it.
  void committed();
  /// The state was just restored to a snapshot of `size` slots: that counts as committed.
  void restored(std::size_t size);

  /// Bytes the tracker itself holds.
  std::size_t memory_bytes() const noexcept { return unsaved_.capacity() + pending_.capacity(); }

 private:
  void grow(std::size_t slots) {
    if (unsaved_.size() < slots) {
      unsaved_.resize(slots + slots / 2, 0);
    }
  }

  bool on_ = false;
  bool committed_ = false;     // some snapshot was committed (or restored)
  bool save_pending_ = false;  // a save() has happened since the last commit
  std::size_t committed_size_ = 0;
  std::size_t saved_size_ = 0;
  std::uint64_t generation_ = 0;  // bumped by mark_rewritten()
  std::uint64_t saved_generation_ = 0;
  std::uint64_t committed_generation_ = 0;
  // One byte per slot: changes since the last save, and changes already packed by saves not yet
  // committed. A delta relative to the last commit must carry both, since the query may run on
  // between a save and its commit.
  std::vector<std::uint8_t> unsaved_;
  std::vector<std::uint8_t> pending_;
};

}  // namespace ftq::exec
