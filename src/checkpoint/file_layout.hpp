#pragma once
/// Writes and parses the byte layout of a checkpoint file (docs/checkpoint-format.md): the
/// header (prologue, identity, section table, section checksums, header checksum) and the
/// trailer. Parsing checks every field and reports the first bad one as checkpoint_corrupt at its
/// byte offset; it never reads outside the given bytes.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "checkpoint/cipher.hpp"
#include "checkpoint/file_format.hpp"

namespace ftq::checkpoint::layout {

/// The prologue is the same in every format version, so any reader can tell a checkpoint, its
/// version and how many bytes its header holds: magic, u32 version, u32 header length.
inline constexpr std::array<unsigned char, 8> magic = {'F', 'T', 'Q', 'C', 'K', 'P', 'T', 0};
inline constexpr std::size_t prologue_bytes = 16;
inline constexpr std::uint32_t current_version = 1;

inline constexpr std::array<unsigned char, 8> end_magic = {'F', 'T', 'Q', 'C', 'K', 'E', 'N', 'D'};
inline constexpr std::size_t table_entry_bytes = 29;  // u32 operator, u8 kind, u64 offset, raw, stored
inline constexpr std::size_t tag_bytes = 16;
inline constexpr std::size_t trailer_bytes = 24;  // u64 file length, u32 header CRC, end magic, u32 CRC

/// A parsed and checked header.
struct header {
  file_summary summary;          // file_bytes is the length the header implies
  gcm_nonce nonce{};             // zero when not encrypted
  std::size_t header_bytes = 0;  // where the body starts
  std::size_t aad_bytes = 0;     // bytes [0, aad_bytes) are AES-GCM's associated data
  std::size_t table_offset = 0;  // where the section table starts
  std::uint32_t header_crc = 0;
  std::uint64_t body_end() const noexcept {
    return summary.file_bytes - trailer_bytes - (summary.encrypted ? tag_bytes : 0);
  }
};

/// Bytes the header of a file with this identity takes.
std::size_t header_size(const file_identity& identity);

/// Encodes the current version's header. `summary.sections` must match identity.operator_ids;
/// the associated-data part does not depend on the sections' crc32c fields, so a writer encodes
/// once to get it, fills the checksums, then encodes again.
struct encoded_header {
  std::vector<std::byte> bytes;
  std::size_t aad_bytes = 0;
  std::uint32_t crc = 0;
};
encoded_header encode_header(const file_summary& summary, const gcm_nonce& nonce);

/// Parses the header at the start of `file` (which may end right after the header). Throws
/// checkpoint_error: checkpoint_corrupt (with offset), checkpoint_version_unsupported.
header parse_header(std::span<const std::byte> file, const std::string& path);

/// Encodes the trailer of a `file_bytes`-long file; `tag` is empty for an unencrypted file.
std::array<std::byte, trailer_bytes> encode_trailer(std::uint64_t file_bytes, std::uint32_t header_crc,
                                                    std::span<const std::byte> tag);

/// Checks that `file` is exactly as long as the header says and that its trailer (and tag bytes)
/// are intact. Throws checkpoint_error(checkpoint_corrupt) with the offset.
void check_trailer(std::span<const std::byte> file, const header& h, const std::string& path);

}  // namespace ftq::checkpoint::layout
