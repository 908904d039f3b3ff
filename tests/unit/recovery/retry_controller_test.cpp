#include <ftq/retry.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "support/run_coro.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ftq::retry_policy;

namespace {

retry_policy fixed_policy(std::uint32_t attempts, std::chrono::nanoseconds delay) {
  retry_policy p;
  p.kind = retry_policy::backoff::fixed;
  p.base = delay;
  p.max_attempts = attempts;
  return p;
}

std::exception_ptr transient() { return std::make_exception_ptr(ftq::error(ftq::errc::transient_failure, "flaky")); }

}  // namespace

TEST_CASE("retry_controller: a transient failure is retried max_attempts times, then stops") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::retry_controller rc(fixed_policy(3, 20ms), clk, 1, nullptr, nullptr);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    const auto d = rc.on_failure(transient(), 0);
    CHECK(d.retry);
    CHECK(d.cls == ftq::error_class::transient);
    CHECK(d.delay == 20ms);
    CHECK_FALSE(d.stop_code);
    CHECK(rc.attempts() == i);
  }
  const auto stop = rc.on_failure(transient(), 0);
  CHECK_FALSE(stop.retry);
  CHECK((stop.stop_code == ftq::errc::retries_exhausted));
  CHECK(stop.reason == "3 of 3 retries used");
  // A success starts a new sequence.
  rc.on_success();
  CHECK(rc.attempts() == 0);
  CHECK(rc.on_failure(transient(), 0).retry);
}

TEST_CASE("retry_controller: max_attempts 0 never retries") {
  ftq::retry_controller rc(fixed_policy(0, 20ms), std::make_shared<ftq::manual_clock>(), 1, nullptr, nullptr);
  const auto d = rc.on_failure(transient(), 0);
  CHECK_FALSE(d.retry);
  CHECK((d.stop_code == ftq::errc::retries_exhausted));
  CHECK(d.reason == "retries are off (max_attempts 0)");
}

TEST_CASE("retry_controller: never-retryable classes stop at once with the cause's own code") {
  ftq::retry_budget budget(10, 0.1);
  ftq::retry_controller rc(fixed_policy(5, 1ms), std::make_shared<ftq::manual_clock>(), 1, &budget, nullptr);
  const auto bad = rc.on_failure(std::make_exception_ptr(ftq::csv_error("a.csv", 2, 3, "not a number")), 0);
  CHECK_FALSE(bad.retry);
  CHECK(bad.cls == ftq::error_class::bad_input);
  CHECK((bad.stop_code == ftq::errc::csv_malformed));
  CHECK(bad.reason == "bad_input is never retried");
  const auto enoent = rc.on_failure(
      std::make_exception_ptr(ftq::io_error("/d/x", std::error_code(ENOENT, std::system_category()), "open")), 0);
  CHECK_FALSE(enoent.retry);
  CHECK((enoent.stop_code == std::errc::no_such_file_or_directory));
  const auto cancelled = rc.on_failure(std::make_exception_ptr(ftq::error(ftq::errc::query_cancelled, "stop")), 0);
  CHECK_FALSE(cancelled.retry);
  CHECK(cancelled.cls == ftq::error_class::cancelled);
  CHECK((cancelled.stop_code == ftq::errc::query_cancelled));
  const auto arg = rc.on_failure(std::make_exception_ptr(std::invalid_argument("x")), 0);
  CHECK_FALSE(arg.retry);
  CHECK((arg.stop_code == ftq::errc::operator_failed));
  CHECK(rc.attempts() == 0);
  CHECK(budget.tokens() == 10.0);  // never-retryable failures do not drain the budget
}

TEST_CASE("retry_controller: the query's and the engine's budgets are both consulted") {
  SUBCASE("the query budget runs out first") {
    ftq::retry_budget query(4, 1);
    ftq::retry_budget engine(100, 1);
    ftq::retry_controller rc(fixed_policy(10, 1ms), std::make_shared<ftq::manual_clock>(), 1, &query, &engine);
    CHECK(rc.on_failure(transient(), 0).retry);    // query 3 > 2
    const auto d = rc.on_failure(transient(), 0);  // query 2: not above half
    CHECK_FALSE(d.retry);
    CHECK((d.stop_code == ftq::errc::retry_budget_exhausted));
    CHECK(d.reason.find("the query's retry budget is spent") == 0);
    CHECK(engine.tokens() == 98.0);  // every retryable failure drained both
  }
  SUBCASE("the engine budget runs out first, shared by two queries") {
    ftq::retry_budget engine(6, 0.5);
    ftq::retry_budget q1(100, 1);
    ftq::retry_budget q2(100, 1);
    auto clk = std::make_shared<ftq::manual_clock>();
    ftq::retry_controller a(fixed_policy(10, 1ms), clk, 1, &q1, &engine);
    ftq::retry_controller b(fixed_policy(10, 1ms), clk, 2, &q2, &engine);
    CHECK(a.on_failure(transient(), 0).retry);    // engine 5
    CHECK(b.on_failure(transient(), 0).retry);    // engine 4
    const auto d = a.on_failure(transient(), 0);  // engine 3: not above half
    CHECK_FALSE(d.retry);
    CHECK((d.stop_code == ftq::errc::retry_budget_exhausted));
    CHECK(d.reason.find("the engine's retry budget is spent") == 0);
    CHECK_FALSE(b.on_failure(transient(), 0).retry);
    CHECK(engine.tokens() == 2.0);
    // Successes of either query refill it, 0.5 each.
    for (int i = 0; i < 3; ++i) {
      a.on_success();
      b.on_success();
    }
    CHECK(engine.tokens() == 5.0);
    CHECK(a.on_failure(transient(), 0).retry);  // 4 is above 3
  }
}

TEST_CASE("retry(): succeeds after N failures with exactly the expected sleeps") {
  auto clk = std::make_shared<ftq::manual_clock>();
  retry_policy p = fixed_policy(5, 25ms);
  ftq::retry_controller rc(p, clk, 1, nullptr, nullptr);
  int calls = 0;
  const int value = ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<int> {
    std::function<asio::awaitable<int>()> attempt = [&]() -> asio::awaitable<int> {
      if (++calls <= 3) {
        throw ftq::io_error("/d/x", std::error_code(EIO, std::system_category()), "read");
      }
      co_return 7;
    };
    asio::cancellation_signal never;
    const int v = co_await ftq::retry<int>(rc, attempt, never.slot(), {});
    co_return v;
  });
  CHECK(value == 7);
  CHECK(calls == 4);
  const std::vector<ftq::clock::duration> want{25ms, 25ms, 25ms};
  CHECK(clk->sleeps() == want);
  CHECK(rc.attempts() == 0);  // the success reset it
}

TEST_CASE("retry(): exponential sleeps equal the schedule's delays for the same seed") {
  auto clk = std::make_shared<ftq::manual_clock>();
  retry_policy p;  // exponential, full jitter
  ftq::retry_controller rc(p, clk, 99, nullptr, nullptr);
  ftq::backoff_schedule expected(p, 99);
  int calls = 0;
  ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<void> {
    std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
      if (++calls <= 4) {
        throw ftq::error(ftq::errc::transient_failure, "flaky");
      }
      co_return;
    };
    asio::cancellation_signal never;
    co_await ftq::retry<void>(rc, attempt, never.slot(), {}, [] { return 0.0; });
  });
  CHECK(calls == 5);
  std::vector<ftq::clock::duration> want;
  for (int i = 0; i < 4; ++i) {
    want.push_back(expected.next(0));
  }
  CHECK(clk->sleeps() == want);
}

TEST_CASE("retry(): spent attempts throw retries_exhausted with the last failure's message") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::retry_controller rc(fixed_policy(2, 5ms), clk, 1, nullptr, nullptr);
  int calls = 0;
  try {
    ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<void> {
      std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
        ++calls;
        throw ftq::error(ftq::errc::transient_failure, "flaky #" + std::to_string(calls));
        co_return;
      };
      asio::cancellation_signal never;
      co_await ftq::retry<void>(rc, attempt, never.slot(), {});
    });
    FAIL("retry() did not throw");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::retries_exhausted));
    CHECK(std::string(e.what()) == "2 of 2 retries used: flaky #3");
  }
  CHECK(calls == 3);
  CHECK(clk->sleeps().size() == 2);
}

TEST_CASE("retry(): a never-retryable failure is rethrown as it is, without sleeping") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::retry_controller rc(fixed_policy(5, 5ms), clk, 1, nullptr, nullptr);
  int calls = 0;
  CHECK_THROWS_AS(ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<void> {
                    std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
                      ++calls;
                      throw ftq::plan_error("plan.input", "unknown table");
                      co_return;
                    };
                    asio::cancellation_signal never;
                    co_await ftq::retry<void>(rc, attempt, never.slot(), {});
                  }),
                  ftq::plan_error);
  CHECK(calls == 1);
  CHECK(clk->sleeps().empty());
}

TEST_CASE("retry(): cancelled() seen true after a completed wait stops it with query_cancelled") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::retry_controller rc(fixed_policy(5, 5ms), clk, 1, nullptr, nullptr);
  int calls = 0;
  int polls = 0;
  try {
    ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<void> {
      std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
        ++calls;
        throw ftq::error(ftq::errc::transient_failure, "flaky");
        co_return;
      };
      // False before the wait, true after it: the cancellation arrived while the timer ran.
      std::function<bool()> cancelled = [&] { return ++polls > 1; };
      asio::cancellation_signal never;
      co_await ftq::retry<void>(rc, attempt, never.slot(), cancelled);
    });
    FAIL("retry() did not throw");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::query_cancelled));
  }
  CHECK(calls == 1);                 // not retried
  CHECK(clk->sleeps().size() == 1);  // the wait did complete
  CHECK(polls == 2);
}

TEST_CASE("retry(): a 10 s backoff on the steady clock cancelled after ~10 ms ends promptly") {
  retry_policy p = fixed_policy(5, 10s);
  p.cap = 10s;
  ftq::retry_controller rc(p, ftq::steady_clock_source(), 1, nullptr, nullptr);
  asio::io_context io;
  asio::cancellation_signal signal;
  std::exception_ptr outcome;
  bool finished = false;
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
          ++calls;
          throw ftq::error(ftq::errc::transient_failure, "flaky");
          co_return;
        };
        co_await ftq::retry<void>(rc, attempt, signal.slot(), {});
      },
      [&](std::exception_ptr e) {
        outcome = e;
        finished = true;
      });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::any_io_executor ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex, 10ms);
        co_await t.async_wait(asio::use_awaitable);
        signal.emit(asio::cancellation_type::terminal);
      },
      asio::detached);
  io.run_for(20s);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(finished);
  CHECK(took < 2s);
  CHECK(calls == 1);
  REQUIRE(outcome);
  try {
    std::rethrow_exception(outcome);
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::query_cancelled));
    CHECK(std::string(e.what()).find("backoff of 10s") != std::string::npos);
  }
}

TEST_CASE("retry(): another coroutine on the same thread progresses while one backs off") {
  auto clk = ftq::steady_clock_source();
  ftq::retry_controller rc(fixed_policy(1, 50ms), clk, 1, nullptr, nullptr);
  asio::io_context io;
  int ticks = 0;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        int calls = 0;
        std::function<asio::awaitable<void>()> attempt = [&]() -> asio::awaitable<void> {
          if (++calls == 1) {
            throw ftq::error(ftq::errc::transient_failure, "flaky");
          }
          co_return;
        };
        asio::cancellation_signal never;
        co_await ftq::retry<void>(rc, attempt, never.slot(), {});
        done = true;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::any_io_executor ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex);
        while (!done) {
          ++ticks;
          t.expires_after(2ms);
          co_await t.async_wait(asio::use_awaitable);
        }
      },
      asio::detached);
  io.run_for(10s);
  CHECK(done);
  CHECK(ticks >= 5);  // the backoff did not hold the thread
}

TEST_CASE("retry_controller: its own failure-rate estimate rises with failures and falls with successes") {
  ftq::retry_controller rc(fixed_policy(100, 1ms), std::make_shared<ftq::manual_clock>(), 1, nullptr, nullptr);
  CHECK(rc.recent_failure_rate() == 0.0);
  (void)rc.on_failure(transient(), 0);
  const double one = rc.recent_failure_rate();
  (void)rc.on_failure(transient(), 0);
  CHECK(one > 0);
  CHECK(rc.recent_failure_rate() > one);
  rc.on_success();
  CHECK(rc.recent_failure_rate() < one * 2);
  CHECK(rc.recent_failure_rate() <= 1.0);
}
