// ftq-rados-commit-bench: commit latency through file_store::commit, the local directory against
// Ceph RADOS, in the same run.
//
//   ftq-rados-commit-bench [--rounds N] [--sizes 4K,1M,64M] [--store rados://POOL[/PREFIX]]
//                          [--ceph-conf PATH] [--dir D] [--chunk BYTES] [--json]
//
// Commits payloads of each size N times through every store: the threads store and the io_uring
// store (when its probe passes) into a fresh directory under D ($TMPDIR, else /work), and the
// RADOS store (--store, else $FTQ_TEST_RADOS; --ceph-conf, else $CEPH_CONF). Rounds are
// interleaved, each starting with the next store, so drift hits all alike. Every commit writes a
// new name (as checkpoint epochs do), removed again untimed. Prints p50/p99/mean/min/max per
// size and store, and each store's p50 against the local stores' best p50 ("vs local").

#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "fs_name.hpp"
#include "io/file_store.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

/// "4K" -> 4096, "1M" -> 1048576, "64M", "1G", or plain bytes.
std::size_t parse_size(const std::string& text) {
  std::size_t end = 0;
  const unsigned long long n = std::stoull(text, &end);
  const std::string unit = text.substr(end);
  if (unit.empty() || unit == "B") {
    return n;
  }
  if (unit == "K" || unit == "KiB") {
    return n << 10;
  }
  if (unit == "M" || unit == "MiB") {
    return n << 20;
  }
  if (unit == "G" || unit == "GiB") {
    return n << 30;
  }
  throw std::invalid_argument("size '" + text + "': expected a number with K, M or G");
}

std::string size_label(std::size_t bytes) {
  if (bytes >= (std::size_t{1} << 20) && bytes % (std::size_t{1} << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  if (bytes >= 1024 && bytes % 1024 == 0) {
    return std::to_string(bytes >> 10) + " KiB";
  }
  return std::to_string(bytes) + " B";
}

struct stats {
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
};

stats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double q) {
    const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, i == 0 ? 0 : i - 1)];
  };
  return stats{rank(0.50), rank(0.99), std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size()),
               ms.front(), ms.back()};
}

struct store_case {
  std::string name;
  bool local = true;
  std::shared_ptr<ftq::io::file_store> store;
  std::string dir;                      // where it commits
  std::vector<std::vector<double>> ms;  // per size
};

template <class Body>
void run(asio::io_context& io, Body body) {
  std::exception_ptr failure;
  asio::co_spawn(io, body(), [&](std::exception_ptr e) { failure = e; });
  io.restart();
  io.run();
  if (failure) {
    std::rethrow_exception(failure);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 20;
  std::vector<std::size_t> sizes{std::size_t{4} << 10, std::size_t{1} << 20, std::size_t{64} << 20};
  std::string store_uri;
  std::string ceph_conf;
  fs::path base;
  std::size_t chunk = ftq::checkpoint_options{}.rados_chunk_bytes;  // the manager's default
  bool json = false;
  const char* usage =
      "usage: ftq-rados-commit-bench [--rounds N] [--sizes 4K,1M,64M] [--store rados://POOL[/PREFIX]] "
      "[--ceph-conf PATH] [--dir D] [--chunk BYTES] [--json]\n";
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const bool has_value = i + 1 < argc;
      if (a == "--rounds" && has_value) {
        rounds = std::max(1, std::atoi(argv[++i]));
      } else if (a == "--sizes" && has_value) {
        sizes.clear();
        std::string list = argv[++i];
        for (std::size_t at = 0; at <= list.size();) {
          const std::size_t comma = std::min(list.find(',', at), list.size());
          sizes.push_back(parse_size(list.substr(at, comma - at)));
          at = comma + 1;
        }
      } else if (a == "--store" && has_value) {
        store_uri = argv[++i];
      } else if (a == "--ceph-conf" && has_value) {
        ceph_conf = argv[++i];
      } else if (a == "--dir" && has_value) {
        base = argv[++i];
      } else if (a == "--chunk" && has_value) {
        chunk = parse_size(argv[++i]);
      } else if (a == "--json") {
        json = true;
      } else {
        std::cerr << usage;
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "ftq-rados-commit-bench: " << e.what() << "\n" << usage;
    return 2;
  }
  if (store_uri.empty()) {
    const char* env = std::getenv("FTQ_TEST_RADOS");
    store_uri = env != nullptr ? env : "";
  }
  if (ceph_conf.empty()) {
    const char* env = std::getenv("CEPH_CONF");
    ceph_conf = env != nullptr ? env : "";
  }
  if (store_uri.empty()) {
    std::cerr << "ftq-rados-commit-bench: no RADOS store: give --store rados://POOL or set FTQ_TEST_RADOS\n";
    return 2;
  }
  if (base.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    base = tmpdir != nullptr && *tmpdir != '\0' ? fs::path(tmpdir) : fs::path("/work");
  }
  std::string pattern = (base / "ftq-rados-commit-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "ftq-rados-commit-bench: cannot create a directory under " << base << ": " << std::strerror(errno)
              << "\n";
    return 1;
  }
  const fs::path local_dir = pattern;

  int status = 0;
  try {
    asio::io_context io;
    std::vector<store_case> stores;
    stores.push_back(store_case{"threads",
                                true,
                                ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::threads),
                                local_dir.string(),
                                {}});
    if (const std::string why = ftq::io::probe_io_uring(); why.empty()) {
      stores.push_back(store_case{"io_uring",
                                  true,
                                  ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::io_uring),
                                  local_dir.string(),
                                  {}});
    } else {
      std::cerr << "io_uring unavailable: " << why << "\n";
    }
    const ftq::rados::store_uri uri = ftq::rados::parse_store_uri(store_uri);
    ftq::rados::connect_options co;
    co.pool = uri.pool;
    co.conf_path = ceph_conf;
    auto conn = ftq::rados::connection::connect(co);
    ftq::io::rados_store_options ro;
    ro.chunk_bytes = chunk;
    ro.root = uri.prefix;
    char tag[32];
    std::snprintf(tag, sizeof tag, "bench-%d", static_cast<int>(::getpid()));
    const std::string rados_dir = ftq::rados::layout::join(uri.prefix, tag);
    stores.push_back(
        store_case{"rados", false, std::make_shared<ftq::io::rados_store>(io.get_executor(), conn, ro), rados_dir, {}});
    for (auto& s : stores) {
      s.ms.resize(sizes.size());
      run(io, [&]() -> asio::awaitable<void> { co_await s.store->make_dirs(s.dir); });
    }

    std::size_t first = 0;
    for (std::size_t si = 0; si < sizes.size(); ++si) {
      std::vector<std::byte> data(sizes[si]);
      for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
      }
      for (int round = -1; round < rounds; ++round) {  // round -1: warm-up, not counted
        for (std::size_t k = 0; k < stores.size(); ++k) {
          store_case& s = stores[(first + k) % stores.size()];
          ftq::io::commit_request r;
          r.dir = s.dir;
          r.name = "f" + std::to_string(si) + "-" + std::to_string(round + 1);
          r.buffers.emplace_back(data);
          const auto t0 = clock_type::now();
          run(io, [&]() -> asio::awaitable<void> { co_await s.store->commit(r); });
          const auto t1 = clock_type::now();
          if (round >= 0) {
            s.ms[si].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          }
          std::vector<fs::path> doomed{fs::path(s.dir) / r.name};
          run(io, [&]() -> asio::awaitable<void> { co_await s.store->remove(doomed); });
        }
        first = (first + 1) % stores.size();
      }
    }

    // The bench's own manifest and index entry go too (its files went round by round).
    (void)conn->ioctx().remove(ftq::rados::layout::manifest_oid(rados_dir));
    (void)conn->ioctx().omap_rm_keys(ftq::rados::layout::index_oid(uri.prefix), {std::string(tag)});

    // The table.
    std::printf("local directory: %s (%s); RADOS: %s (conf %s), chunk %s\n", local_dir.c_str(),
                ftq::bench::fs_name(local_dir).c_str(), store_uri.c_str(),
                ceph_conf.empty() ? "default" : ceph_conf.c_str(), size_label(chunk).c_str());
    std::printf("%-8s %-9s %7s %9s %9s %9s %9s %9s %9s\n", "size", "store", "rounds", "p50 ms", "p99 ms", "mean ms",
                "min ms", "max ms", "vs local");
    std::string json_text = "[";
    for (std::size_t si = 0; si < sizes.size(); ++si) {
      double best_local = 0;
      for (const auto& s : stores) {
        const stats st = summarize(s.ms[si]);
        if (s.local && (best_local == 0 || st.p50 < best_local)) {
          best_local = st.p50;
        }
      }
      for (const auto& s : stores) {
        const stats st = summarize(s.ms[si]);
        std::printf("%-8s %-9s %7d %9.3f %9.3f %9.3f %9.3f %9.3f %8.2fx\n", size_label(sizes[si]).c_str(),
                    s.name.c_str(), rounds, st.p50, st.p99, st.mean, st.min, st.max, st.p50 / best_local);
        char buf[400];
        std::snprintf(buf, sizeof buf,
                      "%s\n  {\"size\": %zu, \"store\": \"%s\", \"rounds\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
                      "\"mean_ms\": %.3f, \"min_ms\": %.3f, \"max_ms\": %.3f, \"vs_local\": %.3f}",
                      json_text.size() > 1 ? "," : "", sizes[si], s.name.c_str(), rounds, st.p50, st.p99, st.mean,
                      st.min, st.max, st.p50 / best_local);
        json_text += buf;
      }
    }
    json_text += "\n]\n";
    if (json) {
      std::fputs(json_text.c_str(), stdout);
    }
  } catch (const std::exception& e) {
    std::cerr << "ftq-rados-commit-bench: " << e.what() << "\n";
    status = 1;
  }
  std::error_code ec;
  fs::remove_all(local_dir, ec);
  return status;
}
