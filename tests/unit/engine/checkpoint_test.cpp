// Checkpoints taken by running queries: on schedule, consistent across every operator (a query
// stopped midway and restored from its newest checkpoint finishes with the fault-free result),
// incremental, cleaned up on success, and never failing the query when the disk does.

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "checkpoint/manager_impl.hpp"
#include "engine/query_impl.hpp"
#include "support/engine_plans.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace asio = boost::asio;
using ftq::test::run_coro_on;

using ftq::test::blocking_plans;
using ftq::test::files_in;
using ftq::test::render;

}  // namespace

TEST_CASE("a query takes checkpoints on schedule, returns the fault-free result and cleans up") {
  ftq::test::temp_dir tmp;
  for (const ftq::plan& p : blocking_plans()) {
    CAPTURE(p.name);
    asio::io_context io;
    ftq::engine eng(io.get_executor(), {.batch_rows = 1000});
    eng.register_table(ftq::test::make_engine_table(50000, 5000));
    const std::string expected = render(run_coro_on(io, [&](auto) { return eng.execute(p); }));

    auto manager =
        std::make_shared<ftq::checkpoint_manager>(io.get_executor(), ftq::test::checkpoint_options_for(tmp / "ck"));
    ftq::query_options qo;
    qo.checkpoints = {.manager = manager, .every_rows = 5000};
    auto q = eng.prepare(p, qo);
    CHECK(q->checkpoint_id().find(p.name + "-") == 0);
    const auto result = run_coro_on(io, [&](auto) { return eng.run(q); });
    CHECK(render(result) == expected);
    const ftq::checkpoint_stats stats = q->checkpoints();
    CHECK(stats.commits >= 9);
    CHECK(stats.failures == 0);
    CHECK(stats.last_raw_bytes > 0);
    CHECK(files_in(tmp / "ck") == 0);  // deleted on success
  }
}

TEST_CASE("a query stopped midway resumes from its newest checkpoint and finishes exactly") {
  ftq::test::temp_dir tmp;
  for (const ftq::plan& p : blocking_plans()) {
    for (const bool incremental : {false, true}) {
      CAPTURE(p.name);
      CAPTURE(incremental);
      asio::io_context io;
      ftq::engine eng(io.get_executor(), {.batch_rows = 1000, .yield_interval = std::chrono::microseconds(1)});
      eng.register_table(ftq::test::make_engine_table(60000, 5000));
      auto fault_free = eng.prepare(p);
      const std::string expected = render(run_coro_on(io, [&](auto) { return eng.run(fault_free); }));

      auto o = ftq::test::checkpoint_options_for(tmp / (p.name + std::to_string(incremental)));
      o.incremental = incremental;
      auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), o);
      ftq::query_options qo;
      qo.checkpoints = {.manager = manager, .every_rows = 7000};

      // First run: cancelled once it has scanned 2/3 of the table.
      auto first = eng.prepare(p, qo);
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            asio::steady_timer t(io);
            while (first->progress().rows_scanned < 40000) {
              t.expires_after(std::chrono::microseconds(50));
              co_await t.async_wait(asio::use_awaitable);
            }
            first->cancel();
          },
          asio::detached);
      CHECK_THROWS_AS(run_coro_on(io, [&](auto) { return eng.run(first); }), ftq::error);
      REQUIRE(first->checkpoints().commits >= 3);
      CHECK((first->checkpoints().deltas > 0) == incremental);

      // Second run: the same query resumes from the newest checkpoint and continues.
      auto second = eng.prepare(p, qo);
      CHECK(second->checkpoint_id() == first->checkpoint_id());
      auto& qi = second->internals();
      const std::string result = render(run_coro_on(io, [&](auto) { return eng.run(second); }));
      CHECK(second->fault_tolerance().resumed);
      CHECK(second->fault_tolerance().resumed_epoch == first->checkpoints().last_epoch);
      CHECK(result == expected);
      // The restored scan continued where the checkpoint was, not from the start.
      CHECK(qi.progress->rows_scanned.load() < fault_free->progress().rows_scanned);
    }
  }
}

namespace {

/// Fails every fsync with ENOSPC, as a full disk would.
struct full_disk : ftq::io::fault_injector {
  int before(ftq::io::op_kind op, const std::filesystem::path&) override {
    return op == ftq::io::op_kind::fsync ? ENOSPC : 0;
  }
  void after(ftq::io::op_kind, const std::filesystem::path&, int) override {}
};

}  // namespace

TEST_CASE("a disk that refuses every checkpoint does not fail the query") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 1000});
  eng.register_table(ftq::test::make_engine_table(30000, 100));
  const ftq::plan p = blocking_plans()[0];
  const std::string expected = render(run_coro_on(io, [&](auto) { return eng.execute(p); }));
  std::vector<std::string> log;
  auto o = ftq::test::checkpoint_options_for(tmp / "ck");
  // Local whatever FTQ_TEST_RADOS says: the test swaps in a local store that refuses writes.
  o.store.clear();
  o.rados.reset();
  o.dir = tmp / "ck";
  o.log = [&](std::string_view line) { log.emplace_back(line); };
  auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), o);
  manager->internals().store =
      ftq::io::make_file_store(io.get_executor(), ftq::io::backend_choice::threads, std::make_shared<full_disk>());
  ftq::query_options qo;
  qo.checkpoints = {.manager = manager, .every_rows = 5000};
  auto q = eng.prepare(p, qo);
  const auto result = run_coro_on(io, [&](auto) { return eng.run(q); });
  CHECK(render(result) == expected);
  const ftq::checkpoint_stats stats = q->checkpoints();
  CHECK(stats.commits == 0);
  CHECK(stats.failures >= 5);
  CHECK(stats.last_error.find("No space left on device") != std::string::npos);
  bool logged = false;
  for (const auto& line : log) {
    logged = logged || line.find("commit failed") != std::string::npos;
  }
  CHECK(logged);
}

TEST_CASE("a time schedule takes checkpoints without a row count") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 1000});
  eng.register_table(ftq::test::make_engine_table(300000, 1000));
  auto o = ftq::test::checkpoint_options_for(tmp / "ck");
  o.retain_on_success = true;
  auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), o);
  ftq::query_options qo;
  qo.checkpoints = {.manager = manager, .interval = std::chrono::milliseconds(1)};
  auto q = eng.prepare(blocking_plans()[0], qo);
  (void)run_coro_on(io, [&](auto) { return eng.run(q); });
  CHECK(q->checkpoints().commits >= 1);
  CHECK(files_in(tmp / "ck" / q->checkpoint_id()) >= 1);  // retained: the last `keep`
  CHECK(files_in(tmp / "ck" / q->checkpoint_id()) <= 2 * o.max_deltas);
}
