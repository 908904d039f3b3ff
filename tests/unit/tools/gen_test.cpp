#include "tools/gen.hpp"

#include <doctest/doctest.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ftq/error.hpp>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using ftq::tools::gen_options;
using ftq::tools::generate;

namespace {

using ftq::test::read_file_or_fail;
using ftq::test::temp_dir;
using ftq::test::test_data_dir;

std::string sha256_hex(const fs::path& path) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  REQUIRE(ctx != nullptr);
  REQUIRE(EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1);
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    REQUIRE(EVP_DigestUpdate(ctx.get(), chunk.data(), n) == 1);
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  REQUIRE(EVP_DigestFinal_ex(ctx.get(), digest.data(), &size) == 1);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// The oracle MANIFEST: "sha256 <hex> <file>" lines and one "params <PARAMS line>" line.
struct manifest {
  std::map<std::string, std::string> sha256;
  std::string params;
};

manifest read_manifest(const fs::path& path) {
  manifest m;
  std::istringstream in(read_file_or_fail(path));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "sha256") {
      std::string digest;
      std::string file;
      words >> digest >> file;
      m.sha256[file] = digest;
    } else if (kind == "params") {
      std::getline(words >> std::ws, m.params);
    }
  }
  return m;
}

struct oracle_args {
  std::uint64_t rows;
  std::int64_t seed;
  std::optional<std::int64_t> parts;
  std::optional<std::int64_t> customers;
};

// Runs the Python oracle into `out`; --flag=value keeps negative seeds away from argparse.
void run_oracle(const oracle_args& a, const fs::path& out) {
  std::string cmd = "python3 '" + (test_data_dir() / "oracle" / "gen.py").string() +
                    "' --rows=" + std::to_string(a.rows) + " --seed=" + std::to_string(a.seed);
  if (a.parts) {
    cmd += " --parts=" + std::to_string(*a.parts);
  }
  if (a.customers) {
    cmd += " --customers=" + std::to_string(*a.customers);
  }
  cmd += " --out='" + out.string() + "' 2>/dev/null";
  INFO("command: " << cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

}  // namespace

TEST_CASE("generate --rows 100000 --seed 42 matches the oracle MANIFEST sha256 and PARAMS") {
  const manifest expected = read_manifest(test_data_dir() / "oracle" / "MANIFEST-100k");
  REQUIRE(expected.sha256.size() == 2);
  REQUIRE_FALSE(expected.params.empty());

  temp_dir dir;
  gen_options opts;
  opts.rows = 100000;
  opts.seed = 42;
  opts.out_dir = dir.path() / "100k";
  const auto result = generate(opts);

  CHECK(result.lineitem_rows == 100000);
  CHECK(result.orders_rows == 24916);
  CHECK(result.parts == 25000);
  CHECK(result.customers == 2500);
  CHECK(result.lineitem_path == opts.out_dir / "lineitem.csv");
  CHECK(result.orders_path == opts.out_dir / "orders.csv");
  CHECK(sha256_hex(result.lineitem_path) == expected.sha256.at("lineitem.csv"));
  CHECK(sha256_hex(result.orders_path) == expected.sha256.at("orders.csv"));
  CHECK(read_file_or_fail(opts.out_dir / "PARAMS") == expected.params + "\n");
}

TEST_CASE("generate writes the same bytes as the Python oracle for small argument sets") {
  constexpr std::int64_t two_to_40 = std::int64_t{1} << 40;
  std::vector<oracle_args> cases;
  for (const std::uint64_t rows : {1U, 7U, 1000U}) {
    for (const std::int64_t seed : {std::int64_t{0}, std::int64_t{1}, std::int64_t{42}, std::int64_t{-5}, two_to_40}) {
      cases.push_back({rows, seed, std::nullopt, std::nullopt});
    }
  }
  cases.push_back({1000, 3, 1, 2});              // smallest legal key ranges
  cases.push_back({1000, 9, 5000000, 7});        // parts far above rows
  cases.push_back({7, 11, std::nullopt, 3});     // only customers given
  cases.push_back({250, 12, 40, std::nullopt});  // only parts given
  cases.push_back({1000, std::numeric_limits<std::int64_t>::min(), 100, 100});
  cases.push_back({1000, std::numeric_limits<std::int64_t>::max(), 1000000000000LL, 1000000000000LL});

  temp_dir dir;
  int n = 0;
  for (const auto& a : cases) {
    CAPTURE(a.rows);
    CAPTURE(a.seed);
    CAPTURE(a.parts.value_or(-1));
    CAPTURE(a.customers.value_or(-1));
    const fs::path want = dir.path() / ("python-" + std::to_string(n));
    const fs::path got = dir.path() / ("cpp-" + std::to_string(n));
    ++n;
    run_oracle(a, want);
    gen_options opts;
    opts.rows = a.rows;
    opts.seed = a.seed;
    opts.parts = a.parts;
    opts.customers = a.customers;
    opts.out_dir = got;
    const auto result = generate(opts);
    CHECK(result.lineitem_rows == a.rows);
    for (const char* file : {"lineitem.csv", "orders.csv", "PARAMS"}) {
      CAPTURE(file);
      CHECK(read_file_or_fail(got / file) == read_file_or_fail(want / file));
    }
  }
}

TEST_CASE("generate rejects rows < 1, parts < 1 and customers < 2 before touching the disk") {
  temp_dir dir;
  const fs::path out = dir.path() / "never";
  auto options = [&](std::uint64_t rows, std::optional<std::int64_t> parts, std::optional<std::int64_t> customers) {
    gen_options o;
    o.rows = rows;
    o.parts = parts;
    o.customers = customers;
    o.out_dir = out;
    return o;
  };
  CHECK_THROWS_WITH_AS(generate(options(0, std::nullopt, std::nullopt)), "gen: rows must be >= 1",
                       std::invalid_argument);
  CHECK_THROWS_AS(generate(options(10, 0, std::nullopt)), std::invalid_argument);
  CHECK_THROWS_AS(generate(options(10, -4, std::nullopt)), std::invalid_argument);
  CHECK_THROWS_AS(generate(options(10, std::nullopt, 1)), std::invalid_argument);
  CHECK_THROWS_AS(generate(options(10, 5, -1)), std::invalid_argument);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("generate defaults parts to max(1, rows/4) and customers to max(4, rows/40)") {
  temp_dir dir;
  gen_options o;
  o.rows = 3;
  o.out_dir = dir.path();
  auto r = generate(o);
  CHECK(r.parts == 1);
  CHECK(r.customers == 4);
  o.rows = 400;
  r = generate(o);
  CHECK(r.parts == 100);
  CHECK(r.customers == 10);
}

TEST_CASE("generate reports an unwritable output directory as io_error naming the path") {
  temp_dir dir;
  const fs::path blocker = dir.path() / "a-file";
  std::ofstream(blocker) << "not a directory\n";
  gen_options o;
  o.rows = 10;
  o.out_dir = blocker / "out";
  try {
    generate(o);
    FAIL("generate did not throw");
  } catch (const ftq::io_error& e) {
    CHECK(e.path() == o.out_dir.string());
    CHECK(std::string(e.what()).find(o.out_dir.string()) != std::string::npos);
  }
}
