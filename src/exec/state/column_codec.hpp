#pragma once
/// Packs columns and plain vectors of a state into msgpack and reads them back. Numbers travel
/// as one `bin` of little-endian raw values (on x86-64 the vector's own bytes: a memcpy each
/// way), NULL flags as a `bin` of one byte per row (nonzero = NULL), strings as a `bin` of their
/// bytes concatenated plus a `bin` of uint32 little-endian lengths (NULL rows: length 0).
/// Packing streams straight from the state's vectors into the packer, through at most a 4 KiB
/// buffer, so a snapshot never holds a second copy of a column in memory. Reading checks every
/// size against the bytes really present before it allocates anything.

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <ftq/column.hpp>
#include <ftq/types.hpp>

#include "exec/state/state_io.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

// The bins hold values in the host's byte order, which the format fixes as little-endian; a
// big-endian port would byte-swap in pack_values/unpack_values.
static_assert(std::endian::native == std::endian::little, "state bins are little-endian raw values");

/// Largest bin msgpack can frame (its length is a uint32).
inline constexpr std::uint64_t max_bin_bytes = UINT32_MAX;

/// Throws ftq::error(errc::internal) for a container too large for one bin; `what` names it.
void check_bin_size(std::uint64_t bytes, std::string_view what);

/// Writes one `bin` of exactly `bytes` bytes given in pieces, gathering small pieces in a
/// 4 KiB buffer so a value-at-a-time writer does not call the sink per value.
class bin_writer {
 public:
  bin_writer(state_packer& out, std::uint64_t bytes, std::string_view what);
  bin_writer(const bin_writer&) = delete;
  bin_writer& operator=(const bin_writer&) = delete;
  ~bin_writer() = default;

  void write(const void* data, std::size_t size);
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    write(&v, sizeof(T));
  }
  /// Flushes the buffer; throws ftq::error(errc::internal) if the pieces did not add up.
  void finish();

 private:
  void flush();

  state_packer& out_;
  std::uint64_t declared_;
  std::uint64_t written_ = 0;
  std::size_t used_ = 0;
  std::array<char, 4096> buf_;
};

/// Packs v[0..n) as one bin.
template <class T>
void pack_values(state_packer& out, const T* v, std::size_t n) {
  static_assert(std::is_arithmetic_v<T>);
  const std::uint64_t bytes = std::uint64_t{n} * sizeof(T);
  check_bin_size(bytes, "vector");
  out.pack_bin(static_cast<std::uint32_t>(bytes));
  if (bytes > 0) {
    out.pack_bin_body(reinterpret_cast<const char*>(v), static_cast<std::uint32_t>(bytes));
  }
}
template <class T>
void pack_values(state_packer& out, const std::vector<T>& v) {
  pack_values(out, v.data(), v.size());
}

/// Number of T values a bin holds; fails unless its size is a multiple of sizeof(T) and the
/// count is at most `max`.
template <class T>
std::size_t value_count(const value_reader& in, std::uint64_t max = UINT64_MAX) {
  const std::string_view b = in.as_bin();
  if (b.size() % sizeof(T) != 0) {
    in.fail("bin of " + std::to_string(sizeof(T)) + "-byte values");
  }
  if (b.size() / sizeof(T) > max) {
    in.fail("bin of at most " + std::to_string(max) + " values");
  }
  return b.size() / sizeof(T);
}

/// Copies exactly n values from a bin to dst[0..n).
template <class T>
void unpack_values_into(const value_reader& in, T* dst, std::size_t n) {
  const std::string_view b = in.as_bin();
  if (b.size() != std::uint64_t{n} * sizeof(T)) {
    in.fail("bin of " + std::to_string(n) + " " + std::to_string(sizeof(T)) + "-byte values");
  }
  if (n > 0) {
    std::memcpy(dst, b.data(), b.size());
  }
}
/// Replaces `dst` by the bin's values, which must number `n`.
template <class T>
void unpack_values(const value_reader& in, std::vector<T>& dst, std::size_t n) {
  const std::string_view b = in.as_bin();
  if (b.size() != std::uint64_t{n} * sizeof(T)) {
    in.fail("bin of " + std::to_string(n) + " " + std::to_string(sizeof(T)) + "-byte values");
  }
  dst.resize(n);
  if (n > 0) {
    std::memcpy(dst.data(), b.data(), b.size());
  }
}

/// Packs n strings, get(i) for i < n, as [bin of bytes, bin of uint32 lengths] (two values).
template <class Get>
void pack_string_values(state_packer& out, std::size_t n, Get get) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    total += get(i).size();
  }
  check_bin_size(std::uint64_t{n} * 4, "string lengths");
  bin_writer bytes(out, total, "string bytes");
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view s = get(i);
    bytes.write(s.data(), s.size());
  }
  bytes.finish();
  bin_writer lengths(out, std::uint64_t{n} * 4, "string lengths");
  for (std::size_t i = 0; i < n; ++i) {
    lengths.put(static_cast<std::uint32_t>(get(i).size()));
  }
  lengths.finish();
}

/// Reads strings packed by pack_string_values: checks that `lengths` holds n lengths adding
/// up to the size of `bytes`, then calls put(i, view) for each, the view pointing into `bytes`.
template <class Put>
void unpack_string_values(const value_reader& bytes, const value_reader& lengths, std::size_t n, Put put) {
  const std::string_view data = bytes.as_bin();
  const std::string_view lens = lengths.as_bin();
  if (lens.size() != std::uint64_t{n} * 4) {
    lengths.fail("bin of " + std::to_string(n) + " uint32 lengths");
  }
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t len;
    std::memcpy(&len, lens.data() + 4 * i, 4);
    total += len;
  }
  if (total != data.size()) {
    bytes.invalid("string lengths add up to " + std::to_string(total) + " bytes, the bin holds " +
                  std::to_string(data.size()));
  }
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t len;
    std::memcpy(&len, lens.data() + 4 * i, 4);
    put(i, data.substr(pos, len));
    pos += len;
  }
}

/// Where restored strings live.
enum class string_storage : std::uint8_t {
  borrow,  // views into the section's bytes: only for callers that copy them before load() returns
  own,     // one shared buffer per column, held by column::string_owners
};

/// Packs rows [from, to) of `c` as [type, rows, nulls or nil, values] (numbers) or
/// [type, rows, nulls or nil, bytes, lengths] (strings).
void pack_column(state_packer& out, const column& c, std::size_t from, std::size_t to);
/// Packs rows [from, to) of each column as an array of columns.
void pack_columns(state_packer& out, const std::vector<const column*>& cols, std::size_t from, std::size_t to);

/// Reads a column packed by pack_column, which must be of type `type`.
column unpack_column(const value_reader& in, type_id type, string_storage storage);
/// Reads an array of columns of the given types, all of the same length; returns that length.
std::size_t unpack_columns(const value_reader& in, const std::vector<type_id>& types, string_storage storage,
                           std::vector<column>& out);

/// Bytes a full pack of rows [0, size) of `c` takes, roughly (for snapshot_size_hint()).
std::uint64_t column_bytes(const column& c);

}  // namespace ftq::exec
