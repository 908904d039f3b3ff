#include "checkpoint/compression.hpp"

#include <lz4frame.h>
#include <zstd.h>

#include <algorithm>
#include <stdexcept>

#include <ftq/error.hpp>

namespace ftq::checkpoint {

namespace {

[[noreturn]] void library_failure(const char* library, const char* what) {
  throw checkpoint_error(make_error_code(errc::internal), "", std::string(library) + " failed: " + what);
}

// ---- zstd ----

class zstd_compressor final : public section_compressor {
 public:
  explicit zstd_compressor(int level) : cctx_(ZSTD_createCCtx()) {
    if (cctx_ == nullptr) {
      throw std::bad_alloc();
    }
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level));
    // Integrity is the file's job (CRC32C, GCM tag): no per-frame checksum.
    check(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0));
  }
  ~zstd_compressor() override { ZSTD_freeCCtx(cctx_); }
  zstd_compressor(const zstd_compressor&) = delete;
  zstd_compressor& operator=(const zstd_compressor&) = delete;

  void update(std::span<const std::byte> input, mapped_buffer& out) override {
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    while (in.pos < in.size) {
      run(out, in, ZSTD_e_continue);
    }
  }

  void end_frame(mapped_buffer& out) override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (run(out, in, ZSTD_e_end) != 0) {
    }
  }

 private:
  static std::size_t check(std::size_t r) {
    if (ZSTD_isError(r)) {
      library_failure("zstd", ZSTD_getErrorName(r));
    }
    return r;
  }

  // Compresses straight into the body's tail: no intermediate output buffer.
  std::size_t run(mapped_buffer& out, ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
    const std::size_t room = std::max(out.tail_room(), ZSTD_CStreamOutSize());
    ZSTD_outBuffer o{out.reserve_tail(room), room, 0};
    const std::size_t left = check(ZSTD_compressStream2(cctx_, &o, &in, mode));
    out.commit(o.pos);
    return left;
  }

  ZSTD_CCtx* cctx_;
};

class zstd_decompressor final : public section_decompressor {
 public:
  zstd_decompressor() : dctx_(ZSTD_createDCtx()) {
    if (dctx_ == nullptr) {
      throw std::bad_alloc();
    }
  }
  ~zstd_decompressor() override { ZSTD_freeDCtx(dctx_); }
  zstd_decompressor(const zstd_decompressor&) = delete;
  zstd_decompressor& operator=(const zstd_decompressor&) = delete;

  std::optional<std::string> decompress(std::span<const std::byte> stored, std::span<std::byte> raw) override {
    const std::size_t frame = ZSTD_findFrameCompressedSize(stored.data(), stored.size());
    if (ZSTD_isError(frame)) {
      return std::string("zstd frame: ") + ZSTD_getErrorName(frame);
    }
    if (frame != stored.size()) {
      return "zstd frame is " + std::to_string(frame) + " bytes, the section " + std::to_string(stored.size());
    }
    // One call into the whole output: zstd then needs no window buffer, whatever the frame
    // header claims, so a hostile header cannot make it allocate.
    const std::size_t n = ZSTD_decompressDCtx(dctx_, raw.data(), raw.size(), stored.data(), stored.size());
    if (ZSTD_isError(n)) {
      return std::string("zstd: ") + ZSTD_getErrorName(n);
    }
    if (n != raw.size()) {
      return "decompressed to " + std::to_string(n) + " bytes, the table says " + std::to_string(raw.size());
    }
    return std::nullopt;
  }

 private:
  ZSTD_DCtx* dctx_;
};

// ---- LZ4 frame ----

class lz4_compressor final : public section_compressor {
 public:
  explicit lz4_compressor(int level) {
    check(LZ4F_createCompressionContext(&cctx_, LZ4F_VERSION));
    prefs_.frameInfo.blockSizeID = LZ4F_max256KB;  // matches the builder's staging chunk
    prefs_.frameInfo.blockMode = LZ4F_blockLinked;
    prefs_.compressionLevel = level;
  }
  ~lz4_compressor() override { LZ4F_freeCompressionContext(cctx_); }
  lz4_compressor(const lz4_compressor&) = delete;
  lz4_compressor& operator=(const lz4_compressor&) = delete;

  void update(std::span<const std::byte> input, mapped_buffer& out) override {
    begin_if_needed(out);
    // compressBound grows with the input: feed bounded pieces so the reserved room stays small.
    constexpr std::size_t piece = std::size_t{256} << 10;
    for (std::size_t at = 0; at < input.size(); at += piece) {
      const std::size_t n = std::min(piece, input.size() - at);
      const std::size_t room = LZ4F_compressBound(n, &prefs_);
      std::byte* dst = out.reserve_tail(room);
      out.commit(check(LZ4F_compressUpdate(cctx_, dst, room, input.data() + at, n, nullptr)));
    }
  }

  void end_frame(mapped_buffer& out) override {
    begin_if_needed(out);
    const std::size_t room = LZ4F_compressBound(0, &prefs_);
    std::byte* dst = out.reserve_tail(room);
    out.commit(check(LZ4F_compressEnd(cctx_, dst, room, nullptr)));
    open_ = false;
  }

 private:
  static std::size_t check(std::size_t r) {
    if (LZ4F_isError(r)) {
      library_failure("lz4", LZ4F_getErrorName(r));
    }
    return r;
  }

  void begin_if_needed(mapped_buffer& out) {
    if (!open_) {
      std::byte* dst = out.reserve_tail(LZ4F_HEADER_SIZE_MAX);
      out.commit(check(LZ4F_compressBegin(cctx_, dst, LZ4F_HEADER_SIZE_MAX, &prefs_)));
      open_ = true;
    }
  }

  LZ4F_cctx* cctx_ = nullptr;
  LZ4F_preferences_t prefs_{};
  bool open_ = false;
};

class lz4_decompressor final : public section_decompressor {
 public:
  lz4_decompressor() {
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx_, LZ4F_VERSION))) {
      throw std::bad_alloc();
    }
  }
  ~lz4_decompressor() override { LZ4F_freeDecompressionContext(dctx_); }
  lz4_decompressor(const lz4_decompressor&) = delete;
  lz4_decompressor& operator=(const lz4_decompressor&) = delete;

  std::optional<std::string> decompress(std::span<const std::byte> stored, std::span<std::byte> raw) override {
    // The output is one buffer that stays put, which lets LZ4 skip its own history copies.
    LZ4F_decompressOptions_t options{};
    options.stableDst = 1;
    std::size_t in = 0;
    std::size_t out = 0;
    for (;;) {
      std::size_t src_size = stored.size() - in;
      std::size_t dst_size = raw.size() - out;
      const std::size_t r =
          LZ4F_decompress(dctx_, raw.data() + out, &dst_size, stored.data() + in, &src_size, &options);
      if (LZ4F_isError(r)) {
        LZ4F_resetDecompressionContext(dctx_);
        return std::string("lz4: ") + LZ4F_getErrorName(r);
      }
      in += src_size;
      out += dst_size;
      if (r == 0) {  // the frame ended
        break;
      }
      if (src_size == 0 && dst_size == 0) {
        // No progress: the input ran out mid-frame, or the frame holds more than the table says.
        LZ4F_resetDecompressionContext(dctx_);
        return in == stored.size()
                   ? std::string("lz4 frame is cut short")
                   : "lz4 frame holds more than the " + std::to_string(raw.size()) + " bytes the table says";
      }
    }
    if (in != stored.size()) {
      return "lz4 frame ends at byte " + std::to_string(in) + " of the " + std::to_string(stored.size()) +
             "-byte section";
    }
    if (out != raw.size()) {
      return "decompressed to " + std::to_string(out) + " bytes, the table says " + std::to_string(raw.size());
    }
    return std::nullopt;
  }

 private:
  LZ4F_dctx* dctx_ = nullptr;
};

}  // namespace

std::unique_ptr<section_compressor> section_compressor::create(compression algorithm, int level) {
  switch (algorithm) {
    case compression::none:
      return nullptr;
    case compression::lz4:
      return std::make_unique<lz4_compressor>(level);
    case compression::zstd:
      if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        throw std::invalid_argument("zstd level " + std::to_string(level) + " is outside [" +
                                    std::to_string(ZSTD_minCLevel()) + ", " + std::to_string(ZSTD_maxCLevel()) + "]");
      }
      return std::make_unique<zstd_compressor>(level);
  }
  throw std::invalid_argument("unknown compression " + std::to_string(static_cast<int>(algorithm)));
}

std::unique_ptr<section_decompressor> section_decompressor::create(compression algorithm) {
  switch (algorithm) {
    case compression::none:
      return nullptr;
    case compression::lz4:
      return std::make_unique<lz4_decompressor>();
    case compression::zstd:
      return std::make_unique<zstd_decompressor>();
  }
  throw std::invalid_argument("unknown compression " + std::to_string(static_cast<int>(algorithm)));
}

}  // namespace ftq::checkpoint
