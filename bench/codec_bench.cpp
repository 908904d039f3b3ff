// codec-bench: throughput of the checkpoint file codec against the libraries it is built on.
//
//   codec-bench [--entries N] [--runs N] [--json]
//
// The state is shaped like a hash aggregate's snapshot with N groups (default 1M), packed with
// msgpack-cxx as the operator states pack themselves: [type tag, version, kind, bin(int64 group
// keys), bin(double sums)]. Keys are distinct customer-like ids below 50M in hash-table order
// (high bytes zero, low bytes random); sums are prices with two decimals, so the keys compress
// and the doubles mostly do not. Every rate is raw (uncompressed) MB/s (1 MB = 10^6 bytes) over
// the same packed bytes, median (min..max) of --runs runs. file_builder rows include packing the
// state through the section stream; library rows time one call on the pre-packed bytes.

#include <isa-l/crc.h>
#include <lz4frame.h>
#include <openssl/evp.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "checkpoint/file_format.hpp"
#include "core/byte_sink.hpp"

namespace {

using namespace ftq::checkpoint;

struct aggregate_state {
  std::vector<std::int64_t> keys;
  std::vector<double> sums;
};

aggregate_state make_state(std::size_t entries) {
  aggregate_state s;
  std::mt19937_64 rng(42);
  std::vector<std::int64_t> ids(entries);
  // Distinct ids: a random subset of [0, 50M) in random order.
  std::uniform_int_distribution<std::int64_t> step(1, 2 * 50'000'000 / static_cast<std::int64_t>(entries + 1));
  std::int64_t id = 0;
  for (auto& v : ids) {
    id += step(rng);
    v = id;
  }
  std::shuffle(ids.begin(), ids.end(), rng);
  s.keys = std::move(ids);
  std::uniform_int_distribution<std::int64_t> cents(100, 50'000'000);
  s.sums.resize(entries);
  for (auto& v : s.sums) {
    v = static_cast<double>(cents(rng)) / 100.0;
  }
  return s;
}

void pack_state(msgpack::packer<ftq::byte_sink>& p, const aggregate_state& s) {
  p.pack_array(5);
  p.pack(std::string("hash_aggregate"));
  p.pack(1);
  p.pack(0);
  const auto key_bytes = static_cast<std::uint32_t>(s.keys.size() * sizeof(std::int64_t));
  p.pack_bin(key_bytes);
  p.pack_bin_body(reinterpret_cast<const char*>(s.keys.data()), key_bytes);
  const auto sum_bytes = static_cast<std::uint32_t>(s.sums.size() * sizeof(double));
  p.pack_bin(sum_bytes);
  p.pack_bin_body(reinterpret_cast<const char*>(s.sums.data()), sum_bytes);
}

class vector_sink final : public ftq::byte_sink {
 public:
  void write(const char* data, std::size_t size) override { bytes.insert(bytes.end(), data, data + size); }
  std::vector<char> bytes;
};

struct result {
  std::string name;
  double median = 0, min = 0, max = 0;  // MB/s
  double ratio = 0;                     // stored / raw, 0 when not applicable
};

// Runs every case once per round, round after round, so a burst of load from other processes
// hits all cases alike instead of whichever was being timed.
class suite {
 public:
  void add(std::string name, std::function<void()> body, std::function<double()> ratio = {}) {
    cases_.push_back({std::move(name), std::move(body), std::move(ratio), {}});
  }
  std::vector<result> run(std::size_t raw_bytes, int runs) {
    for (int r = 0; r < runs; ++r) {
      for (auto& c : cases_) {
        const auto t0 = std::chrono::steady_clock::now();
        c.body();
        const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        c.rates.push_back(static_cast<double>(raw_bytes) / 1e6 / dt.count());
      }
    }
    std::vector<result> out;
    for (auto& c : cases_) {
      std::sort(c.rates.begin(), c.rates.end());
      out.push_back({c.name, c.rates[c.rates.size() / 2], c.rates.front(), c.rates.back(), c.ratio ? c.ratio() : 0});
    }
    return out;
  }

 private:
  struct entry {
    std::string name;
    std::function<void()> body;
    std::function<double()> ratio;
    std::vector<double> rates;
  };
  std::vector<entry> cases_;
};

void require(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(what);
  }
}

// Builds the one-section file; the builder owns the bytes, as when the checkpoint manager writes
// its buffers to disk without copying them.
std::uint64_t build_file(const aggregate_state& s, compression c, int level, const encryption_key* key,
                         std::vector<std::byte>* copy = nullptr) {
  file_identity id;
  id.query_id = "bench";
  id.operator_ids = {1};
  codec_options o;
  o.algorithm = c;
  o.level = level;
  o.key = key;
  file_builder b(id, o);
  msgpack::packer<ftq::byte_sink> p(b.begin_section(1));
  pack_state(p, s);
  b.end_section(0);
  std::uint64_t size = 0;
  for (auto span : b.finish()) {
    size += span.size();
    if (copy != nullptr) {
      copy->insert(copy->end(), span.begin(), span.end());
    }
  }
  return size;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t entries = 1'000'000;
  int runs = 7;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--entries" && i + 1 < argc) {
      entries = std::stoul(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::stoi(argv[++i]));
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: %s [--entries N] [--runs N] [--json]\n", argv[0]);
      return 2;
    }
  }

  const aggregate_state state = make_state(entries);
  vector_sink packed_sink;
  {
    msgpack::packer<ftq::byte_sink> p(packed_sink);
    pack_state(p, state);
  }
  const std::vector<char>& raw = packed_sink.bytes;
  const std::size_t n = raw.size();
  encryption_key key;
  for (std::size_t i = 0; i < key.bytes.size(); ++i) {
    key.bytes[i] = static_cast<unsigned char>(i * 11 + 5);
  }

  suite cases;
  struct codec {
    const char* name;
    compression c;
    int level;
  };
  const codec codecs[] = {{"none", compression::none, 1},
                          {"lz4", compression::lz4, 0},
                          {"zstd-1", compression::zstd, 1},
                          {"zstd-3", compression::zstd, 3}};
  const auto ratio_of = [n](const std::size_t& size) {
    return [&size, n] { return static_cast<double>(size) / static_cast<double>(n); };
  };

  // ---- the file codec ----
  std::vector<std::vector<std::byte>> files;
  files.reserve(8);
  for (const bool encrypted : {false, true}) {
    for (const codec& c : codecs) {
      const encryption_key* k = encrypted ? &key : nullptr;
      const std::string suffix = std::string(c.name) + (encrypted ? " + aes-gcm" : "");
      std::vector<std::byte>& file = files.emplace_back();
      build_file(state, c.c, c.level, k, &file);
      const decoded_file check = decode_file(file, "bench", k);
      require(check.sections.size() == 1 && check.sections[0] == raw, "file codec round trip differs");
      const double ratio = static_cast<double>(file.size()) / static_cast<double>(n);
      cases.add(
          "file_builder " + suffix, [&state, c, k] { build_file(state, c.c, c.level, k); }, [ratio] { return ratio; });
      cases.add("decode_file " + suffix, [&file, k, n] {
        const decoded_file d = decode_file(file, "bench", k);
        require(d.sections[0].size() == n, "short decode");
      });
    }
  }

  // ---- the libraries alone, on the same bytes ----
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::vector<char> back(n);
  std::vector<char> zstd_out[2] = {std::vector<char>(ZSTD_compressBound(n)), std::vector<char>(ZSTD_compressBound(n))};
  std::size_t zstd_size[2] = {0, 0};
  for (const int level : {1, 3}) {
    const int i = level == 1 ? 0 : 1;
    auto compress = [&, level, i] {
      zstd_size[i] = ZSTD_compressCCtx(cctx.get(), zstd_out[i].data(), zstd_out[i].size(), raw.data(), n, level);
      require(!ZSTD_isError(zstd_size[i]), "ZSTD_compressCCtx");
    };
    compress();
    cases.add("ZSTD_compress level " + std::to_string(level), compress, ratio_of(zstd_size[i]));
    cases.add("ZSTD_decompress level " + std::to_string(level), [&, i] {
      require(ZSTD_decompressDCtx(dctx.get(), back.data(), n, zstd_out[i].data(), zstd_size[i]) == n,
              "ZSTD_decompressDCtx");
    });
  }
  std::vector<char> lz4_out(LZ4F_compressFrameBound(n, nullptr));
  std::size_t lz4_size = 0;
  LZ4F_dctx* lz4_dctx = nullptr;
  require(!LZ4F_isError(LZ4F_createDecompressionContext(&lz4_dctx, LZ4F_VERSION)), "LZ4F context");
  auto lz4_compress = [&] {
    lz4_size = LZ4F_compressFrame(lz4_out.data(), lz4_out.size(), raw.data(), n, nullptr);
    require(!LZ4F_isError(lz4_size), "LZ4F_compressFrame");
  };
  lz4_compress();
  cases.add("LZ4F_compressFrame", lz4_compress, ratio_of(lz4_size));
  cases.add("LZ4F_decompress", [&] {
    std::size_t dst = n;
    std::size_t src = lz4_size;
    require(LZ4F_decompress(lz4_dctx, back.data(), &dst, lz4_out.data(), &src, nullptr) == 0 && dst == n,
            "LZ4F_decompress");
  });
  std::vector<unsigned char> sealed(n);
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> evp(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  cases.add("EVP AES-256-GCM encrypt", [&] {
    const unsigned char nonce[12] = {1, 2, 3};
    int len = 0;
    unsigned char tag[16];
    require(EVP_EncryptInit_ex(evp.get(), EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce) == 1, "init");
    require(EVP_EncryptUpdate(evp.get(), sealed.data(), &len, reinterpret_cast<const unsigned char*>(raw.data()),
                              static_cast<int>(n)) == 1,
            "update");
    require(EVP_EncryptFinal_ex(evp.get(), sealed.data() + len, &len) == 1, "final");
    require(EVP_CIPHER_CTX_ctrl(evp.get(), EVP_CTRL_GCM_GET_TAG, 16, tag) == 1, "tag");
  });
  unsigned int crc = 0;
  cases.add("crc32_iscsi", [&] {
    crc ^= crc32_iscsi(reinterpret_cast<unsigned char*>(const_cast<char*>(raw.data())), static_cast<int>(n), ~0u);
  });
  std::vector<char> copy(n);
  cases.add("memcpy (baseline)", [&] { std::memcpy(copy.data(), raw.data(), n); });

  const std::vector<result> results = cases.run(n, runs);
  LZ4F_freeDecompressionContext(lz4_dctx);
  std::fprintf(stderr, "(crc %08x)\n", crc);  // keeps the CRC calls from being optimized away

  if (json) {
    std::printf("{\"entries\": %zu, \"raw_bytes\": %zu, \"runs\": %d, \"results\": [\n", entries, n, runs);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const result& r = results[i];
      std::printf(
          "  {\"name\": \"%s\", \"median_mb_s\": %.1f, \"min_mb_s\": %.1f, \"max_mb_s\": %.1f, \"ratio\": %.4f}%s\n",
          r.name.c_str(), r.median, r.min, r.max, r.ratio, i + 1 < results.size() ? "," : "");
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("state: %zu entries, %zu packed bytes (%.1f MB); %d runs; MB/s of raw bytes\n\n", entries, n,
              static_cast<double>(n) / 1e6, runs);
  std::printf("%-36s %10s %10s %10s %8s\n", "what", "median", "min", "max", "ratio");
  for (const result& r : results) {
    char ratio[16] = "";
    if (r.ratio > 0) {
      std::snprintf(ratio, sizeof ratio, "%.3f", r.ratio);
    }
    std::printf("%-36s %10.0f %10.0f %10.0f %8s\n", r.name.c_str(), r.median, r.min, r.max, ratio);
  }
  return 0;
}
