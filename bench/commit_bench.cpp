// ftq-commit-bench: latency of a durable commit through the file store, against bare syscalls.
//
//   ftq-commit-bench [--runs N] [--dir D] [--json]
//
// Commits payloads of 4 KiB, 1 MiB and 64 MiB with the protocol of file_store::commit (temp
// file, write, fsync, close, rename, directory fsync) four ways, interleaved run by run (each run
// starting with the next way) so drift hits all of them alike: the threads store, the io_uring store, the same syscalls
// inline, and a bare liburing linked chain (one submit, one wait). Prints p50/p99 per size and way, each way's p50
// against the floor (the faster bare way), and the 64 MiB rate against a plain fsync'd sequential write of 256 MiB on
// the same filesystem (measured last: freeing that much slows fsyncs for seconds), named via statfs (on tmpfs fsync is
// free).

#include <fcntl.h>
#include <liburing.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

#include "fs_name.hpp"
#include "io/file_store.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// The commit protocol inline, with no store around it.
void bare_syscalls(const fs::path& dir, const std::string& name, const std::vector<std::byte>& data) {
  const fs::path temp = dir / (name + ".tmp-bare");
  const fs::path target = dir / name;
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open");
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      die("pwrite");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(temp.c_str(), target.c_str()) != 0) {
    die("fsync/close/rename");
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0 || ::close(dfd) != 0) {
    die("directory fsync");
  }
}

// The same protocol as one liburing linked chain: submit, wait for the 8 CQEs.
class bare_uring {
 public:
  bare_uring() {
    if (const int r = io_uring_queue_init(16, &ring_, 0); r < 0) {
      errno = -r;
      die("io_uring_queue_init");
    }
    if (const int r = io_uring_register_files_sparse(&ring_, 1); r < 0) {
      errno = -r;
      die("io_uring_register_files_sparse");
    }
  }
  ~bare_uring() { io_uring_queue_exit(&ring_); }
  bare_uring(const bare_uring&) = delete;
  bare_uring& operator=(const bare_uring&) = delete;

  void commit(const fs::path& dir, const std::string& name, const std::vector<std::byte>& data) {
    const fs::path temp = dir / (name + ".tmp-bare");
    const fs::path target = dir / name;
    io_uring_sqe* sqe = nullptr;
    auto next = [&](bool link) {
      if (sqe != nullptr && link) {
        sqe->flags |= IOSQE_IO_LINK;
      }
      sqe = io_uring_get_sqe(&ring_);
      return sqe;
    };
    io_uring_prep_openat_direct(next(false), AT_FDCWD, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600, 0);
    unsigned count = 1;
    std::size_t done = 0;
    while (done < data.size()) {  // bench payloads are far below 1 GiB: one write
      const auto n = static_cast<unsigned>(std::min<std::size_t>(data.size() - done, 1u << 30));
      io_uring_prep_write(next(true), 0, data.data() + done, n, done);
      sqe->flags |= IOSQE_FIXED_FILE;
      done += n;
      ++count;
    }
    io_uring_prep_fsync(next(true), 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_prep_close_direct(next(true), 0);
    io_uring_prep_renameat(next(true), AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), 0);
    io_uring_prep_openat_direct(next(true), AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY, 0, 0);
    io_uring_prep_fsync(next(true), 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_prep_close_direct(next(true), 0);
    count += 6;
    if (const int r = io_uring_submit_and_wait(&ring_, count); r < static_cast<int>(count)) {
      errno = r < 0 ? -r : EAGAIN;
      die("io_uring_submit_and_wait");
    }
    int failed = 0;
    for (unsigned i = 0; i < count; ++i) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring_, &cqe) != 0) {
        die("io_uring_wait_cqe");
      }
      if (cqe->res < 0 && failed == 0) {
        failed = -cqe->res;
      }
      io_uring_cqe_seen(&ring_, cqe);
    }
    if (failed != 0) {
      errno = failed;
      die("bare liburing chain");
    }
  }

 private:
  io_uring ring_{};
};

// Writes 256 MiB in 8 MiB pwrites, then fsync: the disk's durable sequential rate.
double sequential_mb_s(const fs::path& dir) {
  const std::vector<std::byte> chunk(8u << 20, std::byte{0x5a});
  const std::size_t total = 256u << 20;
  const fs::path p = dir / "sequential.bin";
  const auto t0 = clock_type::now();
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    die("open");
  }
  for (std::size_t off = 0; off < total; off += chunk.size()) {
    if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) != static_cast<ssize_t>(chunk.size())) {
      die("pwrite");
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    die("fsync");
  }
  const double s = std::chrono::duration<double>(clock_type::now() - t0).count();
  fs::remove(p);
  return static_cast<double>(total) / 1e6 / s;
}

struct stats {
  double p50_ms = 0;
  double p99_ms = 0;
};

stats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto rank = [&](double q) {
    const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size())));
    return ms[std::min(ms.size() - 1, i == 0 ? 0 : i - 1)];
  };
  return stats{rank(0.50), rank(0.99)};
}

struct way {
  std::string name;
  std::unique_ptr<ftq::io::file_store> store;  // null for the bare ways
  std::unique_ptr<bare_uring> uring;
  std::string unavailable;  // why this way was skipped
};

struct size_case {
  std::string label;
  std::size_t bytes;
  int runs;
};

}  // namespace

int main(int argc, char** argv) {
  int runs = 100;
  fs::path base;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (a == "--json") {
      json = true;
    } else {
      std::cerr << "usage: ftq-commit-bench [--runs N] [--dir D] [--json]\n";
      return 2;
    }
  }
  if (base.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    base = tmpdir != nullptr && *tmpdir != '\0' ? fs::path(tmpdir) : fs::path("/work");
  }
  std::string pattern = (base / "ftq-commit-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "ftq-commit-bench: cannot create a directory under " << base << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  const fs::path dir = pattern;

  asio::io_context io;
  std::vector<way> ways;
  ways.push_back(way{"store threads",
                     ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::threads, nullptr), nullptr,
                     ""});
  way uring_way{"store io_uring", nullptr, nullptr, ""};
  try {
    uring_way.store = ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::io_uring, nullptr);
  } catch (const ftq::error& e) {
    uring_way.unavailable = e.what();
  }
  ways.push_back(std::move(uring_way));
  ways.push_back(way{"bare syscalls", nullptr, nullptr, ""});
  way bare_ring{"bare liburing", nullptr, nullptr, ""};
  try {
    bare_ring.uring = std::make_unique<bare_uring>();
  } catch (const std::exception& e) {
    bare_ring.unavailable = e.what();
  }
  ways.push_back(std::move(bare_ring));

  const std::vector<size_case> sizes = {
      {"4 KiB", 4u << 10, runs}, {"1 MiB", 1u << 20, runs}, {"64 MiB", 64u << 20, std::max(5, runs / 10)}};
  std::map<std::string, std::map<std::string, stats>> results;  // size -> way -> stats
  double seq = 0;
  int exit_code = 0;

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (const size_case& sc : sizes) {
          std::vector<std::byte> payload(sc.bytes);
          for (std::size_t i = 0; i < payload.size(); ++i) {
            payload[i] = static_cast<std::byte>((i * 131) ^ (i >> 9));
          }
          std::map<std::string, std::vector<double>> times;
          for (int r = 0; r < sc.runs; ++r) {
            // Each run starts with another way, so none always follows the same neighbour.
            for (std::size_t k = 0; k < ways.size(); ++k) {
              const std::size_t index = (k + static_cast<std::size_t>(r)) % ways.size();
              way& w = ways[index];
              if (!w.unavailable.empty()) {
                continue;
              }
              // Each way replaces its own file, so no way pays for freeing another's.
              const std::string name = "bench-" + std::to_string(sc.bytes) + "-" + std::to_string(index);
              const auto t0 = clock_type::now();
              if (w.store) {
                const ftq::io::commit_request req{dir, name, {payload}};
                co_await w.store->commit(req);
              } else if (w.uring) {
                w.uring->commit(dir, name, payload);
              } else {
                bare_syscalls(dir, name, payload);
              }
              times[w.name].push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
            }
          }
          for (const auto& [name, t] : times) {
            results[sc.label][name] = summarize(t);
          }
        }
        // Last: freeing 256 MiB keeps ext4 busy for seconds and slows every fsync after it.
        std::vector<double> seq_runs;
        for (int i = 0; i < 3; ++i) {
          seq_runs.push_back(sequential_mb_s(dir));
        }
        std::sort(seq_runs.begin(), seq_runs.end());
        seq = seq_runs[1];
      },
      [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "ftq-commit-bench: " << ex.what() << "\n";
            exit_code = 1;
          }
        }
      });
  io.run();
  std::map<std::string, std::string> skipped;
  for (const way& w : ways) {
    if (!w.unavailable.empty()) {
      skipped[w.name] = w.unavailable;
    }
  }
  ways.clear();
  fs::remove_all(dir);
  if (exit_code != 0) {
    return exit_code;
  }

  const std::string filesystem = ftq::bench::fs_name(base);
  auto floor_of = [&](const std::string& size) {
    double f = 0;
    for (const char* bare : {"bare syscalls", "bare liburing"}) {
      if (auto it = results[size].find(bare); it != results[size].end()) {
        f = f == 0 ? it->second.p50_ms : std::min(f, it->second.p50_ms);
      }
    }
    return f;
  };
  const double mib64 = static_cast<double>(64u << 20) / 1e6;

  if (json) {
    std::printf("{\"dir\": \"%s\", \"filesystem\": \"%s\", \"runs\": %d, \"sequential_mb_s\": %.1f, \"results\": [",
                base.c_str(), filesystem.c_str(), runs, seq);
    bool first = true;
    for (const size_case& sc : sizes) {
      const double floor = floor_of(sc.label);
      for (const auto& [name, st] : results[sc.label]) {
        std::printf(
            "%s\n  {\"size\": \"%s\", \"way\": \"%s\", \"runs\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
            "\"p50_vs_floor\": %.3f}",
            first ? "" : ",", sc.label.c_str(), name.c_str(), sc.runs, st.p50_ms, st.p99_ms,
            floor > 0 ? st.p50_ms / floor : 0.0);
        first = false;
      }
    }
    std::printf("\n]}\n");
    return 0;
  }

  std::printf("ftq-commit-bench: dir %s on %s; runs %d (64 MiB: %d)\n", base.c_str(), filesystem.c_str(), runs,
              sizes.back().runs);
  std::printf("sequential write of 256 MiB + fsync: %.0f MB/s (median of 3)\n\n", seq);
  std::printf("%-7s %-15s %9s %9s %9s %10s\n", "size", "way", "p50 ms", "p99 ms", "MB/s", "p50/floor");
  for (const size_case& sc : sizes) {
    const double floor = floor_of(sc.label);
    for (const char* name : {"store threads", "store io_uring", "bare syscalls", "bare liburing"}) {
      const auto it = results[sc.label].find(name);
      if (it == results[sc.label].end()) {
        std::printf("%-7s %-15s skipped: %s\n", sc.label.c_str(), name, skipped[name].c_str());
        continue;
      }
      const stats& st = it->second;
      std::printf("%-7s %-15s %9.3f %9.3f %9.0f %10.2f\n", sc.label.c_str(), name, st.p50_ms, st.p99_ms,
                  static_cast<double>(sc.bytes) / 1e6 / (st.p50_ms / 1e3), floor > 0 ? st.p50_ms / floor : 0.0);
    }
    std::printf("%-7s %-15s %9.3f\n\n", sc.label.c_str(), "floor", floor);
  }
  for (const char* name : {"store threads", "store io_uring"}) {
    const auto it = results["64 MiB"].find(name);
    if (it != results["64 MiB"].end()) {
      const double rate = mib64 / (it->second.p50_ms / 1e3);
      std::printf("%s: 64 MiB commit at %.0f MB/s = %.2f of the sequential fsync'd rate\n", name, rate, rate / seq);
    }
  }
  return 0;
}
