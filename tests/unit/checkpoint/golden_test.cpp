// Decodes checkpoint files committed under tests/data/checkpoint/golden/, written by format
// version 1, and checks every field and byte: files written by older builds must keep loading.
// FTQ_REGENERATE_GOLDEN=1 rewrites them (and the fuzz seeds in fuzz/corpus/checkpoint/) from the
// definitions below; do that only when adding a file for a new format version, never to make a
// failing test pass.

#include "checkpoint/file_format.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "checkpoint_files.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ftq::test::ckpt;
namespace fs = std::filesystem;

fs::path golden_dir() { return ftq::test::test_data_dir() / "checkpoint" / "golden"; }

// The golden contents. Never change them: the committed files were written from them.
std::string golden_bytes(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(i % 64 < 48 ? 'a' + (i / 64) % 26 : static_cast<char>(x >> 24));
  }
  return s;
}

std::vector<section_data> golden_sections() {
  return {{1, 0,
           "\x93\xa4"
           "aggr\x01\x00"},
          {4, 1, ""},
          {6, 0, golden_bytes(20000, 6)}};
}

file_identity golden_identity(file_kind kind) {
  file_identity id;
  id.query_id = "golden-query";
  for (std::size_t i = 0; i < id.plan_hash.size(); ++i) {
    id.plan_hash[i] = static_cast<unsigned char>(i * 3 + 1);
  }
  id.kind = kind;
  id.epoch = kind == file_kind::full ? 12 : 14;
  id.base_epoch = 12;
  id.parent_epoch = kind == file_kind::full ? 12 : 13;
  id.created_unix_ms = 1700000000000;
  id.backend = "posix";
  id.operator_ids = {1, 4, 6};
  return id;
}

struct golden_file {
  std::string name;
  compression algorithm;
  bool encrypted;
  file_kind kind;
};

const golden_file golden_files[] = {
    {"v1-none.ckpt", compression::none, false, file_kind::full},
    {"v1-lz4.ckpt", compression::lz4, false, file_kind::full},
    {"v1-zstd.ckpt", compression::zstd, false, file_kind::full},
    {"v1-zstd-aes.ckpt", compression::zstd, true, file_kind::delta},
};

// The committed key file, copied to a temp dir with mode 0600 (git does not keep modes).
encryption_key golden_key() {
  ftq::test::temp_dir dir;
  const fs::path p = dir / "test.key";
  fs::copy_file(golden_dir() / "test.key", p);
  REQUIRE(::chmod(p.c_str(), 0600) == 0);
  return load_key_file(p);
}

void regenerate(const encryption_key& key) {
  const fs::path corpus = fs::path(std::getenv("FTQ_SOURCE_ROOT")) / "fuzz" / "corpus" / "checkpoint";
  fs::create_directories(corpus);
  for (const auto& g : golden_files) {
    codec_options o;
    o.algorithm = g.algorithm;
    o.key = g.encrypted ? &key : nullptr;
    const std::string file = build(golden_identity(g.kind), o, golden_sections());
    ftq::test::write_file(golden_dir() / g.name, file);
    ftq::test::write_file(corpus / g.name, file);
  }
  // More seeds for the fuzzer: no sections, many small ones, lz4 encrypted.
  codec_options o;
  o.algorithm = compression::lz4;
  o.key = &key;
  ftq::test::write_file(corpus / "v1-lz4-aes.ckpt", build(golden_identity(file_kind::full), o, golden_sections()));
  o.key = nullptr;
  file_identity empty = golden_identity(file_kind::full);
  empty.operator_ids.clear();
  ftq::test::write_file(corpus / "v1-no-sections.ckpt", build(empty, o, {}));
  std::vector<section_data> many;
  for (std::uint32_t i = 0; i < 12; ++i) {
    many.push_back({i, static_cast<std::uint8_t>(i % 2), golden_bytes(i * 5, i)});
  }
  o.algorithm = compression::none;
  file_identity many_id = golden_identity(file_kind::full);
  many_id.operator_ids.clear();
  for (const auto& s : many) {
    many_id.operator_ids.push_back(s.operator_id);
  }
  ftq::test::write_file(corpus / "v1-many-sections.ckpt", build(many_id, o, many));
}

}  // namespace

TEST_CASE("golden version-1 files decode to exactly the identity and sections they were written with") {
  const encryption_key key = golden_key();
  if (const char* r = std::getenv("FTQ_REGENERATE_GOLDEN"); r != nullptr && std::string(r) == "1") {
    regenerate(key);
  }
  for (const auto& g : golden_files) {
    CAPTURE(g.name);
    const std::string file = ftq::test::read_file_or_fail(golden_dir() / g.name);
    const decoded_file d = decode_file(bytes_of(file), g.name, g.encrypted ? &key : nullptr);
    const file_identity want = golden_identity(g.kind);
    const file_summary& s = d.summary;
    CHECK(get_le(file, 8, 4) == 1);  // these are version-1 files, whatever the current version is
    CHECK(s.algorithm == g.algorithm);
    CHECK(s.encrypted == g.encrypted);
    CHECK(s.key_id == (g.encrypted ? key.id() : std::array<unsigned char, 8>{}));
    CHECK(s.identity.query_id == want.query_id);
    CHECK(s.identity.plan_hash == want.plan_hash);
    CHECK(s.identity.kind == want.kind);
    CHECK(s.identity.epoch == want.epoch);
    CHECK(s.identity.base_epoch == want.base_epoch);
    CHECK(s.identity.parent_epoch == want.parent_epoch);
    CHECK(s.identity.created_unix_ms == want.created_unix_ms);
    CHECK(s.identity.backend == want.backend);
    CHECK(s.identity.operator_ids == want.operator_ids);
    CHECK(s.file_bytes == file.size());
    const auto sections = golden_sections();
    REQUIRE(d.sections.size() == sections.size());
    REQUIRE(s.sections.size() == sections.size());
    std::uint64_t raw = 0;
    for (std::size_t i = 0; i < sections.size(); ++i) {
      CAPTURE(i);
      CHECK(s.sections[i].operator_id == sections[i].operator_id);
      CHECK(s.sections[i].kind == sections[i].kind);
      CHECK(s.sections[i].raw_bytes == sections[i].bytes.size());
      CHECK(std::string(d.sections[i].begin(), d.sections[i].end()) == sections[i].bytes);
      raw += sections[i].bytes.size();
    }
    CHECK(s.raw_bytes == raw);
    if (g.encrypted) {
      CHECK_THROWS_AS(decode_file(bytes_of(file), g.name, nullptr), ftq::checkpoint_error);
    }
  }
}
