#include "checkpoint/crc32c.hpp"

#include <isa-l/crc.h>

#include <algorithm>
#include <climits>

namespace ftq::checkpoint {

std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t previous) noexcept {
  // crc32_iscsi works on the raw register: it neither inverts its seed nor its result, so the
  // standard value is ~crc32_iscsi(data, ~previous). Its length is an int: feed at most 1 GiB at a time.
  constexpr std::size_t max_chunk = std::size_t{1} << 30;
  static_assert(max_chunk <= INT_MAX);
  unsigned int reg = ~previous;
  // crc32_iscsi takes a non-const pointer but only reads through it.
  auto* p = const_cast<unsigned char*>(reinterpret_cast<const unsigned char*>(data.data()));
  std::size_t left = data.size();
  while (left > 0) {
    const std::size_t n = std::min(left, max_chunk);
    reg = crc32_iscsi(p, static_cast<int>(n), reg);
    p += n;
    left -= n;
  }
  return ~reg;
}

}  // namespace ftq::checkpoint
