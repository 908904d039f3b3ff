#include <ftq/clock.hpp>

#include <doctest/doctest.h>

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "support/run_coro.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST_CASE("manual_clock: now() moves only by advance() and sleep(), and records each sleep") {
  ftq::manual_clock clk;
  const auto t0 = clk.now();
  clk.advance(250ms);
  CHECK(clk.now() - t0 == 250ms);
  clk.advance(-1s);  // ignored: steady time never goes back
  CHECK(clk.now() - t0 == 250ms);

  const bool slept = ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<bool> {
    const bool a = co_await clk.sleep(1s, asio::cancellation_slot());
    const bool b = co_await clk.sleep(30ms, asio::cancellation_slot());
    co_return a&& b;
  });
  CHECK(slept);
  CHECK(clk.now() - t0 == 250ms + 1s + 30ms);
  const std::vector<ftq::clock::duration> want{1s, 30ms};
  CHECK(clk.sleeps() == want);
  clk.clear_sleeps();
  CHECK(clk.sleeps().empty());
}

TEST_CASE("manual_clock: sleep() lets another coroutine run, and a signal emitted meanwhile wins") {
  ftq::manual_clock clk;
  asio::io_context io;
  asio::cancellation_signal signal;
  bool result = true;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await clk.sleep(5s, signal.slot());
        finished = true;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        signal.emit(asio::cancellation_type::terminal);
        co_return;
      },
      asio::detached);
  io.run_for(5s);
  REQUIRE(finished);
  CHECK_FALSE(result);
  CHECK_FALSE(signal.slot().has_handler());  // the sleep removed its handler
}

TEST_CASE("manual_clock: a coroutine already cancelled does not sleep") {
  ftq::manual_clock clk;
  asio::io_context io;
  asio::cancellation_signal parent;
  bool result = true;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Cancelled before sleeping: the coroutine's own state says so; the next async
        // operation would throw, so the test stops right after the sleep.
        co_await asio::this_coro::throw_if_cancelled(false);
        asio::any_io_executor ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex, 1h);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        result = co_await clk.sleep(5s, asio::cancellation_slot());
        finished = true;
      },
      asio::bind_cancellation_slot(parent.slot(), asio::detached));
  io.poll();
  parent.emit(asio::cancellation_type::terminal);
  io.run_for(5s);
  REQUIRE(finished);
  CHECK_FALSE(result);
  CHECK(clk.sleeps().empty());
}

TEST_CASE("steady clock: a 10 s sleep is woken by a cancellation signal from another coroutine") {
  const auto clk = ftq::steady_clock_source();
  CHECK(clk == ftq::steady_clock_source());  // one shared instance
  asio::io_context io;
  asio::cancellation_signal signal;
  bool result = true;
  bool finished = false;
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await clk->sleep(10s, signal.slot());
        finished = true;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::any_io_executor ex = co_await asio::this_coro::executor;
        asio::steady_timer t(ex, 10ms);
        co_await t.async_wait(asio::use_awaitable);
        signal.emit(asio::cancellation_type::terminal);
      },
      asio::detached);
  io.run_for(15s);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(finished);
  CHECK_FALSE(result);
  CHECK(took < 2s);
  CHECK(took >= 10ms);
}

TEST_CASE("steady clock: a short sleep completes and reports that the time passed") {
  const auto clk = ftq::steady_clock_source();
  const auto before = clk->now();
  const bool slept = ftq::test::run_coro([&](asio::any_io_executor) -> asio::awaitable<bool> {
    asio::cancellation_signal unused;
    const bool r = co_await clk->sleep(5ms, unused.slot());
    co_return r;
  });
  CHECK(slept);
  CHECK(clk->now() - before >= 5ms);
}
