#include "inject/checkpoint_faults.hpp"

#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "checkpoint/query_checkpoints.hpp"
#include "inject/fault_plan.hpp"
#include "support/checkpoint_store_fixture.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "support/vector_state.hpp"
#include "unit/inject/child_process.hpp"
#include "unit/io/backends.hpp"

using namespace ftq::test::store_names;
using ftq::inject::fault_plan;
using ftq::io::op_kind;

namespace {

constexpr std::array<op_kind, 5> steps{op_kind::open, op_kind::write, op_kind::fsync, op_kind::rename,
                                       op_kind::fsync_dir};

struct outcome {
  bool failed = false;
  std::error_code code;
  std::string what;
};

// Commits "c1", "c2", ... (content "content of cN") in `dir` through one store using `plan`'s
// checkpoint injector, removing a stray file between commits (a directory fsync that is not a
// commit's), and reports each commit's outcome.
std::vector<outcome> commit_files(backend_choice backend, fault_plan& plan, const fs::path& dir, int count) {
  std::vector<outcome> out;
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto store = ftq::io::make_file_store(ex, backend, plan.checkpoint_faults());
    for (int i = 1; i <= count; ++i) {
      const std::string name = "c" + std::to_string(i);
      const std::string content = "content of " + name;
      commit_request req{dir, name, {as_bytes(content)}};
      outcome o;
      try {
        co_await store->commit(req);
      } catch (const ftq::io_error& e) {
        o = outcome{true, e.code(), e.what()};
      }
      out.push_back(o);
      ftq::test::write_file(dir / "stray", "x");
      std::vector<fs::path> stray{dir / "stray"};
      co_await store->remove(stray);
    }
  });
  return out;
}

/// Commits "c1", "c2", ... (content "content of cN") into directory "d" of the fixture's store (a
/// RADOS prefix) through `plan`'s checkpoint injector and reports each commit's outcome.
std::vector<outcome> commit_objects(const ftq::test::checkpoint_store_fixture& store, fault_plan& plan, int count) {
  std::vector<outcome> out;
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto s = store.make_store(ex, plan.checkpoint_faults());
    const fs::path dir = store.root() / "d";
    co_await s->make_dirs(dir);
    for (int i = 1; i <= count; ++i) {
      const std::string name = "c" + std::to_string(i);
      const std::string content = "content of " + name;
      commit_request req{dir, name, {as_bytes(content)}};
      outcome o;
      try {
        co_await s->commit(req);
      } catch (const ftq::io_error& e) {
        o = outcome{true, e.code(), e.what()};
      }
      out.push_back(o);
    }
  });
  return out;
}

/// The content of file `name` of directory "d" of the fixture's store, read through a store
/// without faults: "" for a file that is not there.
std::string read_object_file(const ftq::test::checkpoint_store_fixture& store, const std::string& name) {
  return ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<std::string> {
    const auto s = store.make_store(ex, nullptr);
    const std::vector<std::string> names = co_await s->list(store.root() / "d");
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      co_return std::string();
    }
    const std::vector<std::byte> bytes = co_await s->read(store.root() / "d" / name);
    co_return as_string(bytes);
  });
}

}  // namespace

// On RADOS a commit has two of the steps a rule can name: write (its first chunk object) and
// rename (the manifest operation that commits it); it opens and fsyncs nothing.
TEST_CASE("checkpoint:n=N fails the N-th commit at its step with the errno, on every store") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    for (const op_kind step : steps) {
      for (const auto& [errno_text, error] : {std::pair{"EIO", EIO}, std::pair{"ENOSPC", ENOSPC}}) {
        const std::string spec =
            "checkpoint:n=2,errno=" + std::string(errno_text) + ",step=" + std::string(ftq::io::op_name(step));
        CAPTURE(ftq::test::choice_name(backend));
        CAPTURE(spec);
        ftq::test::temp_dir tmp("ftq-inject");
        fault_plan plan = fault_plan::parse(spec);
        const std::vector<outcome> o = commit_files(backend, plan, tmp.path(), 3);
        CHECK_FALSE(o[0].failed);
        REQUIRE(o[1].failed);
        CHECK((o[1].code == std::error_code(error, std::system_category())));
        CHECK(o[1].what.find(": " + std::string(ftq::io::op_name(step)) + ": ") != std::string::npos);
        CHECK_FALSE(o[2].failed);  // the (N+1)-th commit succeeds
        CHECK(ftq::test::read_file(tmp / "c1") == "content of c1");
        CHECK(ftq::test::read_file(tmp / "c3") == "content of c3");
        // Only a failure after the rename leaves the file in place.
        CHECK(fs::exists(tmp / "c2") == (step == op_kind::fsync_dir));
        CHECK(ftq::test::temp_files(tmp.path()).empty());
        CHECK(plan.injected().checkpoint_failures == 1);
        CHECK(plan.injected("any query").checkpoint_failures == 1);
      }
    }
  }
  if (!ftq::test::rados_test_uri()) {
    return;  // no RADOS cluster to test against (FTQ_TEST_RADOS)
  }
  struct rados_step {
    op_kind step;
    std::string reported;  // what io_error::what() says of the step
  };
  for (const rados_step& s :
       {rados_step{op_kind::write, ": rados: write: "}, rados_step{op_kind::rename, ": rados: update manifest: "}}) {
    for (const auto& [errno_text, error] : {std::pair{"EIO", EIO}, std::pair{"ENOSPC", ENOSPC}}) {
      const std::string spec =
          "checkpoint:n=2,errno=" + std::string(errno_text) + ",step=" + std::string(ftq::io::op_name(s.step));
      CAPTURE(spec);
      ftq::test::checkpoint_store_fixture store("rados");
      fault_plan plan = fault_plan::parse(spec);
      const std::vector<outcome> o = commit_objects(store, plan, 3);
      CHECK_FALSE(o[0].failed);
      REQUIRE(o[1].failed);
      CHECK((o[1].code == std::error_code(error, std::system_category())));
      CHECK_MESSAGE(o[1].what.find(s.reported) != std::string::npos, o[1].what);
      CHECK_FALSE(o[2].failed);  // the (N+1)-th commit succeeds
      CHECK(read_object_file(store, "c1") == "content of c1");
      CHECK(read_object_file(store, "c3") == "content of c3");
      CHECK(read_object_file(store, "c2").empty());  // a RADOS commit is all or nothing
      CHECK(store.strays().empty());                 // and a failed one leaves no chunk behind
      CHECK(plan.injected().checkpoint_failures == 1);
    }
  }
}

TEST_CASE("checkpoint:times=K fails K consecutive commits, on every store") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-inject");
    fault_plan plan = fault_plan::parse("checkpoint:n=2,times=2,errno=EIO,step=fsync");
    const std::vector<outcome> o = commit_files(backend, plan, tmp.path(), 5);
    CHECK_FALSE(o[0].failed);
    CHECK(o[1].failed);
    CHECK(o[2].failed);
    CHECK_FALSE(o[3].failed);
    CHECK_FALSE(o[4].failed);
    CHECK(plan.injected().checkpoint_failures == 2);
    auto* injector = dynamic_cast<ftq::inject::checkpoint_fault_injector*>(plan.checkpoint_faults().get());
    REQUIRE(injector != nullptr);
    CHECK(injector->commits() == 5);
  }
  if (ftq::test::rados_test_uri()) {  // a RADOS cluster to test against (FTQ_TEST_RADOS)
    ftq::test::checkpoint_store_fixture store("rados");
    fault_plan plan = fault_plan::parse("checkpoint:n=2,times=2,errno=EIO,step=rename");
    const std::vector<outcome> o = commit_objects(store, plan, 5);
    CHECK_FALSE(o[0].failed);
    CHECK(o[1].failed);
    CHECK(o[2].failed);
    CHECK_FALSE(o[3].failed);
    CHECK_FALSE(o[4].failed);
    CHECK(plan.injected().checkpoint_failures == 2);
    auto* injector = dynamic_cast<ftq::inject::checkpoint_fault_injector*>(plan.checkpoint_faults().get());
    REQUIRE(injector != nullptr);
    CHECK(injector->commits() == 5);
    CHECK(store.strays().empty());
  }
}

TEST_CASE("commits from several threads and stores are numbered once each: exactly `times` of them fail") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-inject");
    fault_plan plan = fault_plan::parse("checkpoint:n=7,times=3,errno=EIO,step=fsync");
    constexpr int threads = 4;
    constexpr int per_thread = 5;
    std::atomic<int> failed{0};
    std::vector<std::thread> runners;
    for (int t = 0; t < threads; ++t) {
      const fs::path dir = tmp / ("t" + std::to_string(t));
      fs::create_directory(dir);
      runners.emplace_back([&, dir] {
        for (const outcome& o : commit_files(backend, plan, dir, per_thread)) {
          failed += o.failed ? 1 : 0;
        }
      });
    }
    for (auto& r : runners) {
      r.join();
    }
    CHECK(failed.load() == 3);
    CHECK(plan.injected().checkpoint_failures == 3);
    auto* injector = dynamic_cast<ftq::inject::checkpoint_fault_injector*>(plan.checkpoint_faults().get());
    REQUIRE(injector != nullptr);
    CHECK(injector->commits() == threads * per_thread);
  }
}

TEST_CASE("a commit's continuation writes are not its write step: only the first write fails") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    CAPTURE(ftq::test::choice_name(backend));
    ftq::test::temp_dir tmp("ftq-inject");
    // More buffers than one writev takes: the commit issues several writes.
    fault_plan plan = fault_plan::parse("checkpoint:n=1,errno=EIO,step=write;checkpoint:n=2,errno=EIO,step=fsync");
    const std::string piece = "0123456789";
    std::vector<std::span<const std::byte>> buffers(3000, as_bytes(piece));
    int failures = 0;
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::make_file_store(ex, backend, plan.checkpoint_faults());
      for (int i = 0; i < 3; ++i) {
        commit_request req{tmp.path(), "big", buffers};
        try {
          co_await store->commit(req);
        } catch (const ftq::io_error& e) {
          ++failures;
        }
      }
    });
    CHECK(failures == 2);
    CHECK(ftq::test::read_file(tmp / "big").size() == 30000);
  }
}

TEST_CASE("crash:checkpoint=N SIGKILLs the process before that step of the N-th commit, the steps before it done") {
  for (const backend_choice backend : ftq::test::store_backends()) {
    for (const op_kind step : steps) {
      const std::string spec = "crash:checkpoint=2,step=" + std::string(ftq::io::op_name(step));
      CAPTURE(ftq::test::choice_name(backend));
      CAPTURE(spec);
      ftq::test::temp_dir tmp("ftq-inject");
      fault_plan plan = fault_plan::parse(spec);
      const int status =
          ftq::test::wait_status_of_child([&] { commit_files(backend, plan, tmp.path(), 3); }, tmp / "stderr.txt");
      CHECK(WIFSIGNALED(status));
      CHECK(WTERMSIG(status) == SIGKILL);
      const std::string said = ftq::test::read_file(tmp / "stderr.txt");
      const std::string canonical = step == op_kind::write ? "crash:checkpoint=2" : spec;  // write is the default
      CHECK(said.find("ftq: injected crash: " + canonical + ": before " + std::string(ftq::io::op_name(step)) +
                      " of ") == 0);
      CHECK(ftq::test::read_file(tmp / "c1") == "content of c1");
      CHECK_FALSE(fs::exists(tmp / "c3"));
      // What ran before the crash: the temp file exists from its open to its rename; the file
      // lands at the rename; its content is complete from the fsync on.
      const std::vector<std::string> temps = ftq::test::temp_files(tmp.path());
      const bool opened = step != op_kind::open;
      const bool renamed = step == op_kind::fsync_dir;
      CHECK(fs::exists(tmp / "c2") == renamed);
      CHECK(temps.size() == (opened && !renamed ? 1u : 0u));
      if (step == op_kind::fsync || step == op_kind::rename) {
        REQUIRE(temps.size() == 1);
        CHECK(ftq::test::read_file(tmp / temps[0]) == "content of c2");
      }
      if (step == op_kind::write) {
        REQUIRE(temps.size() == 1);
        CHECK(fs::file_size(tmp / temps[0]) == 0);
      }
    }
  }
}

TEST_CASE("a checkpoint manager given the injector: the N-th checkpoint fails, the next one commits and restores") {
  using ftq::checkpoint::query_checkpoints;
  using ftq::checkpoint::state_ref;
  for (const std::string& kind : ftq::test::checkpoint_store_kinds()) {
    CAPTURE(kind);
    ftq::test::checkpoint_store_fixture store(kind);
    fault_plan plan = fault_plan::parse("checkpoint:n=2,errno=ENOSPC");
    ftq::checkpoint_options o = store.options();
    o.faults = plan.checkpoint_faults();
    std::array<unsigned char, 32> hash{};
    hash.fill(7);
    asio::io_context io;
    ftq::checkpoint_manager manager(io.get_executor(), o);
    ftq::test::vector_state state;
    std::vector<int> failed;
    ftq::test::run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(manager, "q", hash);
      for (int round = 1; round <= 3; ++round) {
        state.append(round);
        try {
          std::vector<state_ref> refs{{0, &state}};
          co_await q.commit(refs);
        } catch (const ftq::io_error& e) {
          CHECK((e.code() == std::errc::no_space_on_device));
          failed.push_back(round);
        }
      }
    });
    CHECK(failed == std::vector<int>{2});
    ftq::test::vector_state restored;
    ftq::test::run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(manager, "q", hash);
      const auto report = co_await q.restore([&] {
        restored = ftq::test::vector_state{};
        return std::vector<state_ref>{{0, &restored}};
      });
      CHECK(report.restored.has_value());
    });
    CHECK(restored.values == std::vector<std::int64_t>{1, 2, 3});
    CHECK(plan.injected().checkpoint_failures == 1);
  }
}
