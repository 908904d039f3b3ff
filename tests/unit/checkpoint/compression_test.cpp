#include "checkpoint/compression.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "checkpoint_files.hpp"

namespace {

using namespace ftq::test::ckpt;

std::string compress(compression c, const std::string& raw) {
  mapped_buffer out;
  auto z = section_compressor::create(c, 1);
  z->update(bytes_of(raw), out);
  z->end_frame(out);
  return {reinterpret_cast<const char*>(out.data()), out.size()};
}

std::optional<std::string> decompress(compression c, const std::string& stored, std::size_t raw_size,
                                      std::string* raw = nullptr) {
  std::string out(raw_size, '\0');
  auto d = section_decompressor::create(c);
  auto why = d->decompress(bytes_of(stored), {reinterpret_cast<std::byte*>(out.data()), out.size()});
  if (raw != nullptr) {
    *raw = out;
  }
  return why;
}

}  // namespace

TEST_CASE("a section decompresses only into exactly its declared size, from exactly one frame") {
  const std::string raw = pattern(300000, 4);
  for (compression c : {compression::lz4, compression::zstd}) {
    CAPTURE(compression_name(c));
    const std::string frame = compress(c, raw);
    std::string back;
    CHECK_FALSE(decompress(c, frame, raw.size(), &back).has_value());
    CHECK(back == raw);
    CHECK(decompress(c, frame, raw.size() + 1).has_value());                          // declared too big
    CHECK(decompress(c, frame, raw.size() - 1).has_value());                          // declared too small
    CHECK(decompress(c, frame.substr(0, frame.size() - 1), raw.size()).has_value());  // frame cut
    CHECK(decompress(c, frame + frame, raw.size()).has_value());                      // two frames
    CHECK(decompress(c, frame + "x", raw.size()).has_value());                        // trailing byte
    CHECK(decompress(c, "not a frame at all", raw.size()).has_value());
  }
}

TEST_CASE("compression::none has no compressor, and zstd levels outside zstd's range are refused") {
  CHECK(section_compressor::create(compression::none, 1) == nullptr);
  CHECK(section_decompressor::create(compression::none) == nullptr);
  CHECK(section_compressor::create(compression::zstd, -5) != nullptr);
  CHECK(section_compressor::create(compression::zstd, 19) != nullptr);
  CHECK_THROWS_AS(section_compressor::create(compression::zstd, 23), std::invalid_argument);
  CHECK(section_compressor::create(compression::lz4, 9) != nullptr);  // LZ4HC
}

TEST_CASE("an LZ4HC frame reads back like a fast one") {
  const std::string raw = pattern(100000, 8);
  mapped_buffer out;
  auto z = section_compressor::create(compression::lz4, 9);
  z->update(bytes_of(raw), out);
  z->end_frame(out);
  std::string back;
  CHECK_FALSE(decompress(compression::lz4, std::string(reinterpret_cast<const char*>(out.data()), out.size()),
                         raw.size(), &back)
                  .has_value());
  CHECK(back == raw);
}
