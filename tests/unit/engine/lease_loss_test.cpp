// A query whose lease is lost (another process owns it now) stops at once: a checkpoint commit
// the store fences (errc::lease_lost) fails the query with that error, no further commit or
// cleanup reaches the store, and recovery never retries it; query::abandon() ends a running
// query the same way from outside. Any other refused commit still only gets counted.

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/status.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "checkpoint/manager_impl.hpp"
#include "io/file_store.hpp"
#include "support/engine_plans.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace asio = boost::asio;
using ftq::test::blocking_plans;
using ftq::test::render;
using ftq::test::run_coro_on;

/// What the store saw, kept by the test after the store went into the manager.
struct store_log {
  std::atomic<int> commits_started{0};
  std::atomic<int> commits_in_flight{0};
  std::atomic<int> removes{0};
  // Operations that changed the store after the refusal (none may).
  std::atomic<int> writes_after_refusal{0};
  std::atomic<bool> refused{false};
};

enum class refusal { lease_lost, io_error };

/// Passes everything to a real store, except that the `refuse_at`-th commit (1-based) throws:
/// ftq::error(lease_lost) as a RADOS store whose version or lease check failed, or an io_error.
class refusing_store final : public ftq::io::file_store {
 public:
  refusing_store(std::unique_ptr<ftq::io::file_store> inner, std::shared_ptr<store_log> log, int refuse_at, refusal how)
      : file_store(inner->info()), inner_(std::move(inner)), log_(std::move(log)), refuse_at_(refuse_at), how_(how) {}

  asio::awaitable<void> commit(const ftq::io::commit_request& request) override {
    const int n = ++log_->commits_started;
    if (log_->refused) {
      ++log_->writes_after_refusal;
    }
    if (n == refuse_at_) {
      if (how_ == refusal::lease_lost) {
        log_->refused = true;
        throw ftq::error(ftq::errc::lease_lost, request.dir.string() +
                                                    ": fenced: the manifest moved to version 9 (expected 7): "
                                                    "another process owns this query now");
      }
      throw ftq::io_error((request.dir / request.name).string(), std::error_code(EIO, std::generic_category()),
                          "commit");
    }
    ++log_->commits_in_flight;
    std::exception_ptr failed;
    try {
      co_await inner_->commit(request);
    } catch (...) {
      failed = std::current_exception();
    }
    --log_->commits_in_flight;
    if (failed) {
      std::rethrow_exception(failed);
    }
  }
  asio::awaitable<std::vector<std::byte>> read(std::filesystem::path path) override {
    std::vector<std::byte> bytes = co_await inner_->read(std::move(path));
    co_return bytes;
  }
  asio::awaitable<void> remove(std::vector<std::filesystem::path> paths) override {
    ++log_->removes;
    if (log_->refused) {
      ++log_->writes_after_refusal;
    }
    co_await inner_->remove(std::move(paths));
  }
  asio::awaitable<std::vector<std::string>> list(std::filesystem::path dir) override {
    std::vector<std::string> names = co_await inner_->list(std::move(dir));
    co_return names;
  }
  asio::awaitable<std::vector<std::string>> list_dirs(std::filesystem::path dir) override {
    std::vector<std::string> names = co_await inner_->list_dirs(std::move(dir));
    co_return names;
  }
  asio::awaitable<void> make_dirs(std::filesystem::path dir) override { co_await inner_->make_dirs(std::move(dir)); }
  asio::awaitable<std::vector<std::string>> sweep(std::filesystem::path dir) override {
    if (log_->refused) {
      ++log_->writes_after_refusal;
    }
    std::vector<std::string> names = co_await inner_->sweep(std::move(dir));
    co_return names;
  }

 private:
  std::unique_ptr<ftq::io::file_store> inner_;
  std::shared_ptr<store_log> log_;
  int refuse_at_;
  refusal how_;
};

/// A manager in `dir` whose store refuses the `refuse_at`-th commit (0: none).
std::shared_ptr<ftq::checkpoint_manager> refusing_manager(asio::io_context& io, const std::filesystem::path& dir,
                                                          std::shared_ptr<store_log> log, int refuse_at, refusal how) {
  // Local whatever FTQ_TEST_RADOS says: the refusing store wraps a local one.
  ftq::checkpoint_options o = ftq::test::checkpoint_options_for(dir);
  o.store.clear();
  o.rados.reset();
  o.dir = dir;
  auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), o);
  // make_unique: assigns to the manager's store whether it is held by unique_ptr or shared_ptr.
  manager->internals().store = std::make_unique<refusing_store>(
      ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::threads), std::move(log), refuse_at, how);
  return manager;
}

/// Runs `q` and returns the ftq::error it failed with (fails the test if it did not).
ftq::error failure_of(asio::io_context& io, ftq::engine& eng, const ftq::query_ptr& q) {
  try {
    (void)run_coro_on(io, [&](auto) { return eng.run(q); });
  } catch (const ftq::error& e) {
    return e;
  }
  FAIL("the query did not fail");
  return ftq::error(ftq::errc::internal, "unreachable");
}

/// Calls `f` once `q` has scanned `rows` rows and (with a `log`) no commit is in flight, on the
/// io_context between the query's slices.
template <class F>
void once_scanned(asio::io_context& io, const ftq::query_ptr& q, std::uint64_t rows, F f,
                  std::shared_ptr<store_log> log = nullptr) {
  asio::co_spawn(
      io,
      [&io, q, rows, f, log]() mutable -> asio::awaitable<void> {
        asio::steady_timer t(io);
        for (;;) {
          const ftq::query_state st = q->state();
          const bool ready = q->progress().rows_scanned >= rows && !(log && log->commits_in_flight > 0);
          if (st != ftq::query_state::prepared && (st != ftq::query_state::running || ready)) {
            break;
          }
          t.expires_after(std::chrono::microseconds(50));
          co_await t.async_wait(asio::use_awaitable);
        }
        f();
      },
      asio::detached);
}

}  // namespace

TEST_CASE("a commit the store fences ends the query at once as failed with lease_lost") {
  ftq::test::temp_dir tmp;
  for (const bool fault_tolerance : {true, false}) {
    for (const ftq::plan& p : blocking_plans()) {
      CAPTURE(p.name);
      CAPTURE(fault_tolerance);
      asio::io_context io;
      ftq::engine_options eo;
      eo.batch_rows = 1000;
      eo.fault_tolerance.enabled = fault_tolerance;
      ftq::engine eng(io.get_executor(), eo);
      eng.register_table(ftq::test::make_engine_table(40000, 500));
      auto log = std::make_shared<store_log>();
      const std::filesystem::path dir = tmp / (p.name + (fault_tolerance ? "-ft" : "-plain"));
      ftq::query_options qo;
      qo.checkpoints = {.manager = refusing_manager(io, dir, log, 3, refusal::lease_lost), .every_rows = 5000};
      auto q = eng.prepare(p, qo);

      const ftq::error e = failure_of(io, eng, q);
      CHECK((e.code() == ftq::errc::lease_lost));
      const std::string what = e.what();
      CHECK(what.find("checkpoint commit refused") != std::string::npos);
      CHECK(what.find("another process owns the query") != std::string::npos);
      CHECK(what.find(q->checkpoint_id()) != std::string::npos);
      CHECK(q->state() == ftq::query_state::failed);
      // The third commit was the last one tried; nothing else reached the store afterwards (no
      // later checkpoint, no retention or cleanup of what is now another process's).
      CHECK(log->commits_started == 3);
      CHECK(log->writes_after_refusal == 0);
      const ftq::checkpoint_stats stats = q->checkpoints();
      CHECK(stats.commits == 2);
      CHECK(stats.failures == 1);
      CHECK(stats.last_error.find("fenced") != std::string::npos);
      // Not recovered from: no retry, no rollback, and no failure recorded for an operator.
      const ftq::fault_tolerance_stats ft = q->fault_tolerance();
      CHECK(ft.retries == 0);
      CHECK(ft.operator_restores == 0);
      CHECK(ft.pipeline_restarts == 0);
      CHECK(q->failures().empty());
      // It stopped at the third checkpoint (15000 rows), not after reading everything.
      CHECK(q->progress().rows_scanned < 40000);
      // The status shows it failed, with the reason.
      const auto snap = eng.snapshot(ftq::snapshot_parts::queries);
      REQUIRE(snap.queries.size() == 1);
      CHECK(snap.queries[0].state == ftq::query_state::failed);
      CHECK(snap.queries[0].error == what);
    }
  }
}

TEST_CASE("a commit refused with an io_error is counted and the query goes on") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 1000});
  eng.register_table(ftq::test::make_engine_table(40000, 500));
  const ftq::plan p = blocking_plans()[0];
  const std::string expected = render(run_coro_on(io, [&](auto) { return eng.execute(p); }));
  auto log = std::make_shared<store_log>();
  ftq::query_options qo;
  qo.checkpoints = {.manager = refusing_manager(io, tmp / "ck", log, 3, refusal::io_error), .every_rows = 5000};
  auto q = eng.prepare(p, qo);
  const auto result = run_coro_on(io, [&](auto) { return eng.run(q); });
  CHECK(render(result) == expected);
  CHECK(q->state() == ftq::query_state::succeeded);
  CHECK(log->commits_started > 3);  // the next ones were tried (and committed)
  const ftq::checkpoint_stats stats = q->checkpoints();
  CHECK(stats.failures == 1);
  CHECK(stats.commits == static_cast<std::uint64_t>(log->commits_started - 1));
  CHECK(stats.last_error.find("Input/output error") != std::string::npos);
}

TEST_CASE("abandon ends a running query with its error and takes no final checkpoint") {
  ftq::test::temp_dir tmp;
  for (const bool abandon : {false, true}) {
    CAPTURE(abandon);
    asio::io_context io;
    ftq::engine eng(io.get_executor(), {.batch_rows = 1000, .yield_interval = std::chrono::microseconds(1)});
    eng.register_table(ftq::test::make_engine_table(60000, 500));
    auto log = std::make_shared<store_log>();
    ftq::query_options qo;
    qo.checkpoints = {
        .manager = refusing_manager(io, tmp / (abandon ? "abandoned" : "stopped"), log, 0, refusal::lease_lost),
        .every_rows = 7000};
    auto q = eng.prepare(blocking_plans()[0], qo);
    int started_at_stop = -1;
    // A graceful stop, then (or not) the lease is lost: abandon() must win over the stop's
    // final checkpoint.
    once_scanned(
        io, q, 30000,
        [&] {
          started_at_stop = log->commits_started;
          q->stop();
          if (abandon) {
            q->abandon(ftq::errc::lease_lost, "lease lost: renewal refused (taken by worker-b)");
          }
        },
        log);
    const ftq::error e = failure_of(io, eng, q);
    REQUIRE(started_at_stop >= 3);
    if (abandon) {
      CHECK((e.code() == ftq::errc::lease_lost));
      CHECK(std::string(e.what()).find("lease lost: renewal refused (taken by worker-b)") != std::string::npos);
      CHECK(q->state() == ftq::query_state::failed);
      CHECK(log->commits_started == started_at_stop);  // no final checkpoint
      const auto snap = eng.snapshot(ftq::snapshot_parts::queries);
      REQUIRE(snap.queries.size() == 1);
      CHECK(snap.queries[0].error == e.what());
    } else {
      // The contrast: a plain graceful stop does take its final checkpoint.
      CHECK((e.code() == ftq::errc::query_cancelled));
      CHECK(q->state() == ftq::query_state::cancelled);
      CHECK(log->commits_started == started_at_stop + 1);
    }
  }
}

TEST_CASE("abandon of a query without checkpoints ends it with the given code") {
  asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 1000, .yield_interval = std::chrono::microseconds(1)});
  eng.register_table(ftq::test::make_engine_table(60000, 500));
  auto q = eng.prepare(blocking_plans()[0]);
  once_scanned(io, q, 20000, [q] { q->abandon(ftq::errc::query_cancelled, "shutting down: the store is gone"); });
  const ftq::error e = failure_of(io, eng, q);
  CHECK((e.code() == ftq::errc::query_cancelled));
  CHECK(std::string(e.what()) == "shutting down: the store is gone");
  CHECK(q->state() == ftq::query_state::cancelled);
  CHECK(q->progress().rows_scanned < 60000);
}

TEST_CASE("abandon is a no-op on a query that is not running") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 1000});
  eng.register_table(ftq::test::make_engine_table(20000, 500));
  const ftq::plan p = blocking_plans()[0];
  const std::string expected = render(run_coro_on(io, [&](auto) { return eng.execute(p); }));
  auto log = std::make_shared<store_log>();
  ftq::query_options qo;
  qo.checkpoints = {.manager = refusing_manager(io, tmp / "ck", log, 0, refusal::lease_lost), .every_rows = 5000};
  auto q = eng.prepare(p, qo);
  q->abandon(ftq::errc::lease_lost, "before it ran");  // prepared: nothing happens
  const auto result = run_coro_on(io, [&](auto) { return eng.run(q); });
  CHECK(render(result) == expected);
  CHECK(q->state() == ftq::query_state::succeeded);
  CHECK(q->checkpoints().commits >= 3);
  q->abandon(ftq::errc::lease_lost, "after it ended");  // finished: nothing happens either
  CHECK(q->state() == ftq::query_state::succeeded);
  const auto snap = eng.snapshot(ftq::snapshot_parts::queries);
  REQUIRE(snap.queries.size() == 2);  // the fault-free run, then this one (newest first)
  CHECK(snap.queries[0].id == q->id());
  CHECK(snap.queries[0].state == ftq::query_state::succeeded);
  CHECK(snap.queries[0].error.empty());
}
