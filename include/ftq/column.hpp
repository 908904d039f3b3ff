#pragma once
/// Holds one typed column vector of a batch. Exactly one of the value vectors is used, chosen by
/// `type`; `nulls` is empty when the column has no NULLs, else `nulls[i] != 0` marks row i NULL
/// (the value slot of a NULL row is unspecified). Strings are views into bytes kept alive by
/// `string_owners`, so scans can hand out strings without copying them.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include <ftq/types.hpp>

namespace ftq {

/// Append-only owner of string bytes; views into it stay valid while it lives.
class string_arena {
 public:
  std::string_view add(std::string_view s);
  std::size_t bytes_used() const noexcept { return used_total_; }

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t block_left_ = 0;
  char* block_next_ = nullptr;
  std::size_t used_total_ = 0;
};

struct column {
  type_id type = type_id::int64;
  std::vector<std::int64_t> ints;
  std::vector<double> doubles;
  std::vector<std::string_view> strings;
  std::vector<std::uint8_t> nulls;
  std::vector<std::shared_ptr<const void>> string_owners;

  column() = default;
  explicit column(type_id t) : type(t) {}

  std::size_t size() const noexcept;
  bool has_nulls() const noexcept { return !nulls.empty(); }
  bool is_null(std::size_t row) const noexcept { return !nulls.empty() && nulls[row] != 0; }
  void reserve(std::size_t n);
  void resize(std::size_t n);
  /// Marks `row` NULL, creating the null vector on first use (sized to the current size()).
  void set_null(std::size_t row);
  /// Keeps `owner` alive as long as this column, for strings that point into it.
  void keep_alive(std::shared_ptr<const void> owner) { string_owners.push_back(std::move(owner)); }
  /// Shares every string owner of `other` (after gathering strings from it).
  void keep_alive_from(const column& other);
};

using column_ptr = std::shared_ptr<const column>;

}  // namespace ftq
