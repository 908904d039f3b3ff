#pragma once
/// Assigns dense ids (0, 1, 2, ... in first-seen order) to the distinct key tuples it is fed,
/// batch by batch, packed into one or two machine words while they fit, else into bytes, and
/// keeps each tuple's values by id. NULL equals NULL here (GROUP BY, DISTINCT); callers that
/// want NULL keys never to match (joins) drop those rows first.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <ftq/column.hpp>
#include <ftq/types.hpp>

#include "exec/keys/word_map.hpp"

namespace ftq::exec::keys {

/// Hashes variable-length encoded keys eight bytes at a time.
std::uint64_t hash_key_bytes(std::string_view s) noexcept;

/// A variable-length encoded key with its hash, so rehashing and mismatches never read the
/// (cache-cold) key bytes.
struct hashed_bytes {
  std::string_view bytes;
  std::uint64_t hash = 0;
  friend bool operator==(const hashed_bytes& a, const hashed_bytes& b) noexcept {
    return a.hash == b.hash && a.bytes == b.bytes;
  }
};
struct hashed_bytes_hash {
  using is_avalanching = void;
  std::size_t operator()(const hashed_bytes& k) const noexcept { return static_cast<std::size_t>(k.hash); }
};

/// How a key tuple is packed. Fixed layouts place each column at a byte offset of a 64- or
/// 128-bit word (strings as a length byte plus at most `max_len` bytes); the byte layout
/// serializes every column, so any key fits.
struct key_layout {
  enum class kind : std::uint8_t { word64, word128, bytes };
  kind packing = kind::word64;
  bool nullable = false;             // fixed layouts: byte 0 holds one NULL bit per column
  std::vector<std::size_t> offset;   // fixed layouts: byte offset of each column
  std::vector<std::size_t> max_len;  // fixed layouts: longest string a string column holds
};

class key_table {
 public:
  static constexpr std::uint32_t absent = UINT32_MAX;

  explicit key_table(std::vector<type_id> types);

  /// Number of distinct keys seen so far; ids are [0, size()).
  std::size_t size() const noexcept { return count_; }
  const std::vector<type_id>& types() const noexcept { return types_; }
  const key_layout& layout() const noexcept { return layout_; }

  /// Sets ids[i] to the id of row i's key for i < rows; `cols` holds one dense column per key
  /// column, each with at least `rows` values. Keys not seen before get the next ids in row order.
  void insert(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids);
  /// Sets ids[i] to the id of row i's key, or `absent` if it was never inserted. Adds nothing.
  void find(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids);

  /// Stored values of key column `c`, indexed by id. Strings live in the table's arena.
  const column& stored(std::size_t c) const { return stored_[c]; }
  /// Copies ids [from, to) of key column `c` into a new column that keeps the strings alive.
  column_ptr slice(std::size_t c, std::size_t from, std::size_t to) const;
  /// Stored key columns, for packing a snapshot of the table.
  std::vector<const column*> stored_ptrs() const;

  /// Re-inserts keys stored by another table of the same types (a snapshot's `stored()` columns,
  /// or the ids appended since one): they must be distinct, new, and in id order, so they get
  /// exactly their old ids back (ids are dense in first-seen order). An empty table adopts the
  /// columns without copying them (their string owners come along); a non-empty one inserts
  /// them like a batch. Returns false if a column's type or length is off or a key repeats;
  /// the table is then unusable.
  [[nodiscard]] bool restore(std::vector<column> cols);

 private:
  void fit_layout(const std::vector<const column*>& cols, std::size_t rows);
  void relayout(key_layout next);
  // Encodes rows of `cols` for the current layout; in find mode, rows that the layout cannot
  // hold (and so were never inserted) get unfit_[i] = 1.
  void encode(const std::vector<const column*>& cols, std::size_t rows, bool find_mode);
  template <class Word>
  void encode_words(const std::vector<const column*>& cols, std::size_t rows, std::vector<Word>& out, bool find_mode);
  void encode_bytes(const std::vector<const column*>& cols, std::size_t rows);
  void store_rows(const std::vector<const column*>& cols, const std::vector<std::uint32_t>& rows);
  // Encodes rows (widening the layout when needed) and looks each up, giving keys not seen before
  // the next ids and listing their rows in new_rows_.
  void assign_ids(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids);

  std::vector<type_id> types_;
  key_layout layout_;
  std::size_t count_ = 0;
  std::vector<column> stored_;
  std::shared_ptr<string_arena> arena_;

  word_map<std::uint64_t> map64_;
  word_map<uint128> map128_;
  boost::unordered_flat_map<hashed_bytes, std::uint32_t, hashed_bytes_hash> map_bytes_;

  // Per-batch scratch, kept to reuse its capacity.
  std::vector<std::uint64_t> words64_;
  std::vector<uint128> words128_;
  std::vector<char> bytes_;
  std::vector<std::size_t> bytes_pos_;
  std::vector<std::uint8_t> unfit_;
  bool any_unfit_ = false;  // encode() met a key the layout cannot hold
  std::vector<std::uint32_t> new_rows_;
};

}  // namespace ftq::exec::keys
