#pragma once
/// Computes CRC32C (Castagnoli, the iSCSI polynomial) over bytes with ISA-L's hardware-accelerated
/// crc32_iscsi. Values follow the standard convention (initial value and final xor 0xFFFFFFFF):
/// crc32c("123456789") == 0xE3069283, and crc32c(b, crc32c(a)) == crc32c(a followed by b).

#include <cstddef>
#include <cstdint>
#include <span>

namespace ftq::checkpoint {

/// The CRC32C of `data`, continuing from `previous` (the CRC32C of the bytes before it; 0 to
/// start). Any length, including more than INT_MAX bytes.
std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t previous = 0) noexcept;

}  // namespace ftq::checkpoint
