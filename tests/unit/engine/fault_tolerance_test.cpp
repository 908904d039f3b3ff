// Fault tolerance of running queries: injected failures at any operator, under any recovery
// action, with and without checkpoints, give exactly the fault-free result; retries stop when
// attempts or budget run out; bad input and cancellation are never retried; a backoff holds
// neither the thread nor other queries; handlers are time-limited and contained; the breaker
// admits probes; stalls are detected; partial recovery keeps finished pipelines; a graceful stop
// resumes; the failure history survives a restart; recoveries and time slices go by priority.

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/fault_tolerant_context.hpp>

#include <doctest/doctest.h>

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "engine/query_impl.hpp"
#include "engine/recovery_gate.hpp"
#include "inject/fault_plan.hpp"
#include "io/file_store.hpp"
#include "support/engine_plans.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ftq::test::render;
using ftq::test::run_coro_on;

constexpr std::size_t table_rows = 60000;

/// Engine options for fast, deterministic tests: short backoff, no stall watchdog (tests of it
/// turn it on), and the faults of `spec`.
ftq::engine_options options_with(const std::string& spec) {
  ftq::engine_options o;
  o.batch_rows = 1000;
  o.fault_tolerance.recovery.retry.base = 1ms;
  o.fault_tolerance.recovery.retry.cap = 5ms;
  o.fault_tolerance.stall_detection = false;
  if (!spec.empty()) {
    o.fault_tolerance.faults = std::make_shared<ftq::inject::fault_plan>(ftq::inject::fault_plan::parse(spec));
  }
  return o;
}

std::string fault_free(const ftq::plan& p, std::size_t rows = table_rows) {
  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(rows, 5000));
  return render(run_coro_on(io, [&](auto) { return eng.execute(p); }));
}

/// The operator ids of `q`'s tree named `name`, in the order explain() lists them.
std::vector<std::size_t> ops_named(const ftq::query& q, std::string_view name) {
  std::vector<std::size_t> out;
  std::vector<const ftq::exec::physical_operator*> stack{const_cast<ftq::query&>(q).internals().root.get()};
  while (!stack.empty()) {
    const auto* op = stack.back();
    stack.pop_back();
    if (op->name() == name) {
      out.push_back(op->id());
    }
    for (auto it = op->children().rbegin(); it != op->children().rend(); ++it) {
      stack.push_back(it->get());
    }
  }
  return out;
}

struct outcome {
  // Declared first, destroyed last: the query's checkpoint manager works on its executor.
  std::shared_ptr<asio::io_context> io = std::make_shared<asio::io_context>();
  std::string rendered;
  ftq::fault_tolerance_stats stats;
  ftq::query_ptr q;
};

/// Query options made for the io_context the query will run on (a checkpoint manager must use
/// that io_context's executor).
using options_maker = std::function<ftq::query_options(asio::io_context&)>;

/// A maker of options that checkpoint every `every_rows` rows into `dir`.
options_maker checkpointing(std::filesystem::path dir, std::uint64_t every_rows) {
  return [dir, every_rows](asio::io_context& io) {
    ftq::query_options qo;
    qo.checkpoints = {
        .manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), ftq::test::checkpoint_options_for(dir)),
        .every_rows = every_rows};
    return qo;
  };
}

outcome run_with(const ftq::plan& p, ftq::engine_options o, const options_maker& make_options = {},
                 std::size_t rows = table_rows) {
  outcome out;
  asio::io_context& io = *out.io;
  ftq::engine eng(io.get_executor(), std::move(o));
  eng.register_table(ftq::test::make_engine_table(rows, 5000));
  auto q = eng.prepare(p, make_options ? make_options(io) : ftq::query_options{});
  out.rendered = render(run_coro_on(io, [&](auto) { return eng.run(q); }));
  out.stats = q->fault_tolerance();
  out.q = q;
  return out;
}

std::vector<ftq::plan> all_plans() {
  std::vector<ftq::plan> plans = ftq::test::blocking_plans();
  plans.push_back(ftq::test::streaming_plan());
  return plans;
}

}  // namespace

TEST_CASE("a failure at any operator, recovered by restoring it, gives the fault-free result") {
  ftq::test::temp_dir tmp;
  for (const ftq::plan& p : all_plans()) {
    const std::string expected = fault_free(p);
    std::size_t operators = 0;
    {
      asio::io_context io;
      ftq::engine eng(io.get_executor(), options_with(""));
      eng.register_table(ftq::test::make_engine_table(10, 5));
      operators = eng.prepare(p)->internals().context->operator_count();
    }
    std::uint64_t failures = 0;
    for (std::size_t op = 0; op < operators; ++op) {
      for (const bool checkpoints : {false, true}) {
        CAPTURE(p.name);
        CAPTURE(op);
        CAPTURE(checkpoints);
        const outcome r =
            run_with(p, options_with("throw:op=#" + std::to_string(op) + ",batch=3"),
                     checkpoints ? checkpointing(tmp / (p.name + std::to_string(op)), 4000) : options_maker{});
        CHECK(r.rendered == expected);
        CHECK(r.stats.failures <= 1);
        CHECK(r.stats.operator_restores == r.stats.failures);
        failures += r.stats.failures;
      }
    }
    CHECK(failures >= 2);  // at least the scan and the operator above it reach a third batch
  }
}

TEST_CASE("random failures under several seeds, with every rollback action, give the fault-free result") {
  ftq::test::temp_dir tmp;
  for (const ftq::plan& p : all_plans()) {
    const std::string expected = fault_free(p);
    for (const char* action : {"restore_operator", "restart_pipeline"}) {
      for (int seed = 1; seed <= 4; ++seed) {
        CAPTURE(p.name);
        CAPTURE(action);
        CAPTURE(seed);
        ftq::engine_options o = options_with("seed=" + std::to_string(seed) + ";throw:p=0.05,max=6");
        o.fault_tolerance.recovery =
            ftq::recovery_policy::parse(std::string("operator_fault=") + action + ",base=1ms,cap=5ms,attempts=8");
        const outcome r = run_with(p, o, seed % 2 == 0 ? checkpointing(tmp / "ck", 3000) : options_maker{});
        CHECK(r.rendered == expected);
        CHECK(r.stats.failures >= 1);
        if (std::string_view(action) == "restart_pipeline") {
          CHECK(r.stats.pipeline_restarts == r.stats.failures);
        }
      }
    }
  }
}

TEST_CASE("a transient failure is retried in place, rolling nothing back") {
  const ftq::plan p = ftq::test::blocking_plans()[0];
  const outcome r = run_with(p, options_with("throw:op=table_scan,batch=5,class=transient"));
  CHECK(r.rendered == fault_free(p));
  CHECK(r.stats.failures == 1);
  CHECK(r.stats.retries == 1);
  CHECK(r.stats.states_restored == 0);
  const auto history = r.q->failures();
  REQUIRE(history.size() == 1);
  CHECK(history[0].cls == ftq::error_class::transient);
  CHECK(history[0].recovery == "retry");
  CHECK(history[0].outcome == "recovered");
}

TEST_CASE("a failure while a join probes keeps its hash table: the build side is not read again") {
  ftq::test::temp_dir tmp;
  const ftq::plan p = ftq::test::blocking_plans()[2];  // joined
  const std::string expected = fault_free(p);
  for (const bool checkpoints : {false, true}) {
    CAPTURE(checkpoints);
    const outcome r = run_with(p, options_with("throw:op=hash_join,batch=20"),
                               checkpoints ? checkpointing(tmp / "ck", 5000) : options_maker{});
    CHECK(r.rendered == expected);
    REQUIRE(r.stats.failures == 1);
    auto& qi = r.q->internals();
    const std::size_t join = ops_named(*r.q, "hash_join").at(0);
    // The build side: the join's child 1 and everything under it.
    std::vector<const ftq::exec::physical_operator*> build_side;
    std::vector<const ftq::exec::physical_operator*> stack;
    std::function<const ftq::exec::physical_operator*(const ftq::exec::physical_operator*)> find =
        [&](const ftq::exec::physical_operator* op) -> const ftq::exec::physical_operator* {
      if (op->id() == join) {
        return op;
      }
      for (const auto& c : op->children()) {
        if (const auto* f = find(c.get())) {
          return f;
        }
      }
      return nullptr;
    };
    const auto* join_op = find(qi.root.get());
    REQUIRE(join_op != nullptr);
    stack.push_back(join_op->children()[1].get());
    while (!stack.empty()) {
      build_side.push_back(stack.back());
      stack.pop_back();
      for (const auto& c : build_side.back()->children()) {
        stack.push_back(c.get());
      }
    }
    for (const auto* op : build_side) {
      if (op->name() == "table_scan") {
        CHECK(qi.context->stats(op->id()).rows_produced == table_rows);  // read once, never again
      }
    }
    // The probe side was rolled back and read again from the checkpoint (or the start).
    const auto* probe_scan = join_op->children()[0].get();
    CHECK(qi.context->stats(probe_scan->id()).rows_produced > table_rows);
    CHECK(r.stats.rows_replayed > 0);
  }
}

namespace {

/// Fails every read of a checkpoint file with EIO, as a damaged disk would.
struct unreadable_disk : ftq::io::fault_injector {
  // Checkpoint files only: a RADOS commit reads its manifest, which must keep working.
  int before(ftq::io::op_kind op, const std::filesystem::path& path) override {
    return op == ftq::io::op_kind::read && path.string().find(".ckpt") != std::string::npos ? EIO : 0;
  }
  void after(ftq::io::op_kind, const std::filesystem::path&, int) override {}
};

}  // namespace

TEST_CASE("a rollback whose checkpoint cannot be read back rolls back to the start instead") {
  ftq::test::temp_dir tmp;
  const ftq::plan p = ftq::test::blocking_plans()[0];
  const outcome r = run_with(p, options_with("throw:op=table_scan,batch=30"), [&](asio::io_context& io) {
    auto o = ftq::test::checkpoint_options_for(tmp / "ck");
    o.faults = std::make_shared<unreadable_disk>();
    ftq::query_options qo;
    qo.checkpoints = {.manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), o), .every_rows = 5000};
    return qo;
  });
  CHECK(r.rendered == fault_free(p));
  CHECK(r.q->checkpoints().commits >= 2);  // there was a checkpoint to go back to, but it could not be read
  bool from_start = false;
  for (const auto& f : r.q->failures()) {
    from_start |= f.recovery == "restart_from_start" && f.message.find("unreadable") != std::string::npos;
  }
  CHECK(from_start);
  // The scan read its first 30 batches twice.
  CHECK(r.q->internals().context->stats(ops_named(*r.q, "table_scan").at(0)).rows_produced >= table_rows + 29000);
}

TEST_CASE("restart_pipeline rolls back up to the operator that consumes the pipeline whole") {
  const ftq::plan p = ftq::test::blocking_plans()[0];  // scan -> aggregate -> sort
  ftq::engine_options o = options_with("throw:op=table_scan,batch=10");
  o.fault_tolerance.recovery = ftq::recovery_policy::parse("operator_fault=restart_pipeline,base=1ms,cap=2ms");
  const outcome r = run_with(p, o);
  CHECK(r.rendered == fault_free(p));
  CHECK(r.stats.pipeline_restarts == 1);
  CHECK(r.stats.states_restored == 2);  // the scan and the aggregate; the sort above is untouched
  CHECK(r.stats.rows_replayed == 0);    // the aggregate had delivered nothing
}

TEST_CASE("retries stop when the attempts run out, or the budget does") {
  const ftq::plan p = ftq::test::blocking_plans()[0];
  SUBCASE("attempts") {
    ftq::engine_options o = options_with("throw:op=table_scan,batch=3,times=10,class=transient");
    o.fault_tolerance.recovery.retry.max_attempts = 3;
    try {
      (void)run_with(p, o);
      FAIL("the query should have failed");
    } catch (const ftq::operator_error& e) {
      CHECK((e.code() == ftq::errc::retries_exhausted));
      CHECK(e.operator_name() == "table_scan");
      CHECK(std::string(e.what()).find("injected fault") != std::string::npos);
    }
  }
  SUBCASE("query budget") {
    ftq::engine_options o = options_with("throw:op=table_scan,batch=3,times=10,class=transient");
    o.fault_tolerance.recovery.retry.max_attempts = 100;
    o.fault_tolerance.query_budget_tokens = 4;  // retries while more than 2 tokens remain
    try {
      (void)run_with(p, o);
      FAIL("the query should have failed");
    } catch (const ftq::operator_error& e) {
      CHECK((e.code() == ftq::errc::retry_budget_exhausted));
    }
  }
}

TEST_CASE("bad input is never retried: the original error ends the query") {
  const ftq::plan p = ftq::plan_builder::table_scan("t")
                          .project({ftq::named_expr{ftq::col("k") * ftq::lit(std::int64_t{INT64_MAX}), "big"}})
                          .build("overflowing");
  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  auto q = eng.prepare(p);
  CHECK_THROWS_AS(run_coro_on(io, [&](auto) { return eng.run(q); }), std::overflow_error);
  const auto s = q->fault_tolerance();
  CHECK(s.failures == 1);
  CHECK(s.retries == 0);
  CHECK(s.states_restored == 0);
  REQUIRE(q->failures().size() == 1);
  CHECK(q->failures()[0].cls == ftq::error_class::bad_input);
  CHECK(q->failures()[0].outcome == "failed");
}

TEST_CASE("a cancellation during a backoff ends the wait at once") {
  ftq::engine_options o = options_with("throw:op=table_scan,batch=3,class=transient");
  o.fault_tolerance.recovery = ftq::recovery_policy::parse("transient=retry,backoff=fixed,base=10s,cap=10s");
  asio::io_context io;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  auto q = eng.prepare(ftq::test::blocking_plans()[0]);
  asio::steady_timer cancel_later(io);
  cancel_later.expires_after(100ms);
  cancel_later.async_wait([q](boost::system::error_code) { q->cancel(); });
  const auto started = std::chrono::steady_clock::now();
  try {
    (void)run_coro_on(io, [&](auto) { return eng.run(q); });
    FAIL("the query should have been cancelled");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::query_cancelled));
  }
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(q->state() == ftq::query_state::cancelled);
}

TEST_CASE("another query runs on the same thread while one backs off") {
  ftq::engine_options o = options_with("throw:op=table_scan,batch=2,class=transient,query=waiting");
  o.fault_tolerance.recovery = ftq::recovery_policy::parse("transient=retry,backoff=fixed,base=400ms,cap=400ms");
  asio::io_context io;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  ftq::plan waiting = ftq::test::blocking_plans()[0];
  waiting.name = "waiting";
  ftq::plan busy = ftq::test::blocking_plans()[0];
  busy.name = "busy";
  auto qw = eng.prepare(waiting);
  auto qb = eng.prepare(busy);
  const auto started = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration waiting_done{};
  std::chrono::steady_clock::duration busy_done{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        (void)co_await eng.run(qw);
        waiting_done = std::chrono::steady_clock::now() - started;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        (void)co_await eng.run(qb);
        busy_done = std::chrono::steady_clock::now() - started;
      },
      asio::detached);
  io.run();
  CHECK(qw->state() == ftq::query_state::succeeded);
  CHECK(qb->state() == ftq::query_state::succeeded);
  CHECK(qw->fault_tolerance().retries == 1);
  CHECK(waiting_done >= 400ms);
  CHECK(busy_done < waiting_done);  // finished while the other one waited
  CHECK(busy_done < 400ms);
}

TEST_CASE("named handlers run under a time limit; their failures are contained and recorded") {
  const ftq::plan p = ftq::test::blocking_plans()[0];
  ftq::engine_options o = options_with("throw:op=table_scan,batch=3,class=transient;throw:op=table_scan,batch=6");
  int slow_started = 0;
  o.fault_tolerance.handlers->add(
      "slow",
      [&slow_started](ftq::failure_event e) -> asio::awaitable<void> {
        ++slow_started;
        CHECK(e.operator_name == "table_scan");
        asio::steady_timer t(co_await asio::this_coro::executor);
        t.expires_after(1s);
        co_await t.async_wait(asio::use_awaitable);
      },
      50ms);
  o.fault_tolerance.handlers->add("throwing", [](ftq::failure_event) -> asio::awaitable<void> {
    throw std::runtime_error("the handler's own bug");
    co_return;
  });
  o.fault_tolerance.recovery =
      ftq::recovery_policy::parse("transient=retry:slow,operator_fault=restore_operator:throwing,base=1ms,cap=2ms");
  asio::io_context io;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  auto q = eng.prepare(p);
  std::chrono::steady_clock::duration took{};
  const std::string got = render(run_coro_on(io, [&](auto) -> asio::awaitable<ftq::query_result> {
    const auto started = std::chrono::steady_clock::now();
    ftq::query_result r = co_await eng.run(q);
    took = std::chrono::steady_clock::now() - started;
    co_return r;
  }));
  CHECK(got == fault_free(p));
  CHECK(slow_started == 1);
  const auto s = q->fault_tolerance();
  CHECK(s.handler_runs == 2);
  CHECK(s.handler_failures == 2);
  bool overran = false;
  bool threw = false;
  for (const auto& r : q->failures()) {
    overran |=
        r.recovery == "handler:slow" && r.outcome == "contained" && r.message.find("time limit") != std::string::npos;
    threw |= r.recovery == "handler:throwing" && r.message.find("the handler's own bug") != std::string::npos;
  }
  CHECK(overran);
  CHECK(threw);
  // The query waited for the slow handler's limit, not for the handler (it ran on, abandoned,
  // until its own timer fired after the query had finished).
  CHECK(took < 900ms);
}

TEST_CASE("recovery policies are checked when the query is built") {
  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(100, 5));
  const ftq::plan p = ftq::test::blocking_plans()[0];
  auto expect_invalid = [&](const std::string& spec, std::string_view says) {
    CAPTURE(spec);
    ftq::query_options qo;
    try {
      qo.recovery = ftq::recovery_policy::parse(spec);
      (void)eng.prepare(p, qo);
      FAIL("accepted");
    } catch (const ftq::error& e) {
      CHECK((e.code() == ftq::errc::recovery_policy_invalid));
      CHECK(std::string(e.what()).find(says) != std::string::npos);
    }
  };
  expect_invalid("transient=retry:nobody", "no recovery handler named 'nobody'");
  expect_invalid("operator_fault=retry", "retry in place needs");
  expect_invalid("bad_input=restore_operator", "can only fail the query");
  expect_invalid("cancelled=retry", "can only fail the query");
  expect_invalid("transient=retry,transient=fail", "already has rule");
  expect_invalid("transient=reboot", "unknown action 'reboot'");
  expect_invalid("flaky=retry", "neither an error class");
  expect_invalid("base=1m,cap=1s", "base");
  const ftq::recovery_policy round = ftq::recovery_policy::parse(
      "transient=retry,stall=restart_pipeline,backoff=decorrelated,attempts=7,base=20ms,cap=3s");
  CHECK(ftq::recovery_policy::parse(round.describe()).describe() == round.describe());
  CHECK(round.rule_for(ftq::error_class::stall).action == ftq::recovery_action::restart_pipeline);
  CHECK(round.rule_for(ftq::error_class::resource).action == ftq::recovery_action::restore_operator);
}

TEST_CASE("a plan names registered handlers in its recovery policy, never code") {
  ftq::engine_options o = options_with("throw:op=table_scan,batch=4,class=transient");
  int refreshed = 0;
  o.fault_tolerance.handlers->add("refresh_token", [&refreshed](ftq::failure_event) -> asio::awaitable<void> {
    ++refreshed;
    co_return;
  });
  ftq::plan p = ftq::test::blocking_plans()[0];
  p.recovery = "transient=retry:refresh_token,base=1ms,cap=2ms";
  const ftq::plan parsed = ftq::parse_plan(ftq::to_json(p));
  const outcome r = run_with(parsed, o);
  CHECK(r.rendered == fault_free(ftq::test::blocking_plans()[0]));
  CHECK(refreshed == 1);
  CHECK(r.stats.retries == 1);

  asio::io_context io;
  ftq::engine eng(io.get_executor(), options_with(""));
  eng.register_table(ftq::test::make_engine_table(100, 5));
  p.recovery = "transient=retry:rm_rf";
  try {
    (void)eng.prepare(p);
    FAIL("accepted a handler nobody registered");
  } catch (const ftq::plan_error& e) {
    CHECK(e.path() == "recovery");
    CHECK(std::string(e.what()).find("no recovery handler named 'rm_rf'") != std::string::npos);
  }
}

TEST_CASE("an operator failing repeatedly opens its breaker; probes after the recovery timeout close it") {
  auto time = std::make_shared<ftq::manual_clock>();
  ftq::engine_options o = options_with("throw:op=table_scan,batch=3,times=3");
  o.fault_tolerance.time = time;
  o.fault_tolerance.detector.failure_threshold = 2;
  o.fault_tolerance.detector.recovery_timeout = 200ms;
  const ftq::plan p = ftq::test::blocking_plans()[0];
  const outcome r = run_with(p, o);
  CHECK(r.rendered == fault_free(p));
  CHECK(r.stats.failures == 3);
  // Failure 2 opened the breaker and failure 3 (the probe) reopened it: each time the retry
  // waited out the recovery timeout.
  std::size_t timeouts = 0;
  for (auto d : time->sleeps()) {
    timeouts += d >= 190ms ? 1 : 0;
  }
  CHECK(timeouts == 2);
  const std::size_t scan = ops_named(*r.q, "table_scan").at(0);
  auto& detector = const_cast<ftq::fault_tolerant_context&>(r.q->context()).detector();
  CHECK(detector.state({r.q->context().query_id(), static_cast<std::uint32_t>(scan)}) == ftq::breaker_state::closed);
}

TEST_CASE("a stalled operator is detected by its silence and recovered") {
  ftq::engine_options o = options_with("stall:op=table_scan,batch=30,for=60s");
  o.fault_tolerance.stall_detection = true;
  o.fault_tolerance.stall_check_interval = 10ms;
  o.fault_tolerance.detector.phi.min_std_deviation = 20ms;
  o.fault_tolerance.detector.phi.acceptable_pause = 100ms;
  const ftq::plan p = ftq::test::blocking_plans()[0];
  const auto started = std::chrono::steady_clock::now();
  const outcome r = run_with(p, o);
  CHECK(r.rendered == fault_free(p));
  CHECK(std::chrono::steady_clock::now() - started < 20s);
  CHECK(r.stats.stalls == 1);
  CHECK(r.stats.operator_restores == 1);
  REQUIRE(r.q->failures().size() == 1);
  CHECK(r.q->failures()[0].cls == ftq::error_class::stall);
}

TEST_CASE("a backoff is deliberate silence: the stall detector does not take it for a stall") {
  ftq::engine_options o = options_with("throw:op=table_scan,batch=30,class=transient");
  o.fault_tolerance.stall_detection = true;
  o.fault_tolerance.stall_check_interval = 10ms;
  o.fault_tolerance.detector.phi.min_std_deviation = 20ms;
  o.fault_tolerance.detector.phi.acceptable_pause = 100ms;
  o.fault_tolerance.recovery = ftq::recovery_policy::parse("transient=retry,backoff=fixed,base=600ms,cap=600ms");
  const ftq::plan p = ftq::test::blocking_plans()[0];
  const outcome r = run_with(p, o);
  CHECK(r.rendered == fault_free(p));
  CHECK(r.stats.stalls == 0);
  CHECK(r.stats.retries == 1);
  CHECK(r.stats.backoff_time >= 550ms);  // waited the whole backoff: no interrupt cut it short
}

TEST_CASE("rows replayed after a rollback count as progress for the retry sequence") {
  // Failures keep coming while the scan replays from the start (no checkpoints): each replayed
  // batch is progress, so two attempts between batches are enough however many failures there are.
  const ftq::plan p = ftq::test::blocking_plans()[0];
  std::uint64_t failures = 0;
  for (int seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    ftq::engine_options o = options_with("seed=" + std::to_string(seed) + ";throw:op=table_scan,p=0.05,max=12");
    o.fault_tolerance.recovery.retry.max_attempts = 2;
    o.fault_tolerance.detector.failure_threshold = 1000;  // keep the breaker out of this
    const outcome r = run_with(p, o);
    CHECK(r.rendered == fault_free(p));
    failures += r.stats.failures;
  }
  CHECK(failures >= 12);
}

TEST_CASE("a graceful stop takes a final checkpoint; the next run resumes from it, failure history included") {
  ftq::test::temp_dir tmp;
  for (const ftq::plan& p : ftq::test::blocking_plans()) {
    CAPTURE(p.name);
    const std::string expected = fault_free(p, 120000);
    {
      asio::io_context io;
      ftq::engine_options o = options_with("throw:op=table_scan,batch=5");
      o.yield_interval = 1us;
      ftq::engine eng(io.get_executor(), o);
      eng.register_table(ftq::test::make_engine_table(120000, 5000));
      ftq::query_options qo;
      qo.checkpoints = {.manager = std::make_shared<ftq::checkpoint_manager>(
                            io.get_executor(), ftq::test::checkpoint_options_for(tmp / p.name))};
      ftq::query_ptr first = eng.prepare(p, qo);
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            asio::steady_timer t(io);
            while (first->progress().rows_scanned < 80000) {
              t.expires_after(50us);
              co_await t.async_wait(asio::use_awaitable);
            }
            eng.stop_all();
          },
          asio::detached);
      CHECK_THROWS_AS(run_coro_on(io, [&](auto) { return eng.run(first); }), ftq::error);
      CHECK(first->state() == ftq::query_state::cancelled);
      CHECK(first->checkpoints().commits == 1);  // the adaptive interval took none before: only the final one
      CHECK(first->failures().size() == 1);
    }
    // A new engine (as after a restart): its detector knows nothing until the checkpoint is read.
    asio::io_context io;
    ftq::engine eng(io.get_executor(), options_with(""));
    eng.register_table(ftq::test::make_engine_table(120000, 5000));
    ftq::query_options qo;
    qo.checkpoints = {.manager = std::make_shared<ftq::checkpoint_manager>(
                          io.get_executor(), ftq::test::checkpoint_options_for(tmp / p.name))};
    auto second = eng.prepare(p, qo);
    CHECK(second->failures().empty());
    const std::string got = render(run_coro_on(io, [&](auto) { return eng.run(second); }));
    CHECK(got == expected);
    CHECK(second->fault_tolerance().resumed);
    // It went on, it did not start over (the join reads the table twice: build and probe).
    CHECK(second->progress().rows_scanned < (p.name == "joined" ? 240000u : 120000u));
    const auto history = second->failures();
    REQUIRE(history.size() == 1);
    CHECK(history[0].message.find("injected fault") != std::string::npos);
    CHECK(history[0].outcome == "recovered");
  }
}

TEST_CASE("a fresh start discards an earlier run's checkpoints") {
  ftq::test::temp_dir tmp;
  const ftq::plan p = ftq::test::blocking_plans()[0];
  auto run_once = [&](bool fresh, bool stop) {
    asio::io_context io;
    ftq::engine_options o = options_with("");
    o.yield_interval = 1us;
    ftq::engine eng(io.get_executor(), o);
    eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
    ftq::query_options qo;
    qo.checkpoints = {.manager = std::make_shared<ftq::checkpoint_manager>(
                          io.get_executor(), ftq::test::checkpoint_options_for(tmp / "ck")),
                      .fresh = fresh};
    auto q = eng.prepare(p, qo);
    if (stop) {
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            asio::steady_timer t(io);
            while (q->progress().rows_scanned < 30000) {
              t.expires_after(50us);
              co_await t.async_wait(asio::use_awaitable);
            }
            q->stop();
          },
          asio::detached);
      CHECK_THROWS_AS(run_coro_on(io, [&](auto) { return eng.run(q); }), ftq::error);
    } else {
      CHECK(render(run_coro_on(io, [&](auto) { return eng.run(q); })) == fault_free(p));
    }
    // The stats, not the query: its checkpoint manager must not outlive this io_context.
    return std::make_pair(q->fault_tolerance(), q->progress());
  };
  (void)run_once(false, true);
  CHECK(ftq::test::files_in(tmp / "ck") >= 1);
  const auto [stats, progress] = run_once(true, false);
  CHECK_FALSE(stats.resumed);
  CHECK(progress.rows_scanned == table_rows);
}

TEST_CASE("recoveries due at once run by query priority, then by restore cost") {
  asio::io_context io;
  ftq::engine_detail::recovery_gate gate(1);
  std::vector<std::string> done;
  auto recover = [&](std::uint32_t priority, std::uint64_t cost, std::string who) -> asio::awaitable<void> {
    const auto permit = co_await gate.acquire(priority, cost, who);
    done.push_back(who);
    asio::steady_timer t(io);
    t.expires_after(1ms);
    co_await t.async_wait(asio::use_awaitable);
  };
  // The first takes the only slot; the rest queue up while it restores.
  asio::co_spawn(io, recover(1, 1, "first"), asio::detached);
  asio::co_spawn(io, recover(1, 500, "low-big"), asio::detached);
  asio::co_spawn(io, recover(9, 900, "high-big"), asio::detached);
  asio::co_spawn(io, recover(9, 5, "high-small"), asio::detached);
  asio::co_spawn(io, recover(1, 5, "low-small"), asio::detached);
  io.run();
  CHECK(done == std::vector<std::string>{"first", "high-small", "high-big", "low-small", "low-big"});
  CHECK(gate.order() == done);
  CHECK(gate.running() == 0);
}

TEST_CASE("a query of higher priority gets a larger share of the executor") {
  asio::io_context io;
  ftq::engine_options o = options_with("");
  o.yield_interval = 100us;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(200000, 5000));
  ftq::plan p = ftq::test::blocking_plans()[0];
  ftq::query_options high;
  high.priority = 4;
  ftq::query_options low;
  low.priority = 1;
  auto qh = eng.prepare(p, high);
  auto ql = eng.prepare(p, low);
  std::uint64_t low_when_high_done = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        (void)co_await eng.run(qh);
        low_when_high_done = ql->progress().rows_scanned;
      },
      asio::detached);
  asio::co_spawn(io, eng.run(ql), asio::detached);
  io.run();
  CHECK(qh->state() == ftq::query_state::succeeded);
  CHECK(ql->state() == ftq::query_state::succeeded);
  // Four slices to one: the low one had read about a quarter when the high one finished.
  CHECK(low_when_high_done < 200000 / 2);
  CHECK(low_when_high_done > 200000 / 16);
}

TEST_CASE("queries on a pool of threads recover exactly") {
  asio::thread_pool pool(2);
  ftq::engine_options o = options_with("seed=3;throw:p=0.03,max=20");
  o.concurrency = 2;
  ftq::engine eng(pool.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(table_rows, 5000));
  std::vector<ftq::plan> plans = all_plans();
  std::vector<std::future<ftq::query_result>> results;
  std::vector<ftq::query_ptr> queries;
  for (const auto& p : plans) {
    queries.push_back(eng.prepare(p));
    results.push_back(asio::co_spawn(pool, eng.run(queries.back()), asio::use_future));
  }
  std::uint64_t failures = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    CAPTURE(plans[i].name);
    CHECK(render(results[i].get()) == fault_free(plans[i]));
    failures += queries[i]->fault_tolerance().failures;
  }
  CHECK(failures >= 1);
  pool.join();
}

TEST_CASE("the adaptive checkpoint interval follows Daly's formula from measured cost and failures") {
  ftq::test::temp_dir tmp;
  ftq::engine_options o = options_with("throw:op=table_scan,batch=40;throw:op=table_scan,batch=80");
  o.fault_tolerance.checkpoint_interval.prior_mtbf = 2s;
  o.fault_tolerance.checkpoint_interval.min = 1ms;
  asio::io_context io;
  ftq::engine eng(io.get_executor(), o);
  eng.register_table(ftq::test::make_engine_table(200000, 5000));
  ftq::query_options qo;
  qo.checkpoints = {.manager = std::make_shared<ftq::checkpoint_manager>(
                        io.get_executor(), ftq::test::checkpoint_options_for(tmp / "ck"))};
  const ftq::plan p = ftq::test::blocking_plans()[0];
  auto q = eng.prepare(p, qo);
  CHECK(render(run_coro_on(io, [&](auto) { return eng.run(q); })) == fault_free(p, 200000));
  const ftq::interval_choice c = q->checkpoint_interval();
  CHECK(c.failures == 2);
  CHECK(c.cost > std::chrono::nanoseconds::zero());
  CHECK(c.mtbf < 2s);  // two failures pulled it below the prior
  CHECK(c.interval == std::clamp(ftq::daly_interval(c.cost, c.mtbf), o.fault_tolerance.checkpoint_interval.min,
                                 o.fault_tolerance.checkpoint_interval.max));
}
