#pragma once
// Builds checkpoint files for the codec tests and edits them the way an attacker would: change
// bytes, then recompute every CRC32C (sections, header, trailer) from the layout in
// docs/checkpoint-format.md, read here independently of src/checkpoint/file_layout.cpp.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/crc32c.hpp"
#include "checkpoint/file_format.hpp"

namespace ftq::test::ckpt {

using namespace ftq::checkpoint;

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

struct section_data {
  std::uint32_t operator_id;
  std::uint8_t kind;
  std::string bytes;
};

inline file_identity identity_for(const std::vector<section_data>& sections, std::uint64_t epoch = 7) {
  file_identity id;
  id.query_id = "q-orders-by-priority";
  for (std::size_t i = 0; i < id.plan_hash.size(); ++i) {
    id.plan_hash[i] = static_cast<unsigned char>(0xA0 + i);
  }
  id.epoch = epoch;
  id.base_epoch = epoch;
  id.parent_epoch = epoch;
  id.created_unix_ms = 1700000000123;
  id.backend = "io_uring";
  for (const auto& s : sections) {
    id.operator_ids.push_back(s.operator_id);
  }
  return id;
}

// Writes each section in pieces of 1, 2, ... `max_piece` bytes in turn, as a packer would.
inline std::string build(const file_identity& id, const codec_options& options,
                         const std::vector<section_data>& sections, std::size_t max_piece = 97) {
  file_builder b(id, options);
  for (const auto& s : sections) {
    auto& out = b.begin_section(s.operator_id);
    std::size_t piece = 1;
    for (std::size_t at = 0; at < s.bytes.size();) {
      const std::size_t n = std::min(piece, s.bytes.size() - at);
      out.write(s.bytes.data() + at, n);
      at += n;
      piece = piece % max_piece + 1;
    }
    b.end_section(s.kind);
  }
  std::string file;
  for (auto span : b.finish()) {
    file.append(reinterpret_cast<const char*>(span.data()), span.size());
  }
  return file;
}

// Deterministic bytes: a counter pattern with some noise, compressible but not trivially.
inline std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>((i / 16) % 251 ^ (i % 8 == 0 ? (x >> 24) : 0));
  }
  return s;
}

inline std::uint64_t get_le(const std::string& f, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(f[at + static_cast<std::size_t>(i)]);
  }
  return v;
}

inline void put_le(std::string& f, std::size_t at, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) {
    f[at + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  }
}

// Where things are in a version-1 file.
struct file_map {
  std::size_t header_bytes;
  bool encrypted;
  std::size_t count;
  std::size_t table;      // first table entry (29 bytes each)
  std::size_t checksums;  // first section CRC (4 bytes each)
  std::size_t body_end;   // where the tag (or the trailer) starts
  std::size_t size;
  std::size_t entry(std::size_t i) const { return table + 29 * i; }
};

inline file_map map_of(const std::string& f) {
  file_map m{};
  m.size = f.size();
  m.header_bytes = get_le(f, 12, 4);
  m.encrypted = (static_cast<unsigned char>(f[17]) & 1) != 0;
  m.count = get_le(f, 103, 4);
  const std::size_t query_len = get_le(f, 107, 2);
  const std::size_t backend_len = get_le(f, 109 + query_len, 2);
  m.table = 111 + query_len + backend_len;
  m.checksums = m.table + 29 * m.count;
  m.body_end = m.size - 24 - (m.encrypted ? 16 : 0);
  return m;
}

inline std::uint32_t crc_of(const std::string& f, std::size_t at, std::size_t n) {
  return crc32c(bytes_of(f).subspan(at, n));
}

// Recomputes every checksum so only the AES-GCM tag (if any) can notice an edit.
inline void reseal(std::string& f) {
  const file_map m = map_of(f);
  for (std::size_t i = 0; i < m.count; ++i) {
    const std::size_t offset = get_le(f, m.entry(i) + 5, 8);
    const std::size_t stored = get_le(f, m.entry(i) + 21, 8);
    put_le(f, m.checksums + 4 * i, crc_of(f, offset, stored), 4);
  }
  const std::uint32_t header_crc = crc_of(f, 0, m.header_bytes - 4);
  put_le(f, m.header_bytes - 4, header_crc, 4);
  put_le(f, m.size - 16, header_crc, 4);
  put_le(f, m.size - 4, crc_of(f, m.body_end, m.size - 4 - m.body_end), 4);
}

}  // namespace ftq::test::ckpt
