#include "io/file_store.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <ftq/error.hpp>

#include "io/commit_protocol.hpp"
#include "support/crash_simulator.hpp"
#include "support/fault_schedule.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "unit/io/backends.hpp"

using namespace ftq::test::store_names;
using ftq::io::op_kind;

namespace {

struct attempt {
  bool threw = false;
  std::error_code code;
  std::string what;
};

// Commits `content` as dir/name with a fresh store using `faults`, catching io_error.
attempt commit_with(backend_choice backend, std::shared_ptr<ftq::io::fault_injector> faults, const fs::path& dir,
                    const std::string& name, const std::string& content) {
  attempt a;
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto store = ftq::io::make_file_store(ex, backend, faults);
    commit_request req{dir, name, {as_bytes(content)}};
    try {
      co_await store->commit(req);
    } catch (const ftq::io_error& e) {
      a.threw = true;
      a.code = e.code();
      a.what = e.what();
    }
  });
  return a;
}

}  // namespace

TEST_CASE("grind: failing each operation of a commit in turn leaves the old or the new file and no temp") {
  for (const int error : {EIO, ENOSPC}) {
    for (const backend_choice backend : ftq::test::store_backends()) {
      CAPTURE(ftq::test::choice_name(backend));
      CAPTURE(error);
      ftq::test::temp_dir tmp("ftq-grind");
      const std::string old_content = "old durable content";
      ftq::test::write_file(tmp / "ckpt", old_content);
      const std::string new_content(100000, 'n');
      std::size_t n = 1;
      for (;; ++n) {
        CAPTURE(n);
        ftq::test::write_file(tmp / "ckpt", old_content);
        auto faults = std::make_shared<ftq::test::fault_schedule>(n, error);
        const attempt a = commit_with(backend, faults, tmp.path(), "ckpt", new_content);
        INFO("ops: " << faults->trace());
        if (!faults->fired()) {
          CHECK_FALSE(a.threw);
          CHECK(ftq::test::read_file(tmp / "ckpt") == new_content);
          break;
        }
        const auto failed = faults->ops()[n - 1];
        REQUIRE(a.threw);  // every operation of a commit is needed
        CHECK((a.code == std::error_code(error, std::system_category())));
        CHECK(a.what.find(": " + std::string(ftq::io::op_name(failed.op)) + ": ") != std::string::npos);
        // Before the rename the old file stays; from the directory steps on, the new one is there.
        const bool after_rename = failed.path == tmp.path();
        CHECK(ftq::test::read_file(tmp / "ckpt") == (after_rename ? new_content : old_content));
        CHECK(ftq::test::temp_files(tmp.path()).empty());
        // The temp file exists from a successful open (op 1) until the rename; a failure in
        // between removes it.
        CHECK(faults->count_of(op_kind::unlink) == (n > 1 && !after_rename ? 1u : 0u));
      }
      // open, write, fsync, close, rename, open dir, fsync_dir, close dir
      CHECK(n == 9);
    }
  }
}

TEST_CASE("grind: reads, removes and make_dirs fail with the injected errno at every step") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-grind");
    ftq::test::write_file(tmp / "data", std::string(5000, 'd'));
    const std::size_t fds_before = ftq::test::open_fds();
    struct scenario {
      const char* name;
      std::size_t ops;  // operations of a fault-free run
    };
    // read: open, stat, read, close. remove: two unlinks, open/fsync_dir/close of the directory.
    // make_dirs: one mkdir per component (the existing ones fail with EEXIST), then
    // open/fsync_dir/close of the parents of m, m/n and m/n/o.
    const std::size_t mkdir_ops = ftq::io::detail::dir_prefixes(tmp / "m/n/o").size() + 9;
    for (const scenario sc : {scenario{"read", 4}, scenario{"remove", 5}, scenario{"make_dirs", mkdir_ops}}) {
      CAPTURE(sc.name);
      std::size_t n = 1;
      for (;; ++n) {
        CAPTURE(n);
        ftq::test::write_file(tmp / "r1", "1");
        ftq::test::write_file(tmp / "r2", "2");
        fs::remove_all(tmp / "m");
        auto faults = std::make_shared<ftq::test::fault_schedule>(n, EIO);
        bool threw = false;
        ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
          const auto store = ftq::io::make_file_store(ex, backend, faults);
          const std::string which = sc.name;
          try {
            if (which == "read") {
              const fs::path p = tmp / "data";
              const std::vector<std::byte> back = co_await store->read(p);
              CHECK(back.size() == 5000);
            } else if (which == "remove") {
              std::vector<fs::path> paths{tmp / "r1", tmp / "r2"};
              co_await store->remove(paths);
              CHECK_FALSE(fs::exists(tmp / "r1"));
            } else {
              const fs::path d = tmp / "m/n/o";
              co_await store->make_dirs(d);
              CHECK(fs::is_directory(d));
            }
          } catch (const ftq::io_error& e) {
            threw = true;
            CHECK((e.code() == std::errc::io_error));
          }
        });
        INFO("ops: " << faults->trace());
        if (!faults->fired()) {
          CHECK_FALSE(threw);
          break;
        }
        CHECK(threw);
      }
      CHECK(n == sc.ops + 1);
    }
    CHECK(ftq::test::open_fds() == fds_before);  // failed reads closed their descriptors
  }
}

TEST_CASE("crash simulation: a crash after any operation of a commit leaves the old or the new file whole") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    for (const bool existed : {true, false}) {
      CAPTURE(ftq::test::choice_name(backend));
      CAPTURE(existed);
      const std::string old_content = "old content, durable";
      const std::string new_content(70000, 'N');
      bool saw_old = false;
      bool saw_new = false;
      std::size_t n = 0;
      for (;; ++n) {
        CAPTURE(n);
        ftq::test::temp_dir tmp("ftq-crash");
        if (existed) {
          ftq::test::write_file(tmp / "ckpt", old_content);
        }
        auto sim = std::make_shared<ftq::test::crash_simulator>(tmp.path());
        sim->stop_after(n);
        const attempt a = commit_with(backend, sim, tmp.path(), "ckpt", new_content);
        const bool ran_to_end = sim->operations() <= n;
        sim->crash();
        const bool exists = fs::exists(tmp / "ckpt");
        const std::string after = ftq::test::read_file(tmp / "ckpt");
        CHECK(ftq::test::temp_files(tmp.path()).empty());
        if (existed) {
          CHECK(exists);
          CHECK((after == old_content || after == new_content));
        } else {
          CHECK((!exists || after == new_content));  // never empty, never torn
        }
        saw_old = saw_old || (exists && after == old_content) || !exists;
        saw_new = saw_new || after == new_content;
        if (ran_to_end) {
          CHECK_FALSE(a.threw);
          CHECK(after == new_content);  // a commit that returned is durable
          break;
        }
        CHECK(a.threw);
      }
      CHECK(n == 8);
      CHECK(saw_old);  // the simulator really reverted something
      CHECK(saw_new);
    }
  }
}

TEST_CASE("crash simulator: a protocol without the file fsync or the directory fsync loses data") {
  ftq::test::temp_dir tmp("ftq-crash");
  ftq::test::write_file(tmp / "f", "old");
  // Each step is announced the way a store would, around a real syscall.
  auto step = [](ftq::test::crash_simulator& sim, op_kind op, const fs::path& p, auto&& sys) {
    REQUIRE(sim.before(op, p) == 0);
    sys();
    sim.after(op, p, 0);
  };
  const fs::path temp = tmp / "f.tmp-1";
  {
    ftq::test::crash_simulator sim(tmp.path());
    step(sim, op_kind::open, temp, [&] { ftq::test::write_file(temp, "new"); });
    step(sim, op_kind::rename, temp, [&] { fs::rename(temp, tmp / "f"); });
    step(sim, op_kind::fsync_dir, tmp.path(), [] {});
    sim.crash();
    CHECK(ftq::test::read_file(tmp / "f").empty());  // the rename survived, the unsynced data did not
  }
  ftq::test::write_file(tmp / "f", "old");
  {
    ftq::test::crash_simulator sim(tmp.path());
    step(sim, op_kind::open, temp, [&] { ftq::test::write_file(temp, "new"); });
    step(sim, op_kind::fsync, temp, [] {});
    step(sim, op_kind::rename, temp, [&] { fs::rename(temp, tmp / "f"); });
    sim.crash();
    CHECK(ftq::test::read_file(tmp / "f") == "old");  // the rename was never made durable
    CHECK_FALSE(fs::exists(temp));
  }
}

TEST_CASE("a short write is continued and the commit completes with the right bytes") {
  // RLIMIT_FSIZE makes the kernel itself write short: a write crossing the limit stops there.
  // The limit is lifted as soon as the store reports the short write.
  rlimit old_limit{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-short");
    const std::vector<std::byte> content = ftq::test::pattern(4u << 20, 9);
    auto faults = std::make_shared<ftq::test::fault_schedule>(0, 0);
    bool limited = false;
    bool lifted = false;
    faults->on_after = [&](op_kind op, const fs::path&, int) {  // may run on a pool thread: no CHECK here
      if (op == op_kind::write && limited) {
        lifted = ::setrlimit(RLIMIT_FSIZE, &old_limit) == 0;
        limited = false;
      }
    };
    bool threw = false;
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::make_file_store(ex, backend, faults);
      rlimit small = old_limit;
      small.rlim_cur = 1u << 20;
      REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
      limited = true;
      commit_request req{tmp.path(), "big", {content}};
      try {
        co_await store->commit(req);
      } catch (const ftq::io_error& e) {
        threw = true;
        INFO(e.what());
        CHECK(false);
      }
    });
    if (limited) {
      ::setrlimit(RLIMIT_FSIZE, &old_limit);
    }
    INFO("ops: " << faults->trace());
    CHECK_FALSE(threw);
    CHECK(lifted);
    CHECK(faults->count_of(op_kind::write) == 2);  // the short one and its continuation
    CHECK(ftq::test::read_file(tmp / "big") == ftq::test::as_string(content));
  }
  std::signal(SIGXFSZ, old_handler);
}
