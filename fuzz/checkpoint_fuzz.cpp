// Feeds arbitrary bytes to the checkpoint decoder with a fixed key (the golden test key) and a
// 64 MiB section limit, twice: as given, and with every CRC32C recomputed so mutations reach the
// table checks, the decompressors and the AES-GCM tag instead of stopping at a checksum.
// A verified file or ftq::checkpoint_error with a checkpoint code is the expected outcome; any
// other exception, a crash, a sanitizer report or a broken invariant (abort) is a finding.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "checkpoint/crc32c.hpp"
#include "checkpoint/file_format.hpp"

namespace {

using namespace ftq::checkpoint;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "checkpoint_fuzz: %s\n", what.c_str());
  std::abort();
}

encryption_key fixed_key() {
  // tests/data/checkpoint/golden/test.key, so the encrypted seeds decode all the way.
  const char* hex = "5f7a1c3e9b2d4f6081a3c5e7092b4d6f8e1c3a5b7d9f0e2c4a6b8d0f1e3c5a79";
  encryption_key k;
  for (std::size_t i = 0; i < 32; ++i) {
    k.bytes[i] = static_cast<unsigned char>(std::strtoul(std::string(hex + 2 * i, 2).c_str(), nullptr, 16));
  }
  return k;
}

std::uint64_t get_le(const std::vector<std::byte>& f, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<std::uint8_t>(f[at + static_cast<std::size_t>(i)]);
  }
  return v;
}

void put_le(std::vector<std::byte>& f, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) {
    f[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
  }
}

// Recomputes the checksums of a version-1 layout where it can find them; leaves the rest alone.
void reseal(std::vector<std::byte>& f) {
  const std::size_t size = f.size();
  if (size < 111 + 4) {
    return;
  }
  const std::size_t header = get_le(f, 12, 4);
  if (header < 111 + 4 || header > size) {
    return;
  }
  const std::size_t count = get_le(f, 103, 4);
  const std::size_t query_len = get_le(f, 107, 2);
  if (109 + query_len + 2 > header) {
    return;
  }
  const std::size_t backend_len = get_le(f, 109 + query_len, 2);
  const std::size_t table = 111 + query_len + backend_len;
  if (count > header || table + 33 * count + 4 > header) {
    return;
  }
  const std::size_t checksums = table + 29 * count;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t offset = get_le(f, table + 29 * i + 5, 8);
    const std::uint64_t stored = get_le(f, table + 29 * i + 21, 8);
    if (offset <= size && stored <= size - offset) {
      put_le(f, checksums + 4 * i, crc32c(std::span(f).subspan(offset, stored)), 4);
    }
  }
  const std::uint32_t header_crc = crc32c(std::span(f).first(header - 4));
  put_le(f, header - 4, header_crc, 4);
  const std::size_t tail = 24 + ((static_cast<std::uint8_t>(f[17]) & 1) != 0 ? 16 : 0);
  if (size >= header + tail) {
    put_le(f, size - 16, header_crc, 4);
    put_le(f, size - 4, crc32c(std::span(f).subspan(size - tail, tail - 4)), 4);
  }
}

void check_decoded(const decoded_file& d, std::span<const std::byte> file, const decode_limits& limits) {
  const file_summary& s = d.summary;
  if (s.file_bytes != file.size()) {
    finding("decoded file_bytes differs from the input size");
  }
  if (d.sections.size() != s.sections.size() || s.identity.operator_ids.size() != s.sections.size()) {
    finding("section counts differ");
  }
  std::uint64_t raw = 0;
  for (std::size_t i = 0; i < d.sections.size(); ++i) {
    if (d.sections[i].size() != s.sections[i].raw_bytes || s.sections[i].raw_bytes > limits.max_section_bytes) {
      finding("a section's size differs from its declared raw size or exceeds the limit");
    }
    raw += d.sections[i].size();
  }
  if (raw != s.raw_bytes) {
    finding("raw_bytes is not the sum of the sections");
  }
  // What decodes must be writable again and read back the same, unencrypted.
  codec_options o;
  o.algorithm = s.algorithm;
  file_builder b(s.identity, o);
  for (std::size_t i = 0; i < d.sections.size(); ++i) {
    b.begin_section(s.sections[i].operator_id).write(d.sections[i].data(), d.sections[i].size());
    b.end_section(s.sections[i].kind);
  }
  std::vector<std::byte> again;
  for (auto span : b.finish()) {
    again.insert(again.end(), span.begin(), span.end());
  }
  const decoded_file back = decode_file(again, "rewritten", nullptr, limits);
  if (back.sections != d.sections) {
    finding("a decoded file written again reads back different");
  }
}

void decode_one(std::span<const std::byte> file, const encryption_key* key, const decode_limits& limits) {
  try {
    const decoded_file d = decode_file(file, "fuzz-input", key, limits);
    check_decoded(d, file, limits);
  } catch (const ftq::checkpoint_error& e) {
    const auto c = e.code();
    if (c != ftq::errc::checkpoint_corrupt && c != ftq::errc::checkpoint_tampered &&
        c != ftq::errc::checkpoint_wrong_key && c != ftq::errc::checkpoint_key_missing &&
        c != ftq::errc::checkpoint_version_unsupported) {
      finding(std::string("unexpected checkpoint_error code: ") + e.what());
    }
    if (e.path() != "fuzz-input") {
      finding(std::string("the error does not name the file: ") + e.what());
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const encryption_key key = fixed_key();
  decode_limits limits;
  limits.max_section_bytes = std::uint64_t{64} << 20;
  limits.max_total_bytes = std::uint64_t{256} << 20;
  std::vector<std::byte> file(reinterpret_cast<const std::byte*>(data),
                              reinterpret_cast<const std::byte*>(data) + size);
  decode_one(file, &key, limits);
  reseal(file);
  decode_one(file, &key, limits);
  decode_one(file, nullptr, limits);
  return 0;
}
