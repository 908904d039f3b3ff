#pragma once
/// Accumulates rows of typed columns into one growing column per field, for operators that
/// materialize their input (sort, top_k, the build side of hash_join), and gathers output
/// columns from them by row index. Strings are either referenced (their owners kept alive) or
/// copied into the buffer's own arena, so a buffer that drops rows can drop their bytes too.

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include <ftq/batch.hpp>
#include <ftq/column.hpp>
#include <ftq/types.hpp>

namespace ftq::exec::keys {

/// Copies rows rows[0..n) of `src` into a new column that shares `src`'s string owners.
column_ptr take_rows(const column& src, const std::uint32_t* rows, std::size_t n);

class row_buffer {
 public:
  enum class string_mode : std::uint8_t {
    reference,  // keep views into the input and hold its owners: cheap, pins input memory
    copy,       // copy bytes into an arena of this buffer: costs a copy, pins nothing
  };

  row_buffer(std::vector<type_id> types, string_mode mode);

  std::size_t size() const noexcept { return rows_; }
  std::size_t width() const noexcept { return columns_.size(); }
  string_mode mode() const noexcept { return mode_; }
  const std::vector<type_id>& types() const noexcept { return types_; }
  const column& col(std::size_t c) const { return columns_[c]; }
  std::vector<const column*> column_ptrs() const;

  /// Appends, to column `c`, the values of `src` at physical rows `rows[0..n)`, or at rows
  /// 0..n-1 when `rows` is null. Call it for every column, then commit(n).
  void append_column(std::size_t c, const column& src, const std::uint32_t* rows, std::size_t n);
  void commit(std::size_t n) { rows_ += n; }
  /// Makes room for `rows` rows in all, so appends up to there never reallocate (and never copy
  /// what is already held).
  void reserve(std::size_t rows);
  /// Appends the live rows of `b` (one column per buffer column).
  void append_live(const batch& b);
  /// Appends `n` rows given as whole columns of the buffer's types, each of `n` rows (a restored
  /// snapshot's). An empty buffer in reference mode adopts them without copying, holding their
  /// string owners; otherwise strings are handled as append_column does (so in reference mode
  /// the columns must own their strings).
  void append_columns(std::vector<column> cols, std::size_t n);

  /// Gathers rows idx[0..n) of column `c` into a new column that keeps its strings alive.
  column_ptr gather(std::size_t c, const std::uint32_t* idx, std::size_t n) const;
  /// Builds a column of `size` rows holding row idx[j] of column `c` at position at[j], for
  /// j < n; other positions hold zero values (for outputs whose selection skips them).
  column_ptr gather_at(std::size_t c, const std::uint32_t* idx, const std::uint32_t* at, std::size_t n,
                       std::size_t size) const;
  /// Replaces the contents by rows idx[0..n) of `from` (which may be *this); in copy mode the
  /// bytes of dropped strings are freed with the old arena.
  void assign_gathered(const row_buffer& from, const std::uint32_t* idx, std::size_t n);

 private:
  void hold_owners(const column& src);
  std::shared_ptr<const void> owner_handle() const;

  std::vector<type_id> types_;
  string_mode mode_;
  std::vector<column> columns_;
  std::size_t rows_ = 0;
  // copy mode: bytes of every string in the buffer
  std::shared_ptr<string_arena> arena_;
  // reference mode: owners of every input string, deduplicated
  std::shared_ptr<std::vector<std::shared_ptr<const void>>> owners_;
  std::unordered_set<const void*> owner_seen_;
};

}  // namespace ftq::exec::keys
