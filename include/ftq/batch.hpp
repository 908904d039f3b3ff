#pragma once
/// Carries a slice of rows between operators: one shared, immutable column per schema field, all
/// with `rows` values, plus an optional selection vector. With `has_selection`, only the rows
/// listed in `selection` (ascending, each < rows) are live; filters narrow it without copying.

#include <cstdint>
#include <vector>

#include <ftq/column.hpp>

namespace ftq {

/// Rows per batch unless an engine option says otherwise.
inline constexpr std::size_t default_batch_rows = 4096;

struct batch {
  std::vector<column_ptr> columns;
  std::size_t rows = 0;
  bool has_selection = false;
  std::vector<std::uint32_t> selection;

  /// Number of live rows.
  std::size_t live_rows() const noexcept { return has_selection ? selection.size() : rows; }
  /// Physical index of the i-th live row.
  std::uint32_t row_at(std::size_t i) const noexcept {
    return has_selection ? selection[i] : static_cast<std::uint32_t>(i);
  }
  /// Copies the live rows into fresh dense columns (no selection afterwards).
  batch compacted() const;
};

}  // namespace ftq
