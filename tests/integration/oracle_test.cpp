// The five reference queries, planned as examples/plans/*.json, on `ftq gen --rows 100000
// --seed 42` data, must match the oracle's expected answers (DuckDB, cross-checked by sqlite3)
// under the oracle's comparison rules.

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <ftq/engine.hpp>
#include <ftq/plan.hpp>

#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "tools/gen.hpp"
#include "verify/result_compare.hpp"

namespace {

const char* const query_names[] = {"q1", "q6", "join", "topk", "distinct"};

struct oracle_data {
  ftq::test::temp_dir dir{"ftq-oracle"};
  oracle_data() {
    ftq::tools::gen_options g;
    g.rows = 100000;
    g.seed = 42;
    g.out_dir = dir.path() / "data";
    ftq::tools::generate(g);
  }
};

oracle_data& data() {
  static oracle_data d;
  return d;
}

std::filesystem::path source_root() { return ftq::test::test_data_dir().parent_path().parent_path(); }

ftq::plan load_example(const std::string& name) {
  auto p = ftq::parse_plan(ftq::test::read_file(source_root() / "examples/plans" / (name + ".json")));
  p.name = name;
  return p;
}

std::string expected(const std::string& name) {
  return ftq::test::read_file(ftq::test::test_data_dir() / "oracle/expected/100k" / (name + ".csv"));
}

}  // namespace

TEST_CASE("each example plan matches the oracle's expected answer on the 100k data") {
  for (const char* name : query_names) {
    CAPTURE(name);
    const auto out = data().dir.path() / (std::string(name) + ".csv");
    ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<void> {
      ftq::engine_options o;
      o.data_dir = data().dir.path() / "data";
      ftq::engine eng(ex, o);
      ftq::query_options qo;
      qo.output_csv = out;
      co_await eng.execute(load_example(name), qo);
    });
    const auto report = ftq::verify::compare_csv_text(ftq::test::read_file(out), expected(name));
    for (const auto& p : report.problems)
      MESSAGE(p);
    CHECK(report.equal);
  }
}

TEST_CASE("the oracle's answers hold for batch sizes that split rows and groups unevenly") {
  for (std::size_t batch_rows : {1u, 7u, 1000u, 65536u}) {
    for (const char* name : {"q1", "join", "topk"}) {
      CAPTURE(batch_rows);
      CAPTURE(name);
      const auto out = data().dir.path() / ("b" + std::to_string(batch_rows) + name + ".csv");
      ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<void> {
        ftq::engine_options o;
        o.data_dir = data().dir.path() / "data";
        o.batch_rows = batch_rows;
        ftq::engine eng(ex, o);
        ftq::query_options qo;
        qo.output_csv = out;
        co_await eng.execute(load_example(name), qo);
      });
      CHECK(ftq::verify::compare_csv_text(ftq::test::read_file(out), expected(name)).equal);
    }
  }
}

TEST_CASE("five queries at once on one single-threaded io_context all match the oracle") {
  boost::asio::io_context io(1);
  ftq::engine_options o;
  o.data_dir = data().dir.path() / "data";
  ftq::engine eng(io.get_executor(), o);
  int finished = 0;
  std::vector<std::string> errors;
  for (const char* name : query_names) {
    ftq::query_options qo;
    qo.output_csv = data().dir.path() / (std::string("concurrent-") + name + ".csv");
    boost::asio::co_spawn(io, eng.execute(load_example(name), qo), [&](std::exception_ptr e, ftq::query_result) {
      ++finished;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          errors.push_back(ex.what());
        }
      }
    });
  }
  io.run_for(std::chrono::seconds(120));
  CHECK(finished == 5);
  CHECK(errors.empty());
  for (const char* name : query_names) {
    CAPTURE(name);
    const auto got = ftq::test::read_file(data().dir.path() / (std::string("concurrent-") + name + ".csv"));
    CHECK(ftq::verify::compare_csv_text(got, expected(name)).equal);
  }
}

TEST_CASE("an in-memory result equals the CSV result row for row") {
  auto r = ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<ftq::query_result> {
    ftq::engine_options o;
    o.data_dir = data().dir.path() / "data";
    ftq::engine eng(ex, o);
    co_return co_await eng.execute(load_example("q1"));
  });
  CHECK(r.rows == 4);
  REQUIRE(r.columns.size() == 10);
  CHECK(r.columns[0].name == "l_returnflag");
  std::size_t rows = 0;
  for (const auto& b : r.batches)
    rows += b.live_rows();
  CHECK(rows == 4);
}
