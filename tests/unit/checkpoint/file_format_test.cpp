#include "checkpoint/file_format.hpp"

#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "checkpoint_files.hpp"

namespace {

using namespace ftq::test::ckpt;
using ftq::checkpoint_error;
using ftq::errc;

const std::string path = "/ckpt/q/epoch-7.ckpt";

encryption_key test_key(unsigned char seed) {
  encryption_key k;
  for (std::size_t i = 0; i < k.bytes.size(); ++i) {
    k.bytes[i] = static_cast<unsigned char>(seed + 13 * i);
  }
  return k;
}

const encryption_key key = test_key(1);
const compression all_algorithms[] = {compression::none, compression::lz4, compression::zstd};

std::string label(compression c, bool encrypted) {
  return std::string(compression_name(c)) + (encrypted ? " + aes-256-gcm" : "");
}

codec_options options_for(compression c, bool encrypted) {
  codec_options o;
  o.algorithm = c;
  o.key = encrypted ? &key : nullptr;
  return o;
}

// Decodes and returns the error it must throw; fails the test if it throws anything else or
// nothing at all.
checkpoint_error decode_error(const std::string& file, const encryption_key* k = &key, decode_limits limits = {}) {
  try {
    decode_file(bytes_of(file), path, k, limits);
  } catch (const checkpoint_error& e) {
    return e;
  }
  FAIL("decode_file accepted a damaged file");
  throw std::logic_error("unreachable");
}

std::vector<section_data> small_sections() {
  return {{3, 0, "state of operator three"}, {5, 1, ""}, {9, 0, pattern(200, 9)}};
}

void check_same(const decoded_file& d, const file_identity& id, const std::vector<section_data>& sections) {
  CHECK(d.summary.identity.query_id == id.query_id);
  CHECK(d.summary.identity.plan_hash == id.plan_hash);
  CHECK(d.summary.identity.epoch == id.epoch);
  CHECK(d.summary.identity.kind == id.kind);
  CHECK(d.summary.identity.base_epoch == id.base_epoch);
  CHECK(d.summary.identity.parent_epoch == id.parent_epoch);
  CHECK(d.summary.identity.created_unix_ms == id.created_unix_ms);
  CHECK(d.summary.identity.operator_ids == id.operator_ids);
  CHECK(d.summary.identity.backend == id.backend);
  REQUIRE(d.sections.size() == sections.size());
  REQUIRE(d.summary.sections.size() == sections.size());
  std::uint64_t raw = 0;
  for (std::size_t i = 0; i < sections.size(); ++i) {
    CHECK(d.summary.sections[i].operator_id == sections[i].operator_id);
    CHECK(d.summary.sections[i].kind == sections[i].kind);
    CHECK(d.summary.sections[i].raw_bytes == sections[i].bytes.size());
    CHECK(std::string(d.sections[i].begin(), d.sections[i].end()) == sections[i].bytes);
    raw += sections[i].bytes.size();
  }
  CHECK(d.summary.raw_bytes == raw);
}

}  // namespace

TEST_CASE("every compression, with and without encryption, round-trips empty, many, large and no sections") {
  const std::string large = pattern((std::size_t{3} << 19) + 12345, 1);  // 1.5 MiB and some
  const std::vector<std::vector<section_data>> layouts = [&] {
    std::vector<section_data> many;
    for (std::uint32_t i = 0; i < 150; ++i) {
      many.push_back({1000 + i * 3, static_cast<std::uint8_t>(i % 2), pattern(i * 7, i)});
    }
    return std::vector<std::vector<section_data>>{
        {}, {{1, 0, ""}}, {{2, 0, "x"}, {4, 1, ""}, {8, 0, large}, {16, 1, pattern(1000, 3)}}, many};
  }();
  for (compression c : all_algorithms) {
    for (bool encrypted : {false, true}) {
      for (const auto& sections : layouts) {
        CAPTURE(label(c, encrypted));
        CAPTURE(sections.size());
        const file_identity id = identity_for(sections);
        file_builder b(id, options_for(c, encrypted));
        for (const auto& s : sections) {
          auto& out = b.begin_section(s.operator_id);
          out.write(s.bytes.data(), s.bytes.size() / 3);  // one write, then small ones
          for (std::size_t at = s.bytes.size() / 3; at < s.bytes.size(); at += 61) {
            out.write(s.bytes.data() + at, std::min<std::size_t>(61, s.bytes.size() - at));
          }
          b.end_section(s.kind);
        }
        const auto spans = b.finish();
        REQUIRE(spans.size() == 3);
        std::string file;
        for (auto span : spans) {
          file.append(reinterpret_cast<const char*>(span.data()), span.size());
        }
        CHECK(b.stored_bytes() == file.size());

        const decoded_file d = decode_file(bytes_of(file), path, encrypted ? &key : nullptr);
        check_same(d, id, sections);
        CHECK(b.raw_bytes() == d.summary.raw_bytes);
        CHECK(d.summary.algorithm == c);
        CHECK(d.summary.encrypted == encrypted);
        CHECK(d.summary.file_bytes == file.size());
        std::uint64_t stored = 0;
        for (const auto& s : d.summary.sections) {
          CHECK(s.offset == spans[0].size() + stored);
          stored += s.stored_bytes;
        }
        CHECK(spans[1].size() == stored);
        CHECK(spans[2].size() == (encrypted ? 16u : 0u) + 24u);
        if (c != compression::none && sections.size() == 4) {
          CHECK(d.summary.sections[2].stored_bytes < large.size() * 3 / 4);  // it really compressed
        }
        if (encrypted && !sections.empty()) {
          // Encrypted bytes are not the plaintext: search for the large pattern's start.
          CHECK(file.find(pattern(64, 3)) == std::string::npos);
        }
      }
    }
  }
}

TEST_CASE("one writer feeding large and tiny writes gives the same bytes as one feeding them one at a time") {
  const std::vector<section_data> sections = {{1, 0, pattern(700000, 5)}};
  for (compression c : all_algorithms) {
    CAPTURE(label(c, false));
    const std::string a = build(identity_for(sections), options_for(c, false), sections, 1);
    const std::string b = build(identity_for(sections), options_for(c, false), sections, 1 << 20);
    CHECK(a == b);  // staging makes the compressor's input independent of write sizes
  }
}

TEST_CASE("read_summary lists an encrypted file without its key, and summary_bytes finds the header") {
  const auto sections = small_sections();
  const std::string file = build(identity_for(sections), options_for(compression::zstd, true), sections);
  const file_summary s = read_summary(bytes_of(file), path);
  CHECK(s.encrypted);
  CHECK(s.key_id == key.id());
  CHECK(s.algorithm == compression::zstd);
  CHECK(s.identity.query_id == "q-orders-by-priority");
  CHECK(s.identity.operator_ids == std::vector<std::uint32_t>{3, 5, 9});
  CHECK(s.file_bytes == file.size());
  CHECK(s.raw_bytes == 23 + 200);
  const std::size_t header = summary_bytes(bytes_of(file).first(prologue_bytes), path);
  CHECK(header == map_of(file).header_bytes);
  CHECK(read_summary(bytes_of(file).first(header), path).sections.size() == 3);  // the header alone suffices
}

TEST_CASE("a bit flipped in any byte of a file is reported as corrupt, naming the section it hit") {
  for (compression c : all_algorithms) {
    for (bool encrypted : {false, true}) {
      CAPTURE(label(c, encrypted));
      const auto sections = small_sections();
      const std::string file = build(identity_for(sections), options_for(c, encrypted), sections);
      const file_summary summary = read_summary(bytes_of(file), path);
      std::size_t checked = 0;
      for (std::size_t at = 0; at < file.size(); ++at) {
        for (int bit = 0; bit < 8; ++bit) {
          std::string bad = file;
          bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
          CAPTURE(at);
          CAPTURE(bit);
          const checkpoint_error e = decode_error(bad);
          CHECK((e.code() == errc::checkpoint_corrupt));
          CHECK(e.path() == path);
          for (const auto& s : summary.sections) {
            if (at >= s.offset && at < s.offset + s.stored_bytes) {
              CHECK(e.operator_id() == s.operator_id);
              CHECK(e.offset() == s.offset);
              CHECK(e.epoch() == 7);
            }
          }
          ++checked;
        }
      }
      CHECK(checked == file.size() * 8);
    }
  }
}

TEST_CASE("a file cut at any length, or with bytes appended, is reported as corrupt") {
  for (compression c : all_algorithms) {
    for (bool encrypted : {false, true}) {
      CAPTURE(label(c, encrypted));
      const auto sections = small_sections();
      const std::string file = build(identity_for(sections), options_for(c, encrypted), sections);
      const std::size_t header = map_of(file).header_bytes;
      for (std::size_t len = 0; len < file.size(); ++len) {
        CAPTURE(len);
        const std::string cut = file.substr(0, len);
        const checkpoint_error e = decode_error(cut);
        CHECK((e.code() == errc::checkpoint_corrupt));
        if (len >= header) {
          CHECK(e.offset() == len);  // the end of what is there
          CHECK(read_summary(bytes_of(cut), path).file_bytes == file.size());
        } else {
          CHECK_THROWS_AS(read_summary(bytes_of(cut), path), checkpoint_error);
        }
      }
      const checkpoint_error e = decode_error(file + "x");
      CHECK((e.code() == errc::checkpoint_corrupt));
      CHECK(e.offset() == file.size());
    }
  }
}

TEST_CASE("checkpoint_corrupt names path, epoch, operator and offset of a damaged section") {
  const auto sections = small_sections();
  std::string file = build(identity_for(sections), options_for(compression::none, false), sections);
  const file_summary s = read_summary(bytes_of(file), path);
  file[s.sections[2].offset + 10] ^= 0x40;
  const checkpoint_error e = decode_error(file);
  CHECK((e.code() == errc::checkpoint_corrupt));
  CHECK(e.operator_id() == 9);
  CHECK(e.offset() == s.sections[2].offset);
  CHECK(std::string(e.what()) == path + ": epoch 7: operator 9: offset " + std::to_string(s.sections[2].offset) +
                                     ": section checksum mismatch (200 bytes)");
}

TEST_CASE("a header edit with recomputed checksums is still caught where the format can tell") {
  const auto sections = small_sections();
  const std::string good = build(identity_for(sections), options_for(compression::zstd, false), sections);
  const file_map m = map_of(good);

  SUBCASE("a section table that disagrees with its frame: corrupt, naming the operator") {
    std::string f = good;
    put_le(f, m.entry(2) + 13, get_le(f, m.entry(2) + 13, 8) + 1, 8);  // raw_bytes of operator 9
    reseal(f);
    const checkpoint_error e = decode_error(f);
    CHECK((e.code() == errc::checkpoint_corrupt));
    CHECK(e.operator_id() == 9);
    CHECK(std::string(e.what()).find("does not decompress") != std::string::npos);
  }
  SUBCASE("sections that do not follow each other") {
    std::string f = good;
    put_le(f, m.entry(1) + 5, get_le(f, m.entry(1) + 5, 8) + 1, 8);
    reseal(f);
    const checkpoint_error e = decode_error(f);
    CHECK((e.code() == errc::checkpoint_corrupt));
    CHECK(e.operator_id() == 5);
    CHECK(e.offset() == m.entry(1));
  }
  SUBCASE("a full file whose epochs do not chain") {
    std::string f = good;
    put_le(f, 27, 6, 8);  // base_epoch
    reseal(f);
    const checkpoint_error e = decode_error(f);
    CHECK((e.code() == errc::checkpoint_corrupt));
    CHECK(e.offset() == 19);
  }
  SUBCASE("an unknown compression") {
    std::string f = good;
    f[16] = 9;
    reseal(f);
    const checkpoint_error e = decode_error(f);
    CHECK((e.code() == errc::checkpoint_corrupt));
    CHECK(e.offset() == 16);
    CHECK(std::string(e.what()).find("unknown compression 9") != std::string::npos);
  }
}

TEST_CASE("checkpoint_tampered: altered bytes with recomputed checksums fail the AES-GCM tag") {
  const auto sections = small_sections();
  for (compression c : all_algorithms) {
    CAPTURE(label(c, true));
    const std::string good = build(identity_for(sections), options_for(c, true), sections);
    const file_map m = map_of(good);
    const file_summary s = read_summary(bytes_of(good), path);
    std::vector<std::pair<std::string, std::size_t>> edits = {
        {"a ciphertext byte", s.sections[2].offset + 3},
        {"the epoch", 19},
        {"the query id", 112},
        {"the plan hash", 60},
        {"a section kind", m.entry(0) + 4},
        {"the tag", m.body_end + 5},
    };
    for (const auto& [what, at] : edits) {
      CAPTURE(what);
      std::string f = good;
      f[at] ^= 0x01;
      if (what == "the epoch") {  // keep a full file's epochs chained so only the tag can object
        put_le(f, 27, get_le(f, 19, 8), 8);
        put_le(f, 35, get_le(f, 19, 8), 8);
      }
      reseal(f);
      const checkpoint_error e = decode_error(f);
      CHECK((e.code() == errc::checkpoint_tampered));
      CHECK(e.path() == path);
      CHECK(e.offset() == m.body_end);
      CHECK(std::string(e.what()).find(path + ": epoch ") == 0);
    }
  }
}

TEST_CASE("checkpoint_wrong_key: a file sealed with another key names both key ids") {
  const auto sections = small_sections();
  const std::string file = build(identity_for(sections), options_for(compression::lz4, true), sections);
  const encryption_key other = test_key(2);
  const checkpoint_error e = decode_error(file, &other);
  CHECK((e.code() == errc::checkpoint_wrong_key));
  CHECK(e.path() == path);
  CHECK(std::string(e.what()).find(path) == 0);
  CHECK(std::string(e.what()).find("key id") != std::string::npos);
  CHECK(key.id() != other.id());
}

TEST_CASE("checkpoint_key_missing: an encrypted file decoded without a key") {
  const auto sections = small_sections();
  const std::string file = build(identity_for(sections), options_for(compression::none, true), sections);
  const checkpoint_error e = decode_error(file, nullptr);
  CHECK((e.code() == errc::checkpoint_key_missing));
  CHECK(e.path() == path);
  CHECK(std::string(e.what()).find(path + ": epoch 7: the file is encrypted") == 0);
}

TEST_CASE("checkpoint_version_unsupported: an intact header from a newer format version") {
  const auto sections = small_sections();
  std::string file = build(identity_for(sections), options_for(compression::zstd, false), sections);
  put_le(file, 8, 2, 4);
  reseal(file);
  const checkpoint_error e = decode_error(file);
  CHECK((e.code() == errc::checkpoint_version_unsupported));
  CHECK(e.offset() == 8);
  CHECK(std::string(e.what()) == path + ": offset 8: format version 2; this build reads version 1");
  CHECK_THROWS_AS(read_summary(bytes_of(file), path), checkpoint_error);
}

TEST_CASE("declared sizes over the limits are refused as corrupt before decoding") {
  const std::vector<section_data> sections = {{1, 0, pattern(5000, 1)}, {2, 0, pattern(5000, 2)}};
  const std::string file = build(identity_for(sections), options_for(compression::zstd, false), sections);
  decode_limits per_section;
  per_section.max_section_bytes = 4999;
  checkpoint_error e = decode_error(file, nullptr, per_section);
  CHECK((e.code() == errc::checkpoint_corrupt));
  CHECK(e.operator_id() == 1);
  CHECK(std::string(e.what()).find("over the limit of 4999") != std::string::npos);
  decode_limits total;
  total.max_total_bytes = 9999;
  e = decode_error(file, nullptr, total);
  CHECK((e.code() == errc::checkpoint_corrupt));
  decode_limits exact;
  exact.max_section_bytes = 5000;
  exact.max_total_bytes = 10000;
  CHECK(decode_file(bytes_of(file), path, nullptr, exact).sections.size() == 2);
}

TEST_CASE("a key given for an unencrypted file is not needed and not used") {
  const auto sections = small_sections();
  const std::string file = build(identity_for(sections), options_for(compression::lz4, false), sections);
  const decoded_file d = decode_file(bytes_of(file), path, &key);
  CHECK_FALSE(d.summary.encrypted);
  CHECK(std::string(d.sections[0].begin(), d.sections[0].end()) == "state of operator three");
}

TEST_CASE("two encryptions of the same state use different nonces") {
  const auto sections = small_sections();
  const std::string a = build(identity_for(sections), options_for(compression::none, true), sections);
  const std::string b = build(identity_for(sections), options_for(compression::none, true), sections);
  CHECK(a.size() == b.size());
  CHECK(a != b);
  CHECK(a.substr(91, 12) != b.substr(91, 12));
}

TEST_CASE("the builder refuses misuse and identities the format cannot hold") {
  const auto sections = small_sections();
  file_identity id = identity_for(sections);
  SUBCASE("sections out of order, twice, missing, or written outside a section") {
    file_builder b(id, {});
    CHECK_THROWS_AS(b.begin_section(5), std::logic_error);
    CHECK_THROWS_AS(b.end_section(0), std::logic_error);
    auto& out = b.begin_section(3);
    CHECK_THROWS_AS(b.begin_section(5), std::logic_error);
    b.end_section(0);
    CHECK_THROWS_AS(out.write("x", 1), std::logic_error);
    CHECK_THROWS_AS(b.finish(), std::logic_error);
    b.begin_section(5);
    b.end_section(0);
    b.begin_section(9);
    b.end_section(0);
    CHECK_THROWS_AS(b.begin_section(10), std::logic_error);
    CHECK(b.finish().size() == 3);
    CHECK_THROWS_AS(b.finish(), std::logic_error);
  }
  SUBCASE("duplicate operators") {
    id.operator_ids = {1, 2, 1};
    CHECK_THROWS_AS(file_builder(id, {}), std::invalid_argument);
  }
  SUBCASE("a delta that does not follow its parent") {
    id.kind = file_kind::delta;
    id.parent_epoch = id.epoch;
    CHECK_THROWS_AS(file_builder(id, {}), std::invalid_argument);
  }
  SUBCASE("a query id too long for its u16 length") {
    id.query_id.assign(70000, 'q');
    CHECK_THROWS_AS(file_builder(id, {}), std::invalid_argument);
  }
  SUBCASE("a zstd level zstd does not have") {
    codec_options o;
    o.level = 1000;
    CHECK_THROWS_AS(file_builder(id, o), std::invalid_argument);
  }
}

TEST_CASE("compression names parse back and unknown names are refused") {
  for (compression c : all_algorithms) {
    CHECK(parse_compression(compression_name(c)) == c);
  }
  CHECK_THROWS_AS(parse_compression("gzip"), std::invalid_argument);
  CHECK_THROWS_AS(parse_compression(""), std::invalid_argument);
}

TEST_CASE("things that are not checkpoints are refused at offset 0") {
  for (const std::string& junk :
       {std::string(), std::string("FTQ"), std::string("PK\x03\x04 zip file, not ours"), std::string(100, '\0')}) {
    const checkpoint_error e = decode_error(junk);
    CHECK((e.code() == errc::checkpoint_corrupt));
    CHECK(e.offset() == (junk.size() < 8 && std::string("FTQCKPT").starts_with(junk) ? junk.size() : 0));
  }
  CHECK_THROWS_AS(summary_bytes(bytes_of("FTQCKPX\0abcdefgh"), path), checkpoint_error);
}
