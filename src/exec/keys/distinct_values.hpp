#pragma once
/// Counts the distinct non-NULL values each group has seen (COUNT(DISTINCT x)), fed batch by
/// batch. Ungrouped int64 values go into a bitmap over their range while it stays small; other
/// values, and ranges that grow too wide, go into a key_table of (group, value) pairs.

#include <cstdint>
#include <vector>

#include <ftq/column.hpp>
#include <ftq/types.hpp>

#include "exec/keys/key_table.hpp"

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
};

}  // namespace ftq::exec::keys
