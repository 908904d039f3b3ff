#pragma once
/// Encodes and decodes one checkpoint file (docs/checkpoint-format.md): magic, format version,
/// an identity header (query, plan hash, epoch, full or delta, operator ids) and a section table
/// (lengths, kinds) that AES-GCM authenticates as associated data, each section's CRC32C, then
/// the sections, compressed (zstd, lz4 or none) and optionally encrypted (AES-256-GCM, fresh
/// nonce per file), then the tag and a trailer. The builder compresses each section as it is
/// written and encrypts the compressed body in place when the file is sealed, so building a file
/// holds the compressed state once plus a fixed staging buffer, no more.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_sink.hpp"

namespace ftq::checkpoint {

enum class compression : std::uint8_t { none = 0, lz4 = 1, zstd = 2 };
std::string_view compression_name(compression c) noexcept;  // "none", "lz4", "zstd"
/// Parses "none", "lz4" or "zstd"; throws std::invalid_argument for anything else.
compression parse_compression(std::string_view name);

enum class file_kind : std::uint8_t { full = 0, delta = 1 };

/// A 256-bit AES key and its public id (the first 8 bytes of SHA-256 over a fixed label and the
/// key), which the header records so a wrong key is told apart from altered bytes.
struct encryption_key {
  std::array<unsigned char, 32> bytes{};
  std::array<unsigned char, 8> id() const;
};
/// Reads a key file: 32 raw bytes, or 64 hex digits with an optional trailing newline. The file
/// must be a regular file with no group or other permission bits (0600 or stricter); anything
/// else throws checkpoint_error(errc::checkpoint_key_invalid) naming the file and the reason.
encryption_key load_key_file(const std::filesystem::path& path);
/// Reads a key from an environment variable holding 64 hex digits; nullopt if it is unset.
/// A malformed value throws checkpoint_error(errc::checkpoint_key_invalid) naming the variable.
std::optional<encryption_key> key_from_env(const char* variable);

/// Who a file belongs to and where it sits in its query's chain of checkpoints.
struct file_identity {
  std::string query_id;
  std::array<unsigned char, 32> plan_hash{};  // SHA-256 of the canonical plan
  std::uint64_t epoch = 0;
  file_kind kind = file_kind::full;
  std::uint64_t base_epoch = 0;    // the full checkpoint this chain starts at (== epoch if full)
  std::uint64_t parent_epoch = 0;  // delta: the epoch it applies on top of (== epoch if full)
  std::uint64_t created_unix_ms = 0;
  std::vector<std::uint32_t> operator_ids;  // operators whose state the file holds, one section each
  std::string backend;                      // I/O backend that wrote it, for listings
};

struct codec_options {
  compression algorithm = compression::zstd;
  /// zstd: level in [ZSTD_minCLevel(), ZSTD_maxCLevel()] (1 is fast, 19 small and slow; negative is
  /// faster still). lz4: LZ4F compressionLevel (below 3 the fast compressor, 3..12 LZ4HC: smaller,
  /// much slower to write, as fast to read). Ignored for none.
  int level = 1;
  /// Encrypt with this key when set; the builder copies it, so it need not outlive the builder.
  const encryption_key* key = nullptr;
};

/// One section as the table describes it.
struct section_info {
  std::uint32_t operator_id = 0;
  std::uint8_t kind = 0;           // the state's own snapshot kind (full or delta of that operator)
  std::uint64_t offset = 0;        // byte offset of its stored bytes in the file
  std::uint64_t raw_bytes = 0;     // before compression
  std::uint64_t stored_bytes = 0;  // as stored (compressed, then encrypted)
  std::uint32_t crc32c = 0;        // of the stored bytes
};

/// What a header alone tells (no key needed): for listings and choosing a checkpoint.
struct file_summary {
  file_identity identity;
  compression algorithm = compression::none;
  bool encrypted = false;
  std::array<unsigned char, 8> key_id{};
  std::vector<section_info> sections;
  std::uint64_t raw_bytes = 0;   // sum of the sections' raw bytes
  std::uint64_t file_bytes = 0;  // whole file as stored
};

/// Builds one file in memory, section by section.
class file_builder {
 public:
  /// The msgpack-cxx Stream a section is packed into: writes are staged (256 KiB) and fed to the
  /// compressor in chunks, which appends to the file body; no section is ever held whole.
  using section_stream = byte_sink;

  /// Throws std::invalid_argument for an identity the format cannot hold (duplicate operator
  /// ids, a query id or backend over 65535 bytes, full/delta epochs that do not chain) or a bad
  /// compression level.
  file_builder(file_identity identity, codec_options options);
  ~file_builder();
  file_builder(const file_builder&) = delete;
  file_builder& operator=(const file_builder&) = delete;

  /// Starts the section of `operator_id` (one per id of identity.operator_ids, in that order;
  /// anything else throws std::logic_error). The stream is valid until end_section().
  section_stream& begin_section(std::uint32_t operator_id);
  /// Ends it; `kind` is what the state packed (full or delta), known only once it has.
  void end_section(std::uint8_t kind);
  /// Seals the file (encrypting the body in place when a key is set) and returns its bytes as
  /// three buffers in file order: header, body (may be empty), tag and trailer. They live as long
  /// as the builder. Throws std::logic_error if a section is open or missing, or on a second call.
  std::vector<std::span<const std::byte>> finish();

  std::uint64_t raw_bytes() const noexcept;     // sum of the sections' raw bytes so far
  std::uint64_t stored_bytes() const noexcept;  // file size once finished
  /// The sections ended so far: sizes raw and stored, and the kind each state packed.
  const std::vector<section_info>& sections() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A verified, decrypted and decompressed file.
struct decoded_file {
  file_summary summary;
  std::vector<std::vector<char>> sections;  // raw bytes, in section-table order
};

struct decode_limits {
  /// Largest raw size a section may declare; bigger ones are refused as corrupt before any
  /// allocation (the fuzzer lowers it).
  std::uint64_t max_section_bytes = std::uint64_t{16} << 30;
  /// Largest sum of the sections' raw sizes, refused the same way. Unlimited by default: each
  /// section is limited, and the caller chose to load the whole file.
  std::uint64_t max_total_bytes = UINT64_MAX;
};

/// Bytes of the prologue (magic, version, header length), the same in every format version.
inline constexpr std::size_t prologue_bytes = 16;
/// How many bytes from the start of a file read_summary needs, from its first prologue_bytes,
/// so a listing can read the header alone. Throws checkpoint_error(checkpoint_corrupt) for
/// something that is not a checkpoint.
std::size_t summary_bytes(std::span<const std::byte> prologue, const std::string& path);
/// Reads and verifies only the header and section table (no key needed); `file` may end right
/// after the header. `path` names the file in errors. summary.file_bytes is the length the
/// header implies. Throws checkpoint_error: checkpoint_corrupt (with the offset),
/// checkpoint_version_unsupported.
file_summary read_summary(std::span<const std::byte> file, const std::string& path);
/// Verifies every checksum (and the GCM tag when encrypted), then decrypts and decompresses.
/// Throws checkpoint_error: checkpoint_corrupt, checkpoint_tampered, checkpoint_wrong_key,
/// checkpoint_key_missing, checkpoint_version_unsupported. Never returns unverified bytes.
/// Checksums are checked before the key, so a damaged encrypted file reads as corrupt even
/// without its key. A key given for an unencrypted file is not used: callers that require
/// encryption check summary.encrypted. Allocates at most the body (when encrypted) plus the
/// declared, limited raw sizes.
decoded_file decode_file(std::span<const std::byte> file, const std::string& path, const encryption_key* key,
                         decode_limits limits = {});

}  // namespace ftq::checkpoint
