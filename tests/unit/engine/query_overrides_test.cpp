// Per-query overrides of engine-wide options (query_options::batch_rows, ::faults): queries with
// different batch sizes share one engine and give the same result in their own batch sizes; a
// query's own fault plan fires in it alone (operators, recovery and checkpoint commits) while
// a concurrent query on the same engine sees none; the engine's plan still applies to queries
// that bring none.

#include <ftq/engine.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "inject/checkpoint_fault_router.hpp"
#include "inject/fault_plan.hpp"
#include "support/engine_plans.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ftq::test::render;

constexpr std::size_t table_rows = 60000;

/// Fast, deterministic retries; every batch a turn, so concurrent queries interleave; the
/// engine-wide faults of `spec`.
ftq::engine_options options_with(const std::string& spec) {
  ftq::engine_options o;
  o.fault_tolerance.recovery.retry.base = 1ms;
  o.fault_tolerance.recovery.retry.cap = 5ms;
  o.fault_tolerance.stall_detection = false;
  o.yield_interval = 1us;
  o.interactive_yield_interval = 1us;
  if (!spec.empty()) {
    o.fault_tolerance.faults = std::make_shared<ftq::inject::fault_plan>(ftq::inject::fault_plan::parse(spec));
  }
  return o;
}

std::shared_ptr<ftq::inject::fault_plan> plan_of(const std::string& spec) {
  return std::make_shared<ftq::inject::fault_plan>(ftq::inject::fault_plan::parse(spec));
}

ftq::plan named(ftq::plan p, std::string name) {
  p.name = std::move(name);
  return p;
}

/// A plan whose root emits ctx.batch_rows() rows per batch: every row of table "t", sorted.
ftq::plan sorted_rows(std::string name) {
  return ftq::plan_builder::table_scan("t")
      .sort({ftq::asc(ftq::col("k")), ftq::asc(ftq::col("v"))})
      .build(std::move(name));
}

std::string fault_free(const ftq::plan& p) {
  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  return render(ftq::test::run_coro_on(io, [&](auto) { return eng.execute(p); }));
}

struct together {
  ftq::query_result a;
  ftq::query_result b;
  std::size_t most_running = 0;  // the most queries eng.running() listed at once
};

/// Runs `a` and `b` at once on `eng` (driven by `io`); rethrows the first failure.
together run_together(asio::io_context& io, ftq::engine& eng, ftq::query_ptr a, ftq::query_ptr b) {
  return ftq::test::run_coro_on(io, [&](auto ex) -> asio::awaitable<together> {
    together out;
    std::optional<ftq::query_result> result_a;
    std::exception_ptr failure_a;
    bool a_done = false;
    asio::co_spawn(ex, eng.run(a), [&](std::exception_ptr e, ftq::query_result r) {
      failure_a = e;
      result_a = std::move(r);
      a_done = true;
    });
    bool b_done = false;
    bool probe_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer t(ex);
          while (!a_done || !b_done) {
            out.most_running = std::max(out.most_running, eng.running().size());
            t.expires_after(50us);
            co_await t.async_wait(asio::use_awaitable);
          }
        },
        [&](std::exception_ptr) { probe_done = true; });
    std::exception_ptr failure_b;
    try {
      out.b = co_await eng.run(b);
    } catch (...) {
      failure_b = std::current_exception();
    }
    b_done = true;
    asio::steady_timer t(ex);
    while (!a_done || !probe_done) {  // both refer to this frame: it must outlive them
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (failure_a) {
      std::rethrow_exception(failure_a);
    }
    if (failure_b) {
      std::rethrow_exception(failure_b);
    }
    out.a = std::move(*result_a);
    co_return out;
  });
}

std::vector<std::size_t> batch_sizes(const ftq::query_result& r) {
  std::vector<std::size_t> sizes;
  for (const ftq::batch& b : r.batches) {
    sizes.push_back(b.live_rows());
  }
  return sizes;
}

/// Sizes of `rows` rows cut in batches of `per` (the last one shorter).
std::vector<std::size_t> cut(std::size_t rows, std::size_t per) {
  std::vector<std::size_t> sizes(rows / per, per);
  if (rows % per != 0) {
    sizes.push_back(rows % per);
  }
  return sizes;
}

}  // namespace

TEST_CASE("two queries with different batch sizes on one engine give the same rows in their own batch sizes") {
  const std::string expected = fault_free(sorted_rows("reference"));
  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  ftq::query_options small;
  small.batch_rows = 1000;
  ftq::query_ptr a = eng.prepare(sorted_rows("small"), small);
  ftq::query_ptr b = eng.prepare(sorted_rows("default"));
  const together r = run_together(io, eng, a, b);

  CHECK(r.most_running == 2);  // they ran at once, on the one engine
  CHECK(render(r.a) == expected);
  CHECK(render(r.b) == expected);
  CHECK(batch_sizes(r.a) == cut(table_rows, 1000));
  CHECK(batch_sizes(r.b) == cut(table_rows, ftq::default_batch_rows));
  CHECK(eng.options().batch_rows == ftq::default_batch_rows);  // the engine's own is untouched
}

TEST_CASE("a query's own injected transient throw is recovered in it while a concurrent query sees no fault") {
  for (const ftq::plan& base : ftq::test::blocking_plans()) {
    CAPTURE(base.name);
    const std::string expected = fault_free(base);
    asio::io_context io;
    ftq::engine eng(io.get_executor(), options_with(""));
    eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
    // No query= in the rule: were the plan shared, it would fire in whichever query came first.
    const auto faults =
        plan_of("throw:op=table_scan,batch=3,class=transient;throw:op=table_scan,batch=7,class=transient");
    ftq::query_options faulty;
    faulty.faults = faults;
    ftq::query_ptr a = eng.prepare(named(base, "faulty"), faulty);
    ftq::query_ptr b = eng.prepare(named(base, "clean"));
    const together r = run_together(io, eng, a, b);

    CHECK(r.most_running == 2);
    CHECK(render(r.a) == expected);
    CHECK(render(r.b) == expected);
    CHECK(a->fault_tolerance().failures == 2);
    CHECK(a->fault_tolerance().retries == 2);
    CHECK(a->context().faults() == faults.get());
    CHECK(b->fault_tolerance().failures == 0);
    CHECK(b->failures().empty());
    CHECK(b->context().faults() == nullptr);
    CHECK(faults->injected().throws == 2);
    CHECK(faults->injected("clean").throws == 0);
  }
}

TEST_CASE("the engine's fault plan still applies to a query that brings none, and not to one that brings its own") {
  const ftq::plan base = ftq::test::blocking_plans()[0];
  const std::string expected = fault_free(base);
  asio::io_context io;
  ftq::engine_options o = options_with("throw:op=table_scan,batch=4,class=transient,times=2");
  const std::shared_ptr<ftq::inject::fault_plan> engine_faults = o.fault_tolerance.faults;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  const auto own = plan_of("throw:op=table_scan,batch=9,class=transient");
  ftq::query_options own_options;
  own_options.faults = own;
  ftq::query_ptr a = eng.prepare(named(base, "engine-plan"));
  ftq::query_ptr b = eng.prepare(named(base, "own-plan"), own_options);
  const together r = run_together(io, eng, a, b);

  CHECK(render(r.a) == expected);
  CHECK(render(r.b) == expected);
  // The engine's rule may fire twice: both times in the query without a plan of its own.
  CHECK(engine_faults->injected("engine-plan").throws == 2);
  CHECK(engine_faults->injected("own-plan").throws == 0);
  CHECK(a->fault_tolerance().failures == 2);
  CHECK(own->injected("own-plan").throws == 1);
  CHECK(own->injected("engine-plan").throws == 0);
  CHECK(b->fault_tolerance().failures == 1);
  REQUIRE(b->failures().size() == 1);
  CHECK(b->failures()[0].message.find("batch=9") != std::string::npos);
}

TEST_CASE("a query's own checkpoint rules fail its commits alone through a routing checkpoint manager") {
  ftq::test::temp_dir tmp;
  const ftq::plan base = ftq::test::blocking_plans()[0];
  const std::string expected = fault_free(base);
  asio::io_context io;
  // The fallback stands for the engine-wide plan's checkpoint rules: it fails every commit of
  // a query without routes, and none of a query that brings its own plan.
  const auto engine_faults = plan_of("checkpoint:n=1,errno=EIO,times=1000");
  const auto router = std::make_shared<ftq::inject::checkpoint_fault_router>(engine_faults->checkpoint_faults());
  ftq::checkpoint_options co = ftq::test::checkpoint_options_for(tmp / "ck");
  co.faults = router;
  const auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), co);
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));

  const auto own = plan_of("checkpoint:n=2,errno=ENOSPC");
  ftq::query_options failing_second;
  failing_second.checkpoints = {.manager = manager, .every_rows = 5000};
  failing_second.faults = own;
  ftq::query_options no_rules;  // a plan of its own without checkpoint rules: no commit fails
  no_rules.checkpoints = {.manager = manager, .every_rows = 5000};
  no_rules.faults = plan_of("throw:op=table_scan,batch=1000");
  ftq::query_ptr a = eng.prepare(named(base, "second-fails"), failing_second);
  ftq::query_ptr b = eng.prepare(named(base, "none-fail"), no_rules);
  const together r = run_together(io, eng, a, b);

  CHECK(render(r.a) == expected);
  CHECK(render(r.b) == expected);
  CHECK(a->checkpoints().failures == 1);
  CHECK(a->checkpoints().commits >= 5);
  CHECK(b->checkpoints().failures == 0);
  CHECK(b->checkpoints().commits >= 5);
  CHECK(own->injected().checkpoint_failures == 1);
  CHECK(engine_faults->injected().checkpoint_failures == 0);
  CHECK(router->routes() == 0);  // each route ended with its query

  // A query without a plan of its own meets the fallback: its every commit fails.
  ftq::query_options plain;
  plain.checkpoints = {.manager = manager, .every_rows = 5000};
  ftq::query_ptr c = eng.prepare(named(base, "fallback"), plain);
  CHECK(render(ftq::test::run_coro_on(io, [&](auto) { return eng.run(c); })) == expected);
  CHECK(c->checkpoints().commits == 0);
  CHECK(c->checkpoints().failures >= 5);
}

TEST_CASE("prepare refuses a query's checkpoint rules that its checkpoint manager cannot route") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::checkpoint_options co = ftq::test::checkpoint_options_for(tmp / "ck");
  co.faults = plan_of("checkpoint:n=1,errno=EIO")->checkpoint_faults();  // not a router
  const auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), co);
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(100, 5));
  ftq::query_options qo;
  qo.checkpoints = {.manager = manager};
  qo.faults = plan_of("checkpoint:n=2,errno=EIO");
  try {
    (void)eng.prepare(ftq::test::blocking_plans()[0], qo);
    FAIL("prepare accepted checkpoint rules it cannot apply to this query alone");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::setting_invalid));
    CHECK(std::string(e.what()).find("checkpoint_fault_router") != std::string::npos);
  }
  // Operator rules need no routing.
  qo.faults = plan_of("throw:op=table_scan,batch=2,class=transient");
  CHECK(eng.prepare(ftq::test::blocking_plans()[0], qo) != nullptr);
}

TEST_CASE("the checkpoint fault router sends a step to the deepest routed directory holding it") {
  const auto fallback = plan_of("checkpoint:n=1,errno=EIO,step=open,times=1000")->checkpoint_faults();
  const auto mine = plan_of("checkpoint:n=1,errno=ENOSPC,step=open,times=1000")->checkpoint_faults();
  ftq::inject::checkpoint_fault_router router(fallback);
  router.route("ck/q1", mine);
  router.route("ck/q2", nullptr);
  CHECK(router.before(ftq::io::op_kind::open, "ck/q1/0000000000000001.ckpt.tmp-a") == ENOSPC);
  CHECK(router.before(ftq::io::op_kind::open, "ck/q2/0000000000000001.ckpt.tmp-b") == 0);
  CHECK(router.before(ftq::io::op_kind::open, "ck/q10/0000000000000001.ckpt.tmp-c") == EIO);  // not under ck/q1
  router.unroute("ck/q1");
  CHECK(router.before(ftq::io::op_kind::open, "ck/q1/0000000000000002.ckpt.tmp-d") == EIO);
  CHECK(router.routes() == 1);
}
