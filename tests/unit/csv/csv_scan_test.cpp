#include "exec/operators/csv_scan.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <ftq/error.hpp>

#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using boost::asio::awaitable;
using ftq::batch;
using ftq::schema;
using ftq::type_id;
using ftq::exec::csv_scan_operator;
using ftq::exec::csv_scan_state;
using ftq::exec::execution_context;
using ftq::exec::query_progress;

namespace {

using namespace ftq::test;

const schema file_schema({{"k", type_id::int64}, {"s", type_id::string}, {"x", type_id::float64}});

/// Writes `rows` rows of fixed width (12 bytes each, newline included): "0007,ab,3.5".
fs::path write_rows(const fs::path& dir, int rows, const std::string& name = "t.csv") {
  const fs::path file = dir / name;
  std::ofstream out(file, std::ios::binary);
  out << "k,s,x\n";
  for (int i = 0; i < rows; ++i) {
    char line[32];
    std::snprintf(line, sizeof line, "%04d,ab,%d.5\n", i, i % 10);
    out << line;
  }
  return file;
}

ftq::plan_detail::bound_node scan_node(const fs::path& file, std::vector<std::size_t> columns) {
  ftq::plan_detail::bound_node node;
  node.kind = ftq::node_kind::csv_scan;
  node.id = 0;
  node.path = "plan";
  node.file = file.string();
  node.file_schema = file_schema;
  for (std::size_t c : columns) {
    node.output.push_back(file_schema[c]);
  }
  node.file_columns = std::move(columns);
  return node;
}

}  // namespace

TEST_CASE("csv_scan produces the plan's columns in batches of the context's size, then nullopt for good") {
  temp_dir dir;
  const fs::path file = write_rows(dir.path(), 10);
  const csv_scan_operator op(scan_node(file, {2, 0}));
  CHECK(op.name() == "csv_scan");
  CHECK(op.output_schema() == schema({{"x", type_id::float64}, {"k", type_id::int64}}));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 4, 1, nullptr);
    op.init_states(ctx);
    std::vector<std::size_t> sizes;
    std::vector<std::int64_t> keys;
    while (auto b = co_await op.next(ctx)) {
      REQUIRE(b->columns.size() == 2);
      sizes.push_back(b->rows);
      for (std::size_t r = 0; r < b->rows; ++r) {
        keys.push_back(b->columns[1]->ints[r]);
        CHECK(b->columns[0]->doubles[r] == static_cast<double>(keys.back() % 10) + 0.5);
      }
    }
    CHECK(sizes == std::vector<std::size_t>{4, 4, 2});
    CHECK(keys == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK_FALSE(co_await op.next(ctx));
    CHECK_FALSE(co_await op.next(ctx));
    auto& p = ctx.progress();
    CHECK(p.bytes_total.load() == fs::file_size(file));
    CHECK(p.bytes_scanned.load() == fs::file_size(file));
    CHECK(p.rows_scanned.load() == 10);
    CHECK(p.rows_total.load() == 10);
    CHECK(ctx.stats(0).rows_out == 10);
    CHECK(ctx.state<csv_scan_state>(0).finished);
  });
}

TEST_CASE("csv_scan estimates the total rows from the bytes per row seen so far") {
  temp_dir dir;
  const fs::path file = write_rows(dir.path(), 1000);
  const csv_scan_operator op(scan_node(file, {0}));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 100, 1, nullptr);
    op.init_states(ctx);
    CHECK(ctx.progress().rows_total.load() == 0);
    auto first = co_await op.next(ctx);
    REQUIRE(first);
    CHECK(ctx.progress().rows_scanned.load() == 100);
    CHECK(ctx.progress().rows_total.load() == 1000);  // fixed-width rows: the estimate is exact
    CHECK(ctx.progress().bytes_scanned.load() == 6 + 100 * 12);
    CHECK(ctx.progress().bytes_total.load() == 6 + 1000 * 12);
  });
}

TEST_CASE("scans sharing one progress add their bytes and rows") {
  temp_dir dir;
  const fs::path a = write_rows(dir.path(), 30, "a.csv");
  const fs::path b = write_rows(dir.path(), 70, "b.csv");
  const csv_scan_operator op_a(scan_node(a, {0}));
  const csv_scan_operator op_b(scan_node(b, {0}));
  auto progress = std::make_shared<query_progress>();
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx_a(ex, 8, 1, progress);
    execution_context ctx_b(ex, 16, 1, progress);
    op_a.init_states(ctx_a);
    op_b.init_states(ctx_b);
    co_await op_a.next(ctx_a);
    co_await op_b.next(ctx_b);
    while (co_await op_a.next(ctx_a)) {
    }
    while (co_await op_b.next(ctx_b)) {
    }
  });
  CHECK(progress->rows_scanned.load() == 100);
  CHECK(progress->rows_total.load() == 100);
  CHECK(progress->bytes_total.load() == fs::file_size(a) + fs::file_size(b));
  CHECK(progress->bytes_scanned.load() == progress->bytes_total.load());
}

TEST_CASE("a csv_scan restored at a saved position produces exactly the remaining rows") {
  temp_dir dir;
  const fs::path file = write_rows(dir.path(), 25);
  const csv_scan_operator op(scan_node(file, {0, 1}));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context first(ex, 4, 1, nullptr);
    op.init_states(first);
    co_await op.next(first);
    co_await op.next(first);
    const ftq::csv::reader_position saved = first.state<csv_scan_state>(0).position;
    CHECK(saved.rows == 8);

    execution_context second(ex, 4, 1, nullptr);
    op.init_states(second);
    second.state<csv_scan_state>(0).position = saved;
    std::vector<std::int64_t> keys;
    while (auto b = co_await op.next(second)) {
      for (std::size_t r = 0; r < b->rows; ++r) {
        keys.push_back(b->columns[0]->ints[r]);
      }
    }
    REQUIRE(keys.size() == 17);
    CHECK(keys.front() == 8);
    CHECK(keys.back() == 24);
  });
}

TEST_CASE("a csv_scan resumed in a new run counts the whole file in that run's bytes_total") {
  temp_dir dir;
  const fs::path file = write_rows(dir.path(), 25);
  const csv_scan_operator op(scan_node(file, {0, 1}));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context first(ex, 4, 1, nullptr);
    op.init_states(first);
    co_await op.next(first);
    co_await op.next(first);
    const csv_scan_state& saved = first.state<csv_scan_state>(0);
    REQUIRE(saved.bytes_published > 0);

    // What load() restores from a checkpoint: the position and what the earlier run published.
    execution_context second(ex, 4, 1, nullptr);
    op.init_states(second);
    auto& restored = second.state<csv_scan_state>(0);
    restored.position = saved.position;
    restored.rows_total_published = saved.rows_total_published;
    restored.bytes_published = saved.bytes_published;
    REQUIRE(co_await op.next(second));
    CHECK(second.progress().bytes_total.load() == fs::file_size(file));
    CHECK(second.progress().bytes_scanned.load() == 6 + 12 * 12);  // the header and 12 rows
    while (co_await op.next(second)) {
    }
    CHECK(second.progress().bytes_total.load() == fs::file_size(file));
    CHECK(second.progress().bytes_scanned.load() == fs::file_size(file));

    // A rollback retracts this state's share before a fresh state publishes its own.
    auto& st = second.state<csv_scan_state>(0);
    st.retract_progress(second.progress());
    CHECK(second.progress().bytes_total.load() == 0);
    CHECK(second.progress().bytes_scanned.load() == 0);
  });
}

TEST_CASE("a malformed row fails the scan with file:line:column") {
  temp_dir dir;
  const fs::path file = dir.path() / "bad.csv";
  std::ofstream(file, std::ios::binary) << "k,s,x\n1,a,1.5\n2,b,x1\n";
  const csv_scan_operator op(scan_node(file, {0, 2}));
  try {
    ftq::test::run_coro([&](auto ex) -> awaitable<void> {
      execution_context ctx(ex, 4, 1, nullptr);
      op.init_states(ctx);
      while (co_await op.next(ctx)) {
      }
    });
    FAIL("no error");
  } catch (const ftq::csv_error& e) {
    CHECK(e.line() == 3);
    CHECK(e.column() == 5);
    CHECK(std::string(e.what()).find("column 'x' (float64): cannot parse \"x1\"") != std::string::npos);
  }
}

TEST_CASE("a cancelled query stops its csv_scan") {
  temp_dir dir;
  const csv_scan_operator op(scan_node(write_rows(dir.path(), 10), {0}));
  CHECK_THROWS_AS(ftq::test::run_coro([&](auto ex) -> awaitable<void> {
                    execution_context ctx(ex, 4, 1, nullptr);
                    op.init_states(ctx);
                    co_await op.next(ctx);
                    ctx.cancel();
                    co_await op.next(ctx);
                  }),
                  ftq::error);
}
