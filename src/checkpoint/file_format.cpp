#include "checkpoint/file_format.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>

#include <ftq/error.hpp>

#include "checkpoint/cipher.hpp"
#include "checkpoint/compression.hpp"
#include "checkpoint/crc32c.hpp"
#include "checkpoint/file_layout.hpp"
#include "checkpoint/mapped_buffer.hpp"

namespace ftq::checkpoint {

namespace {

// Writes are gathered into chunks this big before the compressor sees them, and the body is
// encrypted and checksummed in chunks this big, so each chunk is still in cache for the CRC.
constexpr std::size_t chunk_bytes = std::size_t{256} << 10;
// AES-GCM with a 96-bit nonce encrypts at most 2^32 - 2 blocks of 16 bytes.
constexpr std::uint64_t max_gcm_bytes = ((std::uint64_t{1} << 32) - 2) * 16;

std::string hex(std::span<const unsigned char> bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : bytes) {
    s += digits[c >> 4];
    s += digits[c & 15];
  }
  return s;
}

void validate(const file_identity& id) {
  if (id.query_id.size() > 0xFFFF || id.backend.size() > 0xFFFF) {
    throw std::invalid_argument("checkpoint query id and backend name must be at most 65535 bytes");
  }
  std::unordered_set<std::uint32_t> seen(id.operator_ids.begin(), id.operator_ids.end());
  if (seen.size() != id.operator_ids.size()) {
    throw std::invalid_argument("checkpoint operator ids must be distinct");
  }
  const bool chain_ok = id.kind == file_kind::full ? id.base_epoch == id.epoch && id.parent_epoch == id.epoch
                                                   : id.base_epoch <= id.parent_epoch && id.parent_epoch < id.epoch;
  if (!chain_ok) {
    throw std::invalid_argument(
        "checkpoint epochs do not chain: a full file has base == parent == epoch, a delta "
        "base <= parent < epoch");
  }
  if (layout::header_size(id) > UINT32_MAX) {
    throw std::invalid_argument("checkpoint header over 4 GiB (too many operators)");
  }
}

}  // namespace

std::string_view compression_name(compression c) noexcept {
  switch (c) {
    case compression::none:
      return "none";
    case compression::lz4:
      return "lz4";
    case compression::zstd:
      return "zstd";
  }
  return "unknown";
}

compression parse_compression(std::string_view name) {
  for (compression c : {compression::none, compression::lz4, compression::zstd}) {
    if (name == compression_name(c)) {
      return c;
    }
  }
  throw std::invalid_argument("unknown compression '" + std::string(name) + "' (none, lz4, zstd)");
}

// ---- building ----

struct file_builder::impl final : byte_sink {
  file_identity identity;
  compression algorithm;
  std::unique_ptr<section_compressor> compressor;
  std::optional<encryption_key> key;
  std::array<unsigned char, 8> key_id{};
  gcm_nonce nonce{};

  mapped_buffer body;
  std::unique_ptr<std::byte[]> staging;  // compressed files only
  std::size_t staged = 0;
  std::vector<section_info> sections;
  bool in_section = false;
  bool finished = false;
  std::uint64_t section_start = 0;
  std::uint64_t section_raw = 0;
  std::uint64_t raw_total = 0;

  std::vector<std::byte> header;
  std::array<std::byte, layout::tag_bytes + layout::trailer_bytes> tail{};
  std::size_t tail_size = 0;

  impl(file_identity id, const codec_options& options)
      : identity(std::move(id)),
        algorithm(options.algorithm),
        compressor(section_compressor::create(options.algorithm, options.level)) {
    validate(identity);
    if (options.key != nullptr) {
      key = *options.key;
      key_id = key->id();
      nonce = fresh_nonce();
    }
    if (compressor) {
      staging = std::make_unique_for_overwrite<std::byte[]>(chunk_bytes);
    }
    sections.reserve(identity.operator_ids.size());
  }
  ~impl() override {
    if (key) {
      OPENSSL_cleanse(key->bytes.data(), key->bytes.size());
    }
  }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  void write(const char* data, std::size_t size) override {
    if (!in_section) {
      throw std::logic_error("checkpoint section written outside begin_section/end_section");
    }
    if (size == 0) {
      return;
    }
    const auto* p = reinterpret_cast<const std::byte*>(data);
    section_raw += size;
    raw_total += size;
    if (!compressor) {
      body.append(p, size);
      return;
    }
    if (staged > 0 || size < chunk_bytes) {
      const std::size_t n = std::min(size, chunk_bytes - staged);
      std::memcpy(staging.get() + staged, p, n);
      staged += n;
      p += n;
      size -= n;
      if (staged < chunk_bytes) {
        return;
      }
      flush_staging();
    }
    if (size >= chunk_bytes) {  // big writes skip the staging copy
      compressor->update({p, size}, body);
    } else if (size > 0) {
      std::memcpy(staging.get(), p, size);
      staged = size;
    }
  }

  void flush_staging() {
    if (staged > 0) {
      compressor->update({staging.get(), staged}, body);
      staged = 0;
    }
  }

  std::vector<std::span<const std::byte>> seal();
};

file_builder::file_builder(file_identity identity, codec_options options)
    : impl_(std::make_unique<impl>(std::move(identity), options)) {}

file_builder::~file_builder() = default;

file_builder::section_stream& file_builder::begin_section(std::uint32_t operator_id) {
  impl& m = *impl_;
  if (m.finished || m.in_section) {
    throw std::logic_error("checkpoint begin_section while a section is open or after finish");
  }
  const std::size_t index = m.sections.size();
  if (index >= m.identity.operator_ids.size() || m.identity.operator_ids[index] != operator_id) {
    throw std::logic_error("checkpoint section for operator " + std::to_string(operator_id) +
                           " is not the next of identity.operator_ids");
  }
  m.in_section = true;
  m.section_start = m.body.size();
  m.section_raw = 0;
  section_info s;
  s.operator_id = operator_id;
  m.sections.push_back(s);
  return m;
}

void file_builder::end_section(std::uint8_t kind) {
  impl& m = *impl_;
  if (!m.in_section) {
    throw std::logic_error("checkpoint end_section without begin_section");
  }
  if (m.compressor && m.section_raw > 0) {  // an empty section stores nothing, not an empty frame
    m.flush_staging();
    m.compressor->end_frame(m.body);
  }
  section_info& s = m.sections.back();
  s.kind = kind;
  s.raw_bytes = m.section_raw;
  s.stored_bytes = m.body.size() - m.section_start;
  if (!m.key) {  // encrypted sections are checksummed as ciphertext, in seal()
    s.crc32c = crc32c(m.body.bytes().subspan(m.section_start));
  }
  m.in_section = false;
}

std::vector<std::span<const std::byte>> file_builder::impl::seal() {
  file_summary summary;
  summary.identity = identity;
  summary.algorithm = algorithm;
  summary.encrypted = key.has_value();
  summary.key_id = key_id;
  summary.raw_bytes = raw_total;
  std::uint64_t at = layout::header_size(identity);
  for (section_info& s : sections) {
    s.offset = at;
    at += s.stored_bytes;
  }
  summary.sections = sections;
  summary.file_bytes = at + (key ? layout::tag_bytes : 0) + layout::trailer_bytes;

  std::span<const std::byte> tag;
  if (key) {
    if (body.size() > max_gcm_bytes) {
      throw std::length_error("checkpoint body of " + std::to_string(body.size()) +
                              " bytes exceeds AES-GCM's limit for one nonce");
    }
    // The associated data (everything before the checksums) is known only now, and GCM takes
    // it before the first plaintext byte: that is why encryption waits for the seal.
    const layout::encoded_header provisional = layout::encode_header(summary, nonce);
    gcm_sealer sealer(*key, nonce);
    sealer.add_aad(std::span(provisional.bytes).first(provisional.aad_bytes));
    std::size_t pos = 0;
    for (section_info& s : summary.sections) {
      std::uint32_t crc = 0;
      for (std::size_t done = 0; done < s.stored_bytes;) {
        const std::size_t n = std::min<std::uint64_t>(chunk_bytes, s.stored_bytes - done);
        const std::span<std::byte> chunk = body.bytes().subspan(pos + done, n);
        sealer.encrypt_in_place(chunk);
        crc = crc32c(chunk, crc);
        done += n;
      }
      s.crc32c = crc;
      pos += s.stored_bytes;
    }
    const gcm_tag t = sealer.finish();
    std::memcpy(tail.data(), t.data(), t.size());
    tail_size = t.size();
    tag = std::span(tail).first(t.size());
  }
  sections = summary.sections;
  layout::encoded_header h = layout::encode_header(summary, nonce);
  header = std::move(h.bytes);
  const auto trailer = layout::encode_trailer(summary.file_bytes, h.crc, tag);
  std::memcpy(tail.data() + tail_size, trailer.data(), trailer.size());
  tail_size += trailer.size();
  finished = true;
  return {std::span<const std::byte>(header), body.bytes(), std::span<const std::byte>(tail).first(tail_size)};
}

std::vector<std::span<const std::byte>> file_builder::finish() {
  impl& m = *impl_;
  if (m.finished || m.in_section || m.sections.size() != m.identity.operator_ids.size()) {
    throw std::logic_error("checkpoint finish with a section open or missing, or called twice");
  }
  return m.seal();
}

std::uint64_t file_builder::raw_bytes() const noexcept { return impl_->raw_total; }
const std::vector<section_info>& file_builder::sections() const noexcept { return impl_->sections; }

std::uint64_t file_builder::stored_bytes() const noexcept {
  const impl& m = *impl_;
  return layout::header_size(m.identity) + m.body.size() + (m.key ? layout::tag_bytes : 0) + layout::trailer_bytes;
}

// ---- reading ----

std::size_t summary_bytes(std::span<const std::byte> prologue, const std::string& path) {
  const std::size_t n = std::min(prologue.size(), prologue_bytes);
  if (n < layout::magic.size() || std::memcmp(prologue.data(), layout::magic.data(), layout::magic.size()) != 0) {
    throw checkpoint_error(make_error_code(errc::checkpoint_corrupt), path, "not a checkpoint file (no FTQCKPT magic)",
                           checkpoint_error::unknown, checkpoint_error::unknown, 0);
  }
  if (n < prologue_bytes) {
    throw checkpoint_error(make_error_code(errc::checkpoint_corrupt), path,
                           "shorter than the 16-byte prologue (truncated)", checkpoint_error::unknown,
                           checkpoint_error::unknown, n);
  }
  std::uint32_t header_bytes = 0;
  for (int i = 3; i >= 0; --i) {
    header_bytes = (header_bytes << 8) | static_cast<std::uint8_t>(prologue[12 + static_cast<std::size_t>(i)]);
  }
  return std::max<std::size_t>(header_bytes, prologue_bytes);
}

file_summary read_summary(std::span<const std::byte> file, const std::string& path) {
  return layout::parse_header(file, path).summary;
}

decoded_file decode_file(std::span<const std::byte> file, const std::string& path, const encryption_key* key,
                         decode_limits limits) {
  layout::header h = layout::parse_header(file, path);
  const file_summary& s = h.summary;
  const std::uint64_t epoch = s.identity.epoch;
  const auto fail = [&](errc code, const std::string& message, std::uint64_t op, std::uint64_t offset) {
    throw checkpoint_error(make_error_code(code), path, message, epoch, op, offset);
  };

  // Refuse oversized declarations before anything is allocated for them.
  for (std::size_t i = 0; i < s.sections.size(); ++i) {
    const section_info& e = s.sections[i];
    if (e.raw_bytes > limits.max_section_bytes) {
      fail(errc::checkpoint_corrupt,
           "the section declares " + std::to_string(e.raw_bytes) + " raw bytes, over the limit of " +
               std::to_string(limits.max_section_bytes),
           e.operator_id, h.table_offset + i * layout::table_entry_bytes);
    }
  }
  if (s.raw_bytes > limits.max_total_bytes) {
    fail(errc::checkpoint_corrupt,
         "the sections declare " + std::to_string(s.raw_bytes) + " raw bytes in all, over the limit of " +
             std::to_string(limits.max_total_bytes),
         checkpoint_error::unknown, h.table_offset);
  }
  layout::check_trailer(file, h, path);
  for (const section_info& e : s.sections) {
    if (crc32c(file.subspan(e.offset, e.stored_bytes)) != e.crc32c) {
      fail(errc::checkpoint_corrupt, "section checksum mismatch (" + std::to_string(e.stored_bytes) + " bytes)",
           e.operator_id, e.offset);
    }
  }

  decoded_file out;
  out.summary = s;
  out.sections.resize(s.sections.size());
  const std::uint64_t body_at = h.header_bytes;
  const std::uint64_t body_bytes = h.body_end() - body_at;
  std::span<const std::byte> body = file.subspan(body_at, body_bytes);
  std::unique_ptr<std::byte[]> plain;  // the decrypted body, when it must be decompressed
  const auto raw_of = [](std::vector<char>& v) { return reinterpret_cast<std::byte*>(v.data()); };

  if (s.encrypted) {
    if (key == nullptr) {
      fail(errc::checkpoint_key_missing, "the file is encrypted (key id " + hex(s.key_id) + ") and no key was given",
           checkpoint_error::unknown, checkpoint_error::unknown);
    }
    const auto given = key->id();
    if (given != s.key_id) {
      fail(errc::checkpoint_wrong_key,
           "the file was encrypted with key id " + hex(s.key_id) + ", the given key has id " + hex(given),
           checkpoint_error::unknown, checkpoint_error::unknown);
    }
    gcm_opener opener(*key, h.nonce);
    opener.add_aad(file.first(h.aad_bytes));
    if (s.algorithm == compression::none) {  // stored is raw: decrypt straight into the sections
      for (std::size_t i = 0; i < s.sections.size(); ++i) {
        const section_info& e = s.sections[i];
        out.sections[i].resize(e.raw_bytes);
        opener.decrypt(file.subspan(e.offset, e.stored_bytes), raw_of(out.sections[i]));
      }
    } else {
      plain = std::make_unique_for_overwrite<std::byte[]>(body_bytes);
      opener.decrypt(body, plain.get());
      body = std::span<const std::byte>(plain.get(), body_bytes);
    }
    gcm_tag tag{};
    std::memcpy(tag.data(), file.data() + h.body_end(), tag.size());
    if (!opener.finish(tag)) {
      fail(errc::checkpoint_tampered, "the AES-GCM tag does not verify: header or sections were altered",
           checkpoint_error::unknown, h.body_end());
    }
    if (s.algorithm == compression::none) {
      return out;
    }
  }

  const auto decompressor = section_decompressor::create(s.algorithm);
  for (std::size_t i = 0; i < s.sections.size(); ++i) {
    const section_info& e = s.sections[i];
    const std::span<const std::byte> stored = body.subspan(e.offset - body_at, e.stored_bytes);
    out.sections[i].resize(e.raw_bytes);
    if (!decompressor) {
      if (e.raw_bytes > 0) {
        std::memcpy(out.sections[i].data(), stored.data(), e.raw_bytes);
      }
    } else if (e.raw_bytes > 0) {
      if (auto why = decompressor->decompress(stored, {raw_of(out.sections[i]), e.raw_bytes})) {
        fail(errc::checkpoint_corrupt, "section does not decompress: " + *why, e.operator_id, e.offset);
      }
    }
  }
  return out;
}

}  // namespace ftq::checkpoint
