#pragma once
/// Counts the distinct non-NULL values each group has seen (COUNT(DISTINCT x)), fed batch by
/// batch. Ungrouped int64 values go into a bitmap over their range while it stays small; other
/// values, and ranges that grow too wide, go into a key_table of (group, value) pairs.

#include <cstdint>
#include <vector>

#include <ftq/column.hpp>
#include <ftq/types.hpp>

#include "exec/keys/key_table.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/state_io.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec::keys {

class distinct_values {
 public:
  /// Widest int64 range, in values, that the bitmap covers (16 MiB of bits).
  static constexpr std::uint64_t max_bitmap_range = std::uint64_t{1} << 27;

  distinct_values(type_id value_type, bool grouped);

  /// Adds values[i] to the set of group group_ids[i], for i < rows; NULL values are skipped.
  /// `group_ids` is ignored (may be null) when ungrouped.
  void add(const column& values, const std::uint32_t* group_ids, std::size_t rows);
  /// Distinct counts of groups 0..groups-1.
  std::vector<std::int64_t> counts(std::size_t groups) const;
  /// Whether values still go to the bitmap (for tests).
  bool uses_bitmap() const noexcept { return bitmap_; }

  /// Packs the set as [bitmap mode, base, bitmap words, page ids, page words, first key id,
  /// table keys]: the bitmap in 4 KiB pages, the key_table's keys from `first key id` on. A full
  /// pack lists every page and key; with `delta` (after a committed snapshot) only the pages
  /// changed since it (all of them if the bitmap was re-based or spilled) and the keys added.
  void save(state_packer& out, bool delta) const;
  /// Applies what save() packed: a full pack onto a fresh set, a delta onto the set restored so
  /// far. Group ids (grouped) must be below `groups`. Throws bad_state naming `in`'s place.
  void load(const value_reader& in, bool delta, std::size_t groups);
  /// Empties the set, as constructed (before loading a full snapshot).
  void reset();
  /// The last save() is durable (or the set was just restored).
  void snapshot_committed();
  void snapshot_restored();
  /// Bytes a full pack takes, roughly.
  std::uint64_t snapshot_size_hint() const;

  /// Words of the bitmap per tracked page (4 KiB).
  static constexpr std::size_t page_words = 512;

 private:
  bool fit_bitmap(std::int64_t lo, std::int64_t hi);
  void spill_bitmap();
  void add_to_table(const column& values, const std::uint32_t* group_ids, std::size_t rows);

  type_id type_;
  bool grouped_;
  bool bitmap_;
  std::int64_t base_ = 0;  // value of bit 0; a multiple of 64
  std::vector<std::uint64_t> bits_;
  key_table table_;
  // Scratch for the non-NULL rows of a batch.
  column group_scratch_{type_id::int64};
  column value_scratch_;
  std::vector<std::uint32_t> ids_;
  // Snapshot bookkeeping: bitmap pages changed (and re-basings), keys added since the last commit.
  mutable change_tracker pages_;
  mutable change_tracker keys_;
};

}  // namespace ftq::exec::keys
