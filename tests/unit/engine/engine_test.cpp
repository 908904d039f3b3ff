#include <ftq/engine.hpp>

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

#include <limits>
#include <stdexcept>

#include "support/kvs_table.hpp"
#include "support/run_coro.hpp"

namespace {

// A table of `rows` rows: k = i % groups (int64), v = i (float64), s = "s<i%7>" (string).
ftq::table_ptr make_table(std::string name, std::size_t rows, std::int64_t groups, std::size_t batch_rows = 4096) {
  return ftq::test::make_kvs_table({.name = std::move(name), .rows = rows, .groups = groups, .batch_rows = batch_rows});
}

std::int64_t count_rows(const ftq::query_result& r) {
  std::int64_t n = 0;
  for (const auto& b : r.batches)
    n += static_cast<std::int64_t>(b.live_rows());
  return n;
}

}  // namespace

TEST_CASE("a registered in-memory table runs through filter, aggregate and sort") {
  auto r = ftq::test::run_coro([](auto ex) -> boost::asio::awaitable<ftq::query_result> {
    ftq::engine eng(ex);
    eng.register_table(make_table("t", 10000, 10));
    auto p = ftq::plan_builder::table_scan("t")
                 .filter(ftq::col("v") < ftq::lit(5000.0))
                 .aggregate({ftq::col("k")}, {ftq::count_star("n"), ftq::sum(ftq::col("v"), "total")})
                 .sort({ftq::desc(ftq::col("k"))})
                 .build("agg");
    co_return co_await eng.execute(p);
  });
  REQUIRE(count_rows(r) == 10);
  const auto& b = r.batches.front();
  CHECK(b.columns[0]->ints[0] == 9);
  CHECK(b.columns[1]->ints[0] == 500);
  // sum of v for v < 5000 and v % 10 == 9: 9 + 19 + ... + 4999
  CHECK(b.columns[2]->doubles[0] == doctest::Approx(500.0 * (9 + 4999) / 2));
}

TEST_CASE("prepare rejects a bad plan with the plan path, and never runs it") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  eng.register_table(make_table("t", 10, 2));
  auto p = ftq::plan_builder::table_scan("t").filter(ftq::eq(ftq::col("nope"), ftq::lit(1))).build("bad");
  try {
    eng.prepare(p);
    FAIL("prepare accepted a plan with an unknown column");
  } catch (const ftq::plan_error& e) {
    CHECK(std::string(e.what()) == "plan.predicate.args[0]: unknown column 'nope' (columns: k, v, s)");
  }
  auto unknown_table = ftq::plan_builder::table_scan("missing").build("bad");
  CHECK_THROWS_AS(eng.prepare(unknown_table), ftq::plan_error);
}

TEST_CASE("a query reports its state and progress, and cannot be run twice") {
  ftq::test::run_coro([](auto ex) -> boost::asio::awaitable<void> {
    ftq::engine eng(ex);
    eng.register_table(make_table("t", 50000, 3));
    auto q = eng.prepare(ftq::plan_builder::table_scan("t").aggregate({}, {ftq::count_star("n")}).build("count"));
    CHECK(q->state() == ftq::query_state::prepared);
    CHECK(q->name() == "count");
    auto r = co_await eng.run(q);
    CHECK(q->state() == ftq::query_state::succeeded);
    CHECK(r.batches.front().columns[0]->ints[0] == 50000);
    const auto p = q->progress();
    CHECK(p.rows_scanned == 50000);
    CHECK(p.rows_total == 50000);
    CHECK(p.fraction() == doctest::Approx(1.0));
    CHECK(p.rows_out == 1);
    bool threw = false;
    try {
      co_await eng.run(q);
    } catch (const ftq::error& e) {
      threw = e.code() == ftq::errc::internal;
    }
    CHECK(threw);
  });
}

TEST_CASE("a cancelled query stops promptly with errc::query_cancelled") {
  boost::asio::io_context io(1);
  ftq::engine eng(io.get_executor());
  eng.register_table(make_table("big", 4'000'000, 1000));
  auto q =
      eng.prepare(ftq::plan_builder::table_scan("big").aggregate({ftq::col("k")}, {ftq::count_star("n")}).build("c"));
  std::error_code outcome;
  bool done = false;
  boost::asio::co_spawn(io, eng.run(q), [&](std::exception_ptr e, ftq::query_result) {
    done = true;
    try {
      if (e)
        std::rethrow_exception(e);
    } catch (const ftq::error& err) {
      outcome = err.code();
    }
  });
  // Cancel from another coroutine as soon as the query has made some progress.
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        while (q->progress().rows_scanned == 0)
          co_await boost::asio::post(io, boost::asio::use_awaitable);
        q->cancel();
      },
      [](std::exception_ptr) {});
  io.run_for(std::chrono::seconds(60));
  CHECK(done);
  CHECK((outcome == ftq::errc::query_cancelled));
  CHECK(q->state() == ftq::query_state::cancelled);
  CHECK(q->progress().rows_scanned < 4'000'000);
}

TEST_CASE("two queries on one single-threaded io_context interleave and both finish correctly") {
  boost::asio::io_context io(1);
  ftq::engine_options options;
  options.yield_interval = std::chrono::microseconds(0);  // yield at every batch: deterministic turns
  ftq::engine eng(io.get_executor(), options);
  eng.register_table(make_table("a", 2'000'000, 100));
  eng.register_table(make_table("b", 2'000'000, 7));
  auto qa =
      eng.prepare(ftq::plan_builder::table_scan("a").aggregate({ftq::col("k")}, {ftq::count_star("n")}).build("a"));
  auto qb = eng.prepare(ftq::plan_builder::table_scan("b")
                            .aggregate({}, {ftq::sum(ftq::col("v"), "total"), ftq::count_star("n")})
                            .build("b"));
  ftq::query_result ra, rb;
  int finished = 0;
  boost::asio::co_spawn(io, eng.run(qa), [&](std::exception_ptr e, ftq::query_result r) {
    CHECK_FALSE(e);
    ra = std::move(r);
    ++finished;
  });
  boost::asio::co_spawn(io, eng.run(qb), [&](std::exception_ptr e, ftq::query_result r) {
    CHECK_FALSE(e);
    rb = std::move(r);
    ++finished;
  });
  // A third coroutine stands for the embedding service: it must keep getting turns while the
  // queries run, and it sees both queries making progress before either has finished.
  std::uint64_t service_turns = 0;
  bool saw_both_in_flight = false;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        while (finished < 2) {
          ++service_turns;
          const auto pa = qa->progress().rows_scanned;
          const auto pb = qb->progress().rows_scanned;
          if (pa > 0 && pb > 0 && pa < 2'000'000 && pb < 2'000'000)
            saw_both_in_flight = true;
          co_await boost::asio::post(io, boost::asio::use_awaitable);
        }
      },
      [](std::exception_ptr) {});
  io.run_for(std::chrono::seconds(120));
  REQUIRE(finished == 2);
  CHECK(count_rows(ra) == 100);
  CHECK(rb.batches.front().columns[1]->ints[0] == 2'000'000);
  CHECK(rb.batches.front().columns[0]->doubles[0] == doctest::Approx(2'000'000.0 * 1'999'999.0 / 2));
  CHECK(saw_both_in_flight);
  CHECK(service_turns > 2'000'000 / 4096);  // at least one turn per batch of either query
}

TEST_CASE("explain lists every operator with its id and plan path") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  eng.register_table(make_table("t", 10, 2));
  auto q = eng.prepare(ftq::plan_builder::table_scan("t").limit(3).build("l"));
  const auto text = q->explain();
  CHECK(text.find("limit #0  [plan]") != std::string::npos);
  CHECK(text.find("table_scan #1  [plan.input]") != std::string::npos);
}

TEST_CASE("an int64 SUM that leaves int64 ends the query with a clear error, never a wrapped total") {
  auto big = std::make_shared<ftq::column>(ftq::type_id::int64);
  big->ints = {std::numeric_limits<std::int64_t>::max() - 5, 3, 3};
  ftq::batch b;
  b.columns = {big};
  b.rows = 3;
  auto t = std::make_shared<ftq::table>("t", ftq::schema({{"x", ftq::type_id::int64}}), std::vector<ftq::batch>{b});
  auto p = ftq::plan_builder::table_scan("t").aggregate({}, {ftq::sum(ftq::col("x"), "s")}).build("o");
  std::string message;
  try {
    ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<void> {
      ftq::engine eng(ex);
      eng.register_table(t);
      co_await eng.execute(p);
    });
  } catch (const std::overflow_error& e) {
    message = e.what();
  }
  CHECK(message.find("plan: integer overflow in SUM over int64") == 0);
}
