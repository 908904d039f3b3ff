#include "io/file_store.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ftq/error.hpp>

#include "io/commit_protocol.hpp"
#include "support/fault_schedule.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "unit/io/backends.hpp"

using namespace ftq::test::store_names;
using ftq::io::file_store;

namespace {

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets or unsets an environment variable for one scope.
class scoped_env {
 public:
  scoped_env(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      old_ = old;
    }
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~scoped_env() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("backend and operation names are stable strings") {
  CHECK(ftq::io::backend_name(ftq::io::backend_kind::io_uring) == "io_uring");
  CHECK(ftq::io::backend_name(ftq::io::backend_kind::threads) == "threads");
  CHECK(ftq::io::op_name(ftq::io::op_kind::open) == "open");
  CHECK(ftq::io::op_name(ftq::io::op_kind::fsync_dir) == "fsync_dir");
  CHECK(ftq::io::op_name(ftq::io::op_kind::rename) == "rename");
  CHECK(ftq::io::op_name(ftq::io::op_kind::stat) == "stat");
}

TEST_CASE("temp names are recognised and map back to the committed name") {
  const std::string t = ftq::io::detail::temp_name("epoch-7.ckpt");
  CHECK(t.starts_with("epoch-7.ckpt.tmp-"));
  CHECK(ftq::io::is_temp_name(t));
  CHECK_FALSE(ftq::io::is_temp_name("epoch-7.ckpt"));
  CHECK(ftq::io::committed_path(fs::path("/d") / t) == fs::path("/d/epoch-7.ckpt"));
  CHECK(ftq::io::committed_path("/d/plain") == fs::path("/d/plain"));
  CHECK(ftq::io::detail::temp_name("x") != ftq::io::detail::temp_name("x"));
}

TEST_CASE("FTQ_IO_BACKEND chooses the backend and rejects unknown values") {
  {
    scoped_env e("FTQ_IO_BACKEND", nullptr);
    CHECK(ftq::io::backend_choice_from_env() == backend_choice::automatic);
  }
  {
    scoped_env e("FTQ_IO_BACKEND", "auto");
    CHECK(ftq::io::backend_choice_from_env() == backend_choice::automatic);
  }
  {
    scoped_env e("FTQ_IO_BACKEND", "uring");
    CHECK(ftq::io::backend_choice_from_env() == backend_choice::io_uring);
  }
  {
    scoped_env e("FTQ_IO_BACKEND", "threads");
    CHECK(ftq::io::backend_choice_from_env() == backend_choice::threads);
  }
  {
    scoped_env e("FTQ_IO_BACKEND", "epoll");
    try {
      ftq::io::backend_choice_from_env();
      FAIL("an unknown FTQ_IO_BACKEND value was accepted");
    } catch (const ftq::error& err) {
      CHECK((err.code() == ftq::errc::io_backend_unavailable));
      const std::string what = err.what();
      CHECK(what.find("epoll") != std::string::npos);
      CHECK(what.find("auto, uring, threads") != std::string::npos);
    }
  }
}

TEST_CASE("make_file_store keeps the chosen backend and why in info()") {
  asio::io_context io;
  const auto threads = ftq::io::make_file_store(io.get_executor(), backend_choice::threads, nullptr);
  CHECK(threads->info().kind == ftq::io::backend_kind::threads);
  CHECK(threads->info().reason == "threads: chosen explicitly");

  const std::string why_not = ftq::io::probe_io_uring();
  const char* require = std::getenv("FTQ_REQUIRE_URING");
  if (require != nullptr && std::string(require) == "1") {
    REQUIRE_MESSAGE(why_not.empty(), "FTQ_REQUIRE_URING=1 but: " << why_not);
  }
  const auto automatic = ftq::io::make_file_store(io.get_executor(), backend_choice::automatic, nullptr);
  if (why_not.empty()) {
    CHECK(automatic->info().kind == ftq::io::backend_kind::io_uring);
    CHECK(automatic->info().reason.starts_with("io_uring: "));
    const auto forced = ftq::io::make_file_store(io.get_executor(), backend_choice::io_uring, nullptr);
    CHECK(forced->info().kind == ftq::io::backend_kind::io_uring);
  } else {
    CHECK(automatic->info().kind == ftq::io::backend_kind::threads);
    CHECK(automatic->info().reason == "threads: " + why_not);
  }
  MESSAGE("automatic backend: " << automatic->info().reason);
}

TEST_CASE("commit, read, list, remove and make_dirs round trip with modes 0600 and 0700") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-io");
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::make_file_store(ex, backend, nullptr);
      const fs::path dir = tmp / "a/b/c";
      co_await store->make_dirs(dir);
      CHECK(fs::is_directory(dir));
      CHECK(mode_of(tmp / "a") == 0700);
      CHECK(mode_of(tmp / "a/b") == 0700);
      CHECK(mode_of(dir) == 0700);
      co_await store->make_dirs(dir);  // existing directories are fine

      const std::string first = "first version";
      commit_request req{dir, "state.bin", {as_bytes(first)}};
      co_await store->commit(req);
      const fs::path file = dir / "state.bin";
      CHECK(mode_of(file) == 0600);
      std::vector<std::byte> back = co_await store->read(file);
      CHECK(as_string(back) == first);

      const std::string second = "second, longer version of the state";
      const std::string tail = " + a second buffer";
      commit_request again{dir, "state.bin", {as_bytes(second), as_bytes(tail)}};
      co_await store->commit(again);
      back = co_await store->read(file);
      CHECK(as_string(back) == second + tail);

      const std::string empty;
      commit_request nothing{dir, "empty.bin", {as_bytes(empty)}};
      co_await store->commit(nothing);
      back = co_await store->read(dir / "empty.bin");
      CHECK(back.empty());

      fs::create_directory(dir / "subdir");  // list() names regular files only
      std::vector<std::string> names = co_await store->list(dir);
      CHECK(names == std::vector<std::string>{"empty.bin", "state.bin"});

      std::vector<fs::path> doomed{dir / "state.bin", dir / "never-existed"};
      co_await store->remove(doomed);
      names = co_await store->list(dir);
      CHECK(names == std::vector<std::string>{"empty.bin"});
      const fs::path missing_dir = tmp / "nope";
      names = co_await store->list(missing_dir);
      CHECK(names.empty());
      CHECK(ftq::test::temp_files(dir).empty());
    });
  }
}

TEST_CASE("failures carry the errno, the step and the path") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-io");
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::make_file_store(ex, backend, nullptr);
      const fs::path missing = tmp / "missing";
      try {
        co_await store->read(missing);
        FAIL("read of a missing file succeeded");
      } catch (const ftq::io_error& e) {
        CHECK((e.code() == std::errc::no_such_file_or_directory));
        CHECK(e.path() == missing.string());
        CHECK(std::string(e.what()).find(": open: ") != std::string::npos);
      }
      const std::string data = "x";
      commit_request req{tmp / "no-such-dir", "f", {as_bytes(data)}};
      try {
        co_await store->commit(req);
        FAIL("commit into a missing directory succeeded");
      } catch (const ftq::io_error& e) {
        CHECK((e.code() == std::errc::no_such_file_or_directory));
        CHECK(std::string(e.what()).find(": open: ") != std::string::npos);
      }
      // A file where a directory should be.
      ftq::test::write_file(tmp / "plain", "not a directory");
      const fs::path under_file = tmp / "plain/sub";
      try {
        co_await store->make_dirs(under_file);
        FAIL("make_dirs under a regular file succeeded");
      } catch (const ftq::io_error& e) {
        CHECK((e.code() == std::errc::not_a_directory));
        CHECK(std::string(e.what()).find(": mkdir: ") != std::string::npos);
      }
      const fs::path is_file = tmp / "plain";
      try {
        co_await store->make_dirs(is_file);
        FAIL("make_dirs onto a regular file succeeded");
      } catch (const ftq::io_error& e) {
        CHECK((e.code() == std::errc::not_a_directory));
      }
    });
  }
}

TEST_CASE("a 64 MiB file and a commit of thousands of buffers read back byte for byte") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-io");
    auto faults = std::make_shared<ftq::test::fault_schedule>(0, 0);
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::make_file_store(ex, backend, faults);
      const std::vector<std::byte> big = ftq::test::pattern(64u << 20, 1);
      commit_request req{tmp.path(), "big.bin", {big}};
      co_await store->commit(req);
      std::vector<std::byte> back = co_await store->read(tmp / "big.bin");
      CHECK(back.size() == big.size());
      CHECK(back == big);

      // 3000 buffers of varied sizes (some empty): three writev groups of up to IOV_MAX.
      const std::vector<std::byte> pool = ftq::test::pattern(3000 * 37, 2);
      std::vector<std::span<const std::byte>> buffers;
      std::vector<std::byte> expected;
      std::size_t at = 0;
      for (std::size_t i = 0; i < 3000; ++i) {
        const std::size_t n = (i * 7919) % 53;
        buffers.emplace_back(pool.data() + at, n);
        expected.insert(expected.end(), pool.begin() + static_cast<std::ptrdiff_t>(at),
                        pool.begin() + static_cast<std::ptrdiff_t>(at + n));
        at += n;
      }
      const std::size_t writes_before = faults->count_of(ftq::io::op_kind::write);
      commit_request many{tmp.path(), "many.bin", buffers};
      co_await store->commit(many);
      back = co_await store->read(tmp / "many.bin");
      CHECK(back == expected);
      const std::size_t nonempty = static_cast<std::size_t>(
          std::count_if(buffers.begin(), buffers.end(), [](const auto& b) { return !b.empty(); }));
      CHECK(faults->count_of(ftq::io::op_kind::write) - writes_before == (nonempty + IOV_MAX - 1) / IOV_MAX);
    });
  }
}

TEST_CASE("32 concurrent commits from coroutines all land intact, on one thread and on two") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    for (const unsigned threads : {1u, 2u}) {
      CAPTURE(ftq::test::choice_name(backend));
      CAPTURE(threads);
      ftq::test::temp_dir tmp("ftq-io");
      constexpr int n = 32;
      std::vector<std::vector<std::byte>> payloads;
      for (int i = 0; i < n; ++i) {
        payloads.push_back(ftq::test::pattern(4096 + 1000 * static_cast<std::size_t>(i), static_cast<unsigned>(i)));
      }
      ftq::test::run_coro_threaded(
          [&](asio::any_io_executor ex) -> asio::awaitable<void> {
            const auto store = ftq::io::make_file_store(ex, backend, nullptr);
            std::atomic<int> done{0};
            std::atomic<int> failed{0};
            for (int i = 0; i < n; ++i) {
              asio::co_spawn(
                  ex,
                  [&store, &payloads, &tmp, &done, &failed, i]() -> asio::awaitable<void> {
                    commit_request req{
                        tmp.path(), "file-" + std::to_string(i), {payloads[static_cast<std::size_t>(i)]}};
                    try {
                      co_await store->commit(req);
                    } catch (...) {
                      ++failed;
                    }
                    ++done;
                  },
                  asio::detached);
            }
            asio::steady_timer timer(ex);
            while (done.load() < n) {
              timer.expires_after(std::chrono::milliseconds(1));
              co_await timer.async_wait(asio::use_awaitable);
            }
            CHECK(failed.load() == 0);
            std::vector<std::string> names = co_await store->list(tmp.path());
            CHECK(names.size() == static_cast<std::size_t>(n));
          },
          threads);
      for (int i = 0; i < n; ++i) {
        const std::string got = ftq::test::read_file(tmp / ("file-" + std::to_string(i)));
        CHECK(got == as_string(payloads[static_cast<std::size_t>(i)]));
      }
      CHECK(ftq::test::temp_files(tmp.path()).empty());
    }
  }
}

namespace {

struct ticker_report {
  std::chrono::steady_clock::duration work{};     // how long the measured work took
  std::chrono::steady_clock::duration max_gap{};  // longest time the 1 ms timer waited past due
  int ticks = 0;
};

// Runs `work` on a single-threaded io_context while a 1 ms steady_timer ticks on it.
template <class Work>
ticker_report tick_while(Work work) {
  ticker_report r;
  bool done = false;
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    asio::co_spawn(
        ex,
        [&r, &done]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          auto last = std::chrono::steady_clock::now();
          while (!done) {
            timer.expires_after(std::chrono::milliseconds(1));
            co_await timer.async_wait(asio::use_awaitable);
            const auto now = std::chrono::steady_clock::now();
            r.max_gap = std::max(r.max_gap, now - last);
            last = now;
            ++r.ticks;
          }
        },
        asio::detached);
    asio::steady_timer settle(ex);
    settle.expires_after(std::chrono::milliseconds(5));
    co_await settle.async_wait(asio::use_awaitable);
    const auto start = std::chrono::steady_clock::now();
    co_await work(ex);
    r.work = std::chrono::steady_clock::now() - start;
    done = true;
  });
  return r;
}

long ms(std::chrono::steady_clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

TEST_CASE("a 64 MiB commit never blocks the executor: a 1 ms timer keeps firing") {
  ftq::test::temp_dir tmp("ftq-io");
  const std::vector<std::byte> big = ftq::test::pattern(64u << 20, 3);
  const std::vector<std::byte> gigantic = ftq::test::pattern(192u << 20, 3);

  // Control: the same protocol run inline does stall the timer for as long as it takes, so the
  // detector below can see a blocked executor.
  const ticker_report blocking = tick_while([&](asio::any_io_executor) -> asio::awaitable<void> {
    commit_request req{tmp.path(), "inline.bin", {gigantic}};
    ftq::io::detail::commit_file(req, nullptr, IOV_MAX);
    co_return;
  });
  MESSAGE("inline commit of 192 MiB: " << ms(blocking.work) << " ms, longest timer gap " << ms(blocking.max_gap)
                                       << " ms");
  CHECK(blocking.max_gap >= blocking.work * 8 / 10);

  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ticker_report r;
    for (int attempt = 0; attempt < 3; ++attempt) {  // a loaded 2-core machine may stall anything once
      r = tick_while([&](asio::any_io_executor ex) -> asio::awaitable<void> {
        const auto store = ftq::io::make_file_store(ex, backend, nullptr);
        for (int i = 0; i < 3; ++i) {
          commit_request req{tmp.path(), "big.bin", {big}};
          co_await store->commit(req);
        }
      });
      MESSAGE(ftq::test::choice_name(backend) << ": 3 commits of 64 MiB took " << ms(r.work) << " ms, " << r.ticks
                                              << " ticks, longest gap " << ms(r.max_gap) << " ms");
      if (r.max_gap < std::chrono::milliseconds(30) || r.max_gap < r.work / 4) {
        break;
      }
    }
    CHECK((r.max_gap < std::chrono::milliseconds(30) || r.max_gap < r.work / 4));
    CHECK(r.ticks >= ms(r.work) / 10);
  }
}

namespace {

// Makes io_uring_setup fail with EPERM for this process and its children (needs no privilege
// thanks to PR_SET_NO_NEW_PRIVS).
bool forbid_io_uring_setup() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

}  // namespace

TEST_CASE("without io_uring (seccomp EPERM) automatic falls back to threads and a forced io_uring throws") {
  ftq::test::temp_dir tmp("ftq-io");
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(out[0]);
    // Exit codes: 0 all good, 10+ which check failed. The reason goes back through the pipe.
    int code = 0;
    if (!forbid_io_uring_setup()) {
      ::_exit(10);
    }
    std::string report = ftq::io::probe_io_uring();
    asio::io_context io;
    const auto store = ftq::io::make_file_store(io.get_executor(), backend_choice::automatic, nullptr);
    report += "\n" + store->info().reason;
    if (store->info().kind != ftq::io::backend_kind::threads) {
      code = 11;
    }
    try {
      ftq::io::make_file_store(io.get_executor(), backend_choice::io_uring, nullptr);
      code = 12;
    } catch (const ftq::error& e) {
      if (e.code() != ftq::errc::io_backend_unavailable) {
        code = 13;
      }
      report += std::string("\n") + e.what();
    }
    try {  // the fallback store works
      const std::string data = "still durable";
      commit_request req{tmp.path(), "fallback.bin", {as_bytes(data)}};
      ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<void> { co_await store->commit(req); });
    } catch (...) {
      code = 14;
    }
    [[maybe_unused]] const auto written = ::write(out[1], report.data(), report.size());
    ::_exit(code);
  }
  ::close(out[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) {
    report.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  INFO("child report:\n" << report);
  CHECK(WEXITSTATUS(status) == 0);
  // probe reason, then info().reason, then the forced store's error
  CHECK(report.starts_with("io_uring_queue_init: Operation not permitted\n"));
  CHECK(report.find("\nthreads: io_uring_queue_init: Operation not permitted\n") != std::string::npos);
  CHECK(report.find("io_uring backend unavailable: io_uring_queue_init: Operation not permitted") != std::string::npos);
  CHECK(ftq::test::read_file(tmp / "fallback.bin") == "still durable");
}
