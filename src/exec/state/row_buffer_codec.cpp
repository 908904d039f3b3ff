#include "exec/state/row_buffer_codec.hpp"

#include <string>
#include <utility>

namespace ftq::exec {

void pack_appended_rows(state_packer& out, const keys::row_buffer& rows, const keys::row_buffer& computed,
                        std::size_t first) {
  out.pack_uint64(first);
  out.pack_uint64(rows.size());
  pack_columns(out, rows.column_ptrs(), first, rows.size());
  pack_columns(out, computed.column_ptrs(), first, computed.size());
}

void appended_rows::append_to(keys::row_buffer& rows_buffer, keys::row_buffer& computed_buffer) && {
  rows_buffer.append_columns(std::move(rows), added);
  computed_buffer.append_columns(std::move(computed), added);
}

appended_rows read_appended_rows(const section_reader& sec, std::size_t pos, const keys::row_buffer& rows,
                                 const keys::row_buffer& computed, string_storage storage,
                                 const row_count_check& check_count) {
  const value_reader first = sec.field(pos, "first row");
  if (first.as_uint() != rows.size()) {
    first.invalid("rows start at " + std::to_string(first.as_uint()) + ", the state holds " +
                  std::to_string(rows.size()));
  }
  const value_reader count_value = sec.field(pos + 1, "row count");
  appended_rows out;
  out.count = static_cast<std::size_t>(count_value.as_uint(UINT32_MAX));
  check_count(count_value, out.count);
  if (out.count < rows.size()) {
    // check_count's contract; kept here so a lax check cannot underflow `added`.
    count_value.invalid("row count " + std::to_string(out.count) + " is below the state's " +
                        std::to_string(rows.size()));
  }
  out.added = out.count - rows.size();
  const value_reader rows_value = sec.field(pos + 2, "rows");
  const value_reader computed_value = sec.field(pos + 3, "computed keys");
  if (unpack_columns(rows_value, rows.types(), storage, out.rows) != out.added && rows.width() > 0) {
    rows_value.invalid("expected " + std::to_string(out.added) + " rows");
  }
  if (unpack_columns(computed_value, computed.types(), storage, out.computed) != out.added && computed.width() > 0) {
    computed_value.invalid("expected " + std::to_string(out.added) + " rows");
  }
  return out;
}

std::uint64_t row_buffer_bytes(const keys::row_buffer& b) {
  std::uint64_t bytes = 0;
  for (const column* c : b.column_ptrs()) {
    bytes += column_bytes(*c);
  }
  return bytes;
}

}  // namespace ftq::exec
