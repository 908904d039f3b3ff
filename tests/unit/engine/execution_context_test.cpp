#include "exec/execution_context.hpp"

#include <doctest/doctest.h>

#include <thread>

#include <ftq/error.hpp>

#include "support/run_coro.hpp"

TEST_CASE("maybe_yield yields only after the yield interval has passed") {
  ftq::test::run_coro([](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 1024, 1, nullptr);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 0);
    std::this_thread::sleep_for(ftq::exec::execution_context::default_yield_interval * 2);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 1);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 1);
  });
}

TEST_CASE("under yield pressure the slice is the short one until the window has passed") {
  using namespace std::chrono_literals;
  ftq::test::run_coro([](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 1024, 1, nullptr, std::chrono::microseconds(10s));
    ftq::exec::yield_pressure pressure(std::chrono::microseconds(1000));
    ctx.set_yield_pressure(&pressure);
    std::this_thread::sleep_for(3ms);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 0);  // no demand: the 10 s slice
    pressure.demand(40ms);
    std::this_thread::sleep_for(3ms);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 1);  // demanded: the 1 ms slice
    std::this_thread::sleep_for(60ms);
    co_await ctx.maybe_yield();
    CHECK(ctx.yields() == 1);  // the window has passed
  });
}

TEST_CASE("check_cancelled throws query_cancelled once cancel() was called") {
  boost::asio::io_context io;
  ftq::exec::execution_context ctx(io.get_executor(), 0, 2, nullptr);
  CHECK(ctx.batch_rows() == 1);
  CHECK_NOTHROW(ctx.check_cancelled());
  ctx.cancel();
  CHECK(ctx.cancelled());
  try {
    ctx.check_cancelled();
    FAIL("no exception");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::query_cancelled));
  }
}
