#pragma once
/// Compresses a checkpoint section as one zstd or LZ4 frame, streamed into the file body as its
/// bytes arrive, and decompresses a stored frame back into exactly its declared raw size.
/// compression::none has no compressor: its stored bytes are its raw bytes.

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "checkpoint/file_format.hpp"
#include "checkpoint/mapped_buffer.hpp"

namespace ftq::checkpoint {

/// Streams one frame at a time; reused for every section of a file.
class section_compressor {
 public:
  /// nullptr for compression::none. Throws std::invalid_argument for a zstd level outside
  /// [ZSTD_minCLevel(), ZSTD_maxCLevel()].
  static std::unique_ptr<section_compressor> create(compression algorithm, int level);
  virtual ~section_compressor() = default;

  /// Compresses `input` as the next bytes of the current frame (starting one if none is open),
  /// appending whatever the library emits to `out`.
  virtual void update(std::span<const std::byte> input, mapped_buffer& out) = 0;
  /// Closes the current frame, appending its last bytes to `out`. Without a preceding update it
  /// still writes a complete (empty) frame.
  virtual void end_frame(mapped_buffer& out) = 0;
};

/// Reverses section_compressor; one per decoded file.
class section_decompressor {
 public:
  /// nullptr for compression::none.
  static std::unique_ptr<section_decompressor> create(compression algorithm);
  virtual ~section_decompressor() = default;

  /// Decodes `stored`, which must be exactly one frame, into `raw`, which it must fill exactly.
  /// Returns nullopt on success, else what was wrong (the caller turns it into checkpoint_corrupt).
  virtual std::optional<std::string> decompress(std::span<const std::byte> stored, std::span<std::byte> raw) = 0;
};

}  // namespace ftq::checkpoint
