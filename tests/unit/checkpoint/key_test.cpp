#include "checkpoint/file_format.hpp"

#include <doctest/doctest.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include <ftq/error.hpp>

#include "support/temp_dir.hpp"

namespace {

using namespace ftq::checkpoint;
using ftq::checkpoint_error;
using ftq::errc;

const std::string hex_key = "00112233445566778899aabbccddeeff0f1e2d3c4b5a69788796a5b4c3d2e1f0";

std::filesystem::path key_file(const ftq::test::temp_dir& dir, const std::string& content, mode_t mode = 0600) {
  const auto p = dir.write("key", content);
  REQUIRE(::chmod(p.c_str(), mode) == 0);
  return p;
}

checkpoint_error load_error(const std::filesystem::path& p) {
  try {
    load_key_file(p);
  } catch (const checkpoint_error& e) {
    return e;
  }
  FAIL("load_key_file accepted " << p);
  throw std::logic_error("unreachable");
}

void check_expected_key(const encryption_key& k) {
  CHECK(k.bytes[0] == 0x00);
  CHECK(k.bytes[1] == 0x11);
  CHECK(k.bytes[15] == 0xff);
  CHECK(k.bytes[31] == 0xf0);
}

}  // namespace

TEST_CASE("a 0600 key file of 64 hex digits, with or without a newline, or 32 raw bytes, loads") {
  ftq::test::temp_dir dir;
  check_expected_key(load_key_file(key_file(dir, hex_key + "\n")));
  check_expected_key(load_key_file(key_file(dir, hex_key)));
  std::string upper = hex_key;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  check_expected_key(load_key_file(key_file(dir, upper, 0400)));
  std::string raw(32, '\0');
  for (int i = 0; i < 32; ++i) {
    raw[static_cast<std::size_t>(i)] = static_cast<char>(i * 7 + 1);
  }
  const encryption_key k = load_key_file(key_file(dir, raw));
  CHECK(std::memcmp(k.bytes.data(), raw.data(), 32) == 0);
}

TEST_CASE("checkpoint_key_invalid: a key file readable by group or others names its mode") {
  ftq::test::temp_dir dir;
  for (mode_t mode : {mode_t{0644}, mode_t{0640}, mode_t{0604}, mode_t{0660}}) {
    const auto p = key_file(dir, hex_key + "\n", mode);
    const checkpoint_error e = load_error(p);
    CHECK((e.code() == errc::checkpoint_key_invalid));
    CHECK(e.path() == p.string());
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(mode));
    CHECK(std::string(e.what()) == p.string() + ": must be mode 0600 (no group or other permissions), is " + octal);
  }
}

TEST_CASE("checkpoint_key_invalid: wrong lengths, bad hex digits, directories and missing files") {
  ftq::test::temp_dir dir;
  const std::string bad_contents[] = {
      "",
      std::string(31, 'k'),
      std::string(33, 'k'),
      hex_key.substr(0, 63),
      hex_key + "0",
      hex_key + "\n\n",
      hex_key + " ",
      " " + hex_key,
      std::string(1000, 'a'),
      hex_key.substr(0, 10) + "g" + hex_key.substr(11),
  };
  for (const auto& content : bad_contents) {
    CAPTURE(content.size());
    const checkpoint_error e = load_error(key_file(dir, content));
    CHECK((e.code() == errc::checkpoint_key_invalid));
    CHECK(std::string(e.what()).find((dir / "key").string() + ": ") == 0);
  }
  const checkpoint_error bad_digit = load_error(key_file(dir, hex_key.substr(0, 10) + "g" + hex_key.substr(11)));
  CHECK(std::string(bad_digit.what()).find("character 11 is not a hex digit") != std::string::npos);

  std::filesystem::create_directory(dir / "dir");
  ::chmod((dir / "dir").c_str(), 0700);
  CHECK(std::string(load_error(dir / "dir").what()).find("is not a regular file") != std::string::npos);
  CHECK(std::string(load_error(dir / "absent").what()).find("cannot open") != std::string::npos);
}

TEST_CASE("key_from_env reads 64 hex digits, is empty when unset, and names a bad variable") {
  const char* var = "FTQ_TEST_CHECKPOINT_KEY";
  ::unsetenv(var);
  CHECK_FALSE(key_from_env(var).has_value());
  ::setenv(var, hex_key.c_str(), 1);
  const auto k = key_from_env(var);
  REQUIRE(k.has_value());
  check_expected_key(*k);
  for (const std::string& bad : {std::string(""), hex_key + "\n", hex_key.substr(2), std::string(64, 'z')}) {
    ::setenv(var, bad.c_str(), 1);
    try {
      key_from_env(var);
      FAIL("accepted a bad key variable");
    } catch (const checkpoint_error& e) {
      CHECK((e.code() == errc::checkpoint_key_invalid));
      CHECK(std::string(e.what()).find("$FTQ_TEST_CHECKPOINT_KEY: ") == 0);
      if (!bad.empty()) {
        CHECK(std::string(e.what()).find(bad.substr(0, 8)) == std::string::npos);  // no key bytes in messages
      }
    }
  }
  ::unsetenv(var);
}

TEST_CASE("a key's id is the first 8 bytes of SHA-256 over the label and the key") {
  encryption_key k;
  for (std::size_t i = 0; i < 32; ++i) {
    k.bytes[i] = static_cast<unsigned char>(i);
  }
  const std::string label = "ftq checkpoint key id v1";
  std::string input = label + std::string(reinterpret_cast<const char*>(k.bytes.data()), 32);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  const auto id = k.id();
  CHECK(std::memcmp(id.data(), digest, 8) == 0);
  encryption_key other = k;
  other.bytes[31] ^= 1;
  CHECK(other.id() != id);
}
