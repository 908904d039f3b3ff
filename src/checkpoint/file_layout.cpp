#include "checkpoint/file_layout.hpp"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <ftq/error.hpp>

#include "checkpoint/crc32c.hpp"

namespace ftq::checkpoint::layout {

namespace {

// Identity fields of version 1 after the prologue: compression, flags, kind (u8 each), epoch,
// base_epoch, parent_epoch, created_unix_ms (u64 each), plan hash (32), key id (8), nonce (12),
// section count (u32); then the two u16-length strings.
constexpr std::size_t fixed_identity_bytes = 3 + 4 * 8 + 32 + 8 + 12 + 4;
constexpr std::uint8_t flag_encrypted = 1;

// ---- little-endian writing ----

class writer {
 public:
  explicit writer(std::size_t capacity) { bytes_.reserve(capacity); }
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::size_t size() const noexcept { return bytes_.size(); }
  std::vector<std::byte>& bytes() noexcept { return bytes_; }

 private:
  void le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      bytes_.push_back(static_cast<std::byte>(v >> (8 * i)));
    }
  }
  std::vector<std::byte> bytes_;
};

std::uint64_t load_le(const std::byte* p, int n) noexcept {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  }
  return v;
}

void store_le(std::byte* p, std::uint64_t v, int n) noexcept {
  for (int i = 0; i < n; ++i) {
    p[i] = static_cast<std::byte>(v >> (8 * i));
  }
}

[[noreturn]] void corrupt(const std::string& path, std::uint64_t offset, const std::string& message,
                          std::uint64_t epoch = checkpoint_error::unknown,
                          std::uint64_t operator_id = checkpoint_error::unknown) {
  throw checkpoint_error(make_error_code(errc::checkpoint_corrupt), path, message, epoch, operator_id, offset);
}

// ---- bounds-checked reading of [pos, end) ----

class reader {
 public:
  reader(std::span<const std::byte> bytes, std::size_t pos, std::size_t end, const std::string& path)
      : bytes_(bytes), pos_(pos), end_(end), path_(path) {}

  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return end_ - pos_; }
  std::uint8_t u8(const char* what) { return static_cast<std::uint8_t>(load(1, what)); }
  std::uint16_t u16(const char* what) { return static_cast<std::uint16_t>(load(2, what)); }
  std::uint32_t u32(const char* what) { return static_cast<std::uint32_t>(load(4, what)); }
  std::uint64_t u64(const char* what) { return load(8, what); }
  const std::byte* raw(std::size_t n, const char* what) {
    need(n, what);
    const std::byte* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (n > end_ - pos_) {
      corrupt(path_, pos_, std::string("the header ends inside ") + what);
    }
  }
  std::uint64_t load(int n, const char* what) {
    need(static_cast<std::size_t>(n), what);
    const std::uint64_t v = load_le(bytes_.data() + pos_, n);
    pos_ += static_cast<std::size_t>(n);
    return v;
  }

  std::span<const std::byte> bytes_;
  std::size_t pos_;
  std::size_t end_;
  const std::string& path_;
};

bool all_zero(const unsigned char* p, std::size_t n) {
  return std::all_of(p, p + n, [](unsigned char c) { return c == 0; });
}

}  // namespace

std::size_t header_size(const file_identity& identity) {
  return prologue_bytes + fixed_identity_bytes + 2 + identity.query_id.size() + 2 + identity.backend.size() +
         identity.operator_ids.size() * (table_entry_bytes + 4) + 4;
}

encoded_header encode_header(const file_summary& summary, const gcm_nonce& nonce) {
  const file_identity& id = summary.identity;
  const std::size_t size = header_size(id);
  writer w(size);
  w.raw(magic.data(), magic.size());
  w.u32(current_version);
  w.u32(static_cast<std::uint32_t>(size));
  w.u8(static_cast<std::uint8_t>(summary.algorithm));
  w.u8(summary.encrypted ? flag_encrypted : 0);
  w.u8(static_cast<std::uint8_t>(id.kind));
  w.u64(id.epoch);
  w.u64(id.base_epoch);
  w.u64(id.parent_epoch);
  w.u64(id.created_unix_ms);
  w.raw(id.plan_hash.data(), id.plan_hash.size());
  w.raw(summary.key_id.data(), summary.key_id.size());
  w.raw(nonce.data(), nonce.size());
  w.u32(static_cast<std::uint32_t>(summary.sections.size()));
  w.u16(static_cast<std::uint16_t>(id.query_id.size()));
  w.raw(id.query_id.data(), id.query_id.size());
  w.u16(static_cast<std::uint16_t>(id.backend.size()));
  w.raw(id.backend.data(), id.backend.size());
  for (const section_info& s : summary.sections) {
    w.u32(s.operator_id);
    w.u8(s.kind);
    w.u64(s.offset);
    w.u64(s.raw_bytes);
    w.u64(s.stored_bytes);
  }
  const std::size_t aad = w.size();
  for (const section_info& s : summary.sections) {
    w.u32(s.crc32c);
  }
  const std::uint32_t crc = crc32c(w.bytes());
  w.u32(crc);
  return {std::move(w.bytes()), aad, crc};
}

header parse_header(std::span<const std::byte> file, const std::string& path) {
  const std::size_t magic_seen = std::min(file.size(), magic.size());
  if (magic_seen > 0 && std::memcmp(file.data(), magic.data(), magic_seen) != 0) {
    corrupt(path, 0, "not a checkpoint file (no FTQCKPT magic)");
  }
  if (file.size() < prologue_bytes) {
    corrupt(path, file.size(),
            "the file is " + std::to_string(file.size()) + " bytes, shorter than the 16-byte prologue (truncated)");
  }
  const auto version = static_cast<std::uint32_t>(load_le(file.data() + 8, 4));
  const std::size_t header_bytes = load_le(file.data() + 12, 4);
  if (header_bytes < prologue_bytes + 4) {
    corrupt(path, 12, "header length " + std::to_string(header_bytes) + " is too small");
  }
  if (header_bytes > file.size()) {
    corrupt(path, file.size(),
            "the header is " + std::to_string(header_bytes) + " bytes but the file only " +
                std::to_string(file.size()) + " (truncated)");
  }
  header h;
  h.header_bytes = header_bytes;
  h.header_crc = static_cast<std::uint32_t>(load_le(file.data() + header_bytes - 4, 4));
  // The checksum comes before the version test, so a flipped version bit reads as corruption and
  // only an intact header from a newer writer as an unsupported version.
  if (crc32c(file.first(header_bytes - 4)) != h.header_crc) {
    corrupt(path, 0, "header checksum mismatch (bytes 0.." + std::to_string(header_bytes) + ")");
  }
  if (version != current_version) {
    throw checkpoint_error(
        make_error_code(errc::checkpoint_version_unsupported), path,
        "format version " + std::to_string(version) + "; this build reads version " + std::to_string(current_version),
        checkpoint_error::unknown, checkpoint_error::unknown, 8);
  }

  reader r(file, prologue_bytes, header_bytes - 4, path);
  file_summary& s = h.summary;
  file_identity& id = s.identity;
  const std::size_t algorithm_at = r.pos();
  const std::uint8_t algorithm = r.u8("the compression");
  if (algorithm > static_cast<std::uint8_t>(compression::zstd)) {
    corrupt(path, algorithm_at, "unknown compression " + std::to_string(algorithm));
  }
  s.algorithm = static_cast<compression>(algorithm);
  const std::size_t flags_at = r.pos();
  const std::uint8_t flags = r.u8("the flags");
  if ((flags & ~flag_encrypted) != 0) {
    corrupt(path, flags_at, "unknown flag bits " + std::to_string(flags & ~flag_encrypted));
  }
  s.encrypted = (flags & flag_encrypted) != 0;
  const std::size_t kind_at = r.pos();
  const std::uint8_t kind = r.u8("the file kind");
  if (kind > static_cast<std::uint8_t>(file_kind::delta)) {
    corrupt(path, kind_at, "unknown file kind " + std::to_string(kind));
  }
  id.kind = static_cast<file_kind>(kind);
  const std::size_t epochs_at = r.pos();
  id.epoch = r.u64("the epoch");
  id.base_epoch = r.u64("the base epoch");
  id.parent_epoch = r.u64("the parent epoch");
  const bool chain_ok = id.kind == file_kind::full ? id.base_epoch == id.epoch && id.parent_epoch == id.epoch
                                                   : id.base_epoch <= id.parent_epoch && id.parent_epoch < id.epoch;
  if (!chain_ok) {
    corrupt(path, epochs_at,
            std::string(id.kind == file_kind::full ? "full" : "delta") + " file with epoch " +
                std::to_string(id.epoch) + ", base " + std::to_string(id.base_epoch) + ", parent " +
                std::to_string(id.parent_epoch));
  }
  id.created_unix_ms = r.u64("the creation time");
  std::memcpy(id.plan_hash.data(), r.raw(id.plan_hash.size(), "the plan hash"), id.plan_hash.size());
  const std::size_t key_at = r.pos();
  std::memcpy(s.key_id.data(), r.raw(s.key_id.size(), "the key id"), s.key_id.size());
  std::memcpy(h.nonce.data(), r.raw(h.nonce.size(), "the nonce"), h.nonce.size());
  if (!s.encrypted && !(all_zero(s.key_id.data(), s.key_id.size()) && all_zero(h.nonce.data(), h.nonce.size()))) {
    corrupt(path, key_at, "an unencrypted file with a key id or nonce");
  }
  const std::size_t count_at = r.pos();
  const std::uint32_t count = r.u32("the section count");
  const std::uint16_t query_len = r.u16("the query id length");
  id.query_id.assign(reinterpret_cast<const char*>(r.raw(query_len, "the query id")), query_len);
  const std::uint16_t backend_len = r.u16("the backend length");
  id.backend.assign(reinterpret_cast<const char*>(r.raw(backend_len, "the backend name")), backend_len);
  if (static_cast<std::uint64_t>(count) * (table_entry_bytes + 4) != r.left()) {
    corrupt(path, count_at,
            std::to_string(count) + " sections need " + std::to_string(std::uint64_t{count} * (table_entry_bytes + 4)) +
                " bytes of table and checksums, the header has " + std::to_string(r.left()));
  }

  h.table_offset = r.pos();
  s.sections.resize(count);
  id.operator_ids.resize(count);
  std::unordered_set<std::uint32_t> seen;
  seen.reserve(count);
  std::uint64_t at = header_bytes;  // sections follow each other from the end of the header
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t entry_at = r.pos();
    section_info& e = s.sections[i];
    e.operator_id = r.u32("a section entry");
    e.kind = r.u8("a section entry");
    e.offset = r.u64("a section entry");
    e.raw_bytes = r.u64("a section entry");
    e.stored_bytes = r.u64("a section entry");
    id.operator_ids[i] = e.operator_id;
    const auto bad = [&](const std::string& why) { corrupt(path, entry_at, why, id.epoch, e.operator_id); };
    if (!seen.insert(e.operator_id).second) {
      bad("a second section for the operator");
    }
    if (e.offset != at) {
      bad("section offset " + std::to_string(e.offset) + ", expected " + std::to_string(at));
    }
    if (s.algorithm == compression::none ? e.stored_bytes != e.raw_bytes
                                         : (e.raw_bytes == 0) != (e.stored_bytes == 0)) {
      bad("stored " + std::to_string(e.stored_bytes) + " bytes for " + std::to_string(e.raw_bytes) +
          " raw bytes with " + std::string(compression_name(s.algorithm)) + " compression");
    }
    if (e.stored_bytes > UINT64_MAX / 2 - at || e.raw_bytes > UINT64_MAX / 2 - s.raw_bytes) {
      bad("section sizes overflow");
    }
    at += e.stored_bytes;
    s.raw_bytes += e.raw_bytes;
  }
  h.aad_bytes = r.pos();
  for (std::uint32_t i = 0; i < count; ++i) {
    s.sections[i].crc32c = r.u32("the section checksums");
  }
  s.file_bytes = at + (s.encrypted ? tag_bytes : 0) + trailer_bytes;
  return h;
}

std::array<std::byte, trailer_bytes> encode_trailer(std::uint64_t file_bytes, std::uint32_t header_crc,
                                                    std::span<const std::byte> tag) {
  std::array<std::byte, trailer_bytes> t{};
  store_le(t.data(), file_bytes, 8);
  store_le(t.data() + 8, header_crc, 4);
  std::memcpy(t.data() + 12, end_magic.data(), end_magic.size());
  const std::uint32_t crc = crc32c(std::span(t).first(20), crc32c(tag));
  store_le(t.data() + 20, crc, 4);
  return t;
}

void check_trailer(std::span<const std::byte> file, const header& h, const std::string& path) {
  const std::uint64_t expected = h.summary.file_bytes;
  const std::uint64_t epoch = h.summary.identity.epoch;
  if (file.size() < expected) {
    corrupt(path, file.size(),
            "the file is " + std::to_string(file.size()) + " bytes, the header says " + std::to_string(expected) +
                " (truncated)",
            epoch);
  }
  if (file.size() > expected) {
    corrupt(path, expected,
            "the file is " + std::to_string(file.size()) + " bytes, the header says " + std::to_string(expected) +
                " (bytes after the trailer)",
            epoch);
  }
  const std::uint64_t tail = h.body_end();
  const std::byte* t = file.data() + expected - trailer_bytes;
  if (crc32c(file.subspan(tail, expected - 4 - tail)) != load_le(t + 20, 4)) {
    corrupt(path, tail, std::string(h.summary.encrypted ? "tag and trailer" : "trailer") + " checksum mismatch", epoch);
  }
  const std::uint64_t trailer_at = expected - trailer_bytes;
  if (load_le(t, 8) != expected) {
    corrupt(path, trailer_at,
            "the trailer gives length " + std::to_string(load_le(t, 8)) + ", the header " + std::to_string(expected),
            epoch);
  }
  if (load_le(t + 8, 4) != h.header_crc) {
    corrupt(path, trailer_at + 8, "the trailer belongs to another header", epoch);
  }
  if (std::memcmp(t + 12, end_magic.data(), end_magic.size()) != 0) {
    corrupt(path, trailer_at + 12, "no FTQCKEND magic at the end", epoch);
  }
}

}  // namespace ftq::checkpoint::layout
