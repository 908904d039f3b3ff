#include "checkpoint/crc32c.hpp"

#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace {

using ftq::checkpoint::crc32c;

std::span<const std::byte> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("crc32c gives the standard CRC-32C check value and chains across pieces") {
  CHECK(crc32c(bytes_of("123456789")) == 0xE3069283u);
  CHECK(crc32c(bytes_of("")) == 0u);
  CHECK(crc32c(bytes_of(std::string(32, '\0'))) == 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
  CHECK(crc32c(bytes_of(std::string(32, '\xff'))) == 0x62A8AB43u);
  CHECK(crc32c(bytes_of("6789"), crc32c(bytes_of("12345"))) == 0xE3069283u);
  CHECK(crc32c(bytes_of(""), 0xE3069283u) == 0xE3069283u);
}

TEST_CASE("crc32c covers inputs longer than crc32_iscsi's int length in one call") {
  // 1 GiB + 256 KiB of distinct-looking bytes without 1 GiB of memory: one pattern file of
  // 1 MiB + 4 KiB mapped again and again (its length does not divide 1 GiB, so a chunk that
  // restarted at the wrong place would hash different bytes).
  const std::size_t piece = (std::size_t{1} << 20) + 4096;
  const std::size_t copies = 1021;
  const std::size_t total = piece * copies;  // > 2^30 = the implementation's chunk
  REQUIRE(total > (std::size_t{1} << 30));
  const int fd = ::memfd_create("crc32c-test", 0);
  REQUIRE(fd >= 0);
  std::string pattern(piece, '\0');
  for (std::size_t i = 0; i < piece; ++i) {
    pattern[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  REQUIRE(::write(fd, pattern.data(), piece) == static_cast<ssize_t>(piece));
  void* region = ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(region != MAP_FAILED);
  auto* base = static_cast<std::byte*>(region);
  for (std::size_t i = 0; i < copies; ++i) {
    REQUIRE(::mmap(base + i * piece, piece, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED);
  }
  std::uint32_t chained = 0;
  for (std::size_t i = 0; i < copies; ++i) {
    chained = crc32c(bytes_of(pattern), chained);
  }
  CHECK(crc32c({base, total}) == chained);
  ::munmap(region, total);
  ::close(fd);
}
