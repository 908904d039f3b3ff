#pragma once
/// Packs the rows a pair of append-only row_buffers (an operator's input rows and the sort keys
/// computed for them) gained since the committed snapshot, as four fields [first row, row count,
/// rows, computed keys], and reads them back checked but not yet applied, so that a later field's
/// error leaves the state as it was. Used by sort and top_k.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include <ftq/column.hpp>

#include "exec/keys/row_buffer.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/state_io.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

/// Packs the four fields: `first`, rows.size(), then rows [first, size) of `rows` and of
/// `computed` (arrays of columns).
void pack_appended_rows(state_packer& out, const keys::row_buffer& rows, const keys::row_buffer& computed,
                        std::size_t first);

/// Rows read by read_appended_rows, to append once every other field is checked.
struct appended_rows {
  std::size_t count = 0;  // rows the buffers hold once these are appended
  std::size_t added = 0;
  std::vector<column> rows;
  std::vector<column> computed;

  /// Appends the rows to the buffers they were read for.
  void append_to(keys::row_buffer& rows_buffer, keys::row_buffer& computed_buffer) &&;
};

/// Throws (count_field.invalid()) unless the state can grow to `count` rows; it must reject a
/// count below the rows the state holds.
using row_count_check = std::function<void(const value_reader& count_field, std::size_t count)>;

/// Reads the four fields packed by pack_appended_rows, from array position `pos` on: the first row
/// must be rows.size(), the row count passes `check_count` (called before any column is read),
/// and both arrays hold the rows in between, of the buffers' types.
appended_rows read_appended_rows(const section_reader& sec, std::size_t pos, const keys::row_buffer& rows,
                                 const keys::row_buffer& computed, string_storage storage,
                                 const row_count_check& check_count);

/// Bytes a full pack of `b` takes, roughly (for snapshot_size_hint()).
std::uint64_t row_buffer_bytes(const keys::row_buffer& b);

}  // namespace ftq::exec
