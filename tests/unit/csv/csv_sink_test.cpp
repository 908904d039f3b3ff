#include "exec/operators/csv_sink.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include <ftq/error.hpp>

#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using boost::asio::awaitable;
using ftq::batch;
using ftq::schema;
using ftq::type_id;
using ftq::exec::csv_sink_operator;
using ftq::exec::csv_sink_state;
using ftq::exec::execution_context;

namespace {

using namespace ftq::test;

const schema result_schema({{"flag", type_id::string}, {"sum_qty", type_id::float64}, {"n", type_id::int64}});

std::vector<batch> result_batches() {
  auto flag = std::make_shared<ftq::column>(type_id::string);
  auto qty = std::make_shared<ftq::column>(type_id::float64);
  auto n = std::make_shared<ftq::column>(type_id::int64);
  flag->strings = {"A", "N", "R"};
  qty->doubles = {625120, 17127.5, 0.1 + 0.2};
  n->ints = {24491, 645, 48845};
  batch b;
  b.rows = 3;
  b.columns = {flag, qty, n};
  batch tail = b;
  tail.has_selection = true;
  tail.selection = {2};
  return {b, tail};
}

/// Runs `sink` to its end; returns what the first produce() call gave back.
std::optional<batch> run_sink(const csv_sink_operator& sink, std::function<void(execution_context&)> after = {}) {
  return ftq::test::run_coro([&](auto ex) -> awaitable<std::optional<batch>> {
    execution_context ctx(ex, 1024, sink.subtree_size(), nullptr);
    sink.init_states(ctx);
    auto out = co_await sink.next(ctx);
    if (after) {
      after(ctx);
    }
    co_return out;
  });
}

}  // namespace

TEST_CASE("csv_sink writes every live row of its child, then puts the file in place") {
  temp_dir dir;
  const fs::path out = dir.path() / "q1.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  CHECK(sink.name() == "csv_sink");
  CHECK(sink.output_schema().size() == 0);
  CHECK(sink.subtree_size() == 2);
  bool checked = false;
  const auto first = run_sink(sink, [&](execution_context& ctx) {
    const auto& st = ctx.state<csv_sink_state>(1);
    CHECK(st.finished);
    CHECK(st.rows_written == 4);
    CHECK(st.bytes_written == fs::file_size(out));
    CHECK(ctx.progress().rows_out.load() == 4);
    checked = true;
  });
  CHECK_FALSE(first);
  CHECK(checked);
  CHECK(read_file(out) ==
        "flag,sum_qty,n\n"
        "A,625120,24491\n"
        "N,17127.5,645\n"
        "R,0.30000000000000004,48845\n"
        "R,0.30000000000000004,48845\n");
  CHECK(dir.entries() == 1);
}

TEST_CASE("csv_sink returns nullopt on every call after it finished, without rewriting") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 1024, 2, nullptr);
    sink.init_states(ctx);
    CHECK_FALSE(co_await sink.next(ctx));
    fs::remove(out);
    CHECK_FALSE(co_await sink.next(ctx));
    CHECK_FALSE(fs::exists(out));
  });
}

TEST_CASE("a failing child leaves neither the result nor a temp file") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  std::vector<batch> many;
  for (int i = 0; i < 5; ++i) {
    for (auto& b : result_batches()) {
      many.push_back(b);
    }
  }
  const csv_sink_operator sink(1, out, std::make_unique<batch_source>(0, result_schema, many, 7, "plan"));
  CHECK_THROWS_WITH(run_sink(sink), "injected failure");
  CHECK_FALSE(fs::exists(out));
  CHECK(dir.entries() == 0);
}

TEST_CASE("a cancelled query leaves no result file") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  try {
    ftq::test::run_coro([&](auto ex) -> awaitable<void> {
      execution_context ctx(ex, 1024, 2, nullptr);
      sink.init_states(ctx);
      ctx.cancel();
      co_await sink.next(ctx);
    });
    FAIL("not cancelled");
  } catch (const ftq::error& e) {
    CHECK(e.code() == ftq::errc::query_cancelled);
  }
  CHECK(dir.entries() == 0);
}

TEST_CASE("an empty child still produces a file with the header") {
  temp_dir dir;
  const fs::path out = dir.path() / "empty.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, std::vector<batch>{}, std::nullopt, "plan"));
  run_sink(sink);
  CHECK(read_file(out) == "flag,sum_qty,n\n");
}
