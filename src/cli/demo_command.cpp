#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "cli/commands.hpp"
#include "cli/embedded_file.hpp"
#include "cli/flags.hpp"
#include "cli/progress_display.hpp"
#include "tools/gen.hpp"
#include "verify/result_compare.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Regenerates the data only when DIR/PARAMS does not already describe the same arguments.
void ensure_data(const std::filesystem::path& dir, std::uint64_t rows, std::int64_t seed) {
  const std::string want = "rows=" + std::to_string(rows) + " seed=" + std::to_string(seed) + " ";
  if (std::filesystem::exists(dir / "lineitem.csv") && read_file(dir / "PARAMS").rfind(want, 0) == 0) {
    std::fprintf(stderr, "demo: using the data in %s\n", dir.c_str());
    return;
  }
  tools::gen_options g;
  g.rows = rows;
  g.seed = seed;
  g.out_dir = dir;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = tools::generate(g);
  std::fprintf(stderr, "demo: generated %llu lineitem and %llu orders rows in %s (%.2fs)\n",
               static_cast<unsigned long long>(r.lineitem_rows), static_cast<unsigned long long>(r.orders_rows),
               dir.c_str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

struct demo_query {
  std::string name;
  plan p;
  query_ptr concurrent;
  double concurrent_s = 0;
  double alone_s = 0;
  std::uint64_t rows = 0;
  std::string error;
  std::string same_as_alone = "-";
  std::string oracle = "-";
};

}  // namespace

int demo_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq demo [--rows N] [--seed S] [--dir DIR]\n\n"
      "Generates a data set, runs the five example queries (q1, q6, join, topk, distinct) at\n"
      "once on one single-threaded io_context with progress bars, runs each again alone, and\n"
      "checks that both runs agree; with the default --rows and --seed it also checks every\n"
      "result against the oracle's expected answers compiled into ftq.\n\noptions");
  std::uint64_t rows = 100000;
  std::int64_t seed = 42;
  std::string dir;
  std::size_t batch_rows = default_batch_rows;
  std::string progress = "auto";
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("rows", po::value(&rows)->default_value(100000), "lineitem rows to generate")
      ("seed", po::value(&seed)->default_value(42), "generator seed")
      ("dir", po::value(&dir), "working directory for data and results (default: $TMPDIR/ftq-demo-ROWS-SEED)")
      ("batch-rows", po::value(&batch_rows)->default_value(default_batch_rows), "rows per batch")
      ("progress", po::value(&progress)->default_value("auto"), "progress bars: auto, always, never");
  // clang-format on
  po::variables_map vm;
  auto check = [&] {
    if (rows < 1) {
      throw po::error("--rows must be >= 1");
    }
    check_progress_mode(progress);
  };
  if (auto stop = parse_flags("demo", argc, argv, flags, vm, {}, check)) {
    return *stop;
  }
  std::filesystem::path work = dir;
  if (work.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    work = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
           ("ftq-demo-" + std::to_string(rows) + "-" + std::to_string(seed));
  }
  const auto data = work / "data";
  try {
    std::filesystem::create_directories(work / "concurrent");
    std::filesystem::create_directories(work / "alone");
    ensure_data(data, rows, seed);
  } catch (const std::exception& e) {
    std::cerr << "ftq demo: " << e.what() << "\n";
    return exit_failed;
  }

  std::vector<demo_query> queries;
  for (const auto& f : example_plans()) {
    demo_query q;
    q.name = std::string(f.name);
    try {
      q.p = parse_plan(f.content);
    } catch (const plan_error& e) {
      std::cerr << "ftq demo: embedded plan " << q.name << ": " << e.what() << "\n";
      return exit_failed;
    }
    q.p.name = q.name;
    queries.push_back(std::move(q));
  }

  engine_options options;
  options.data_dir = data;
  options.batch_rows = batch_rows;
  const bool show = show_progress(progress);

  // All five at once on one thread.
  {
    boost::asio::io_context io(1);
    engine eng(io.get_executor(), options);
    progress_display display(show);
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& q : queries) {
      query_options qo;
      qo.output_csv = work / "concurrent" / (q.name + ".csv");
      q.concurrent = eng.prepare(q.p, qo);
      display.add(q.name, q.concurrent);
      boost::asio::co_spawn(io, eng.run(q.concurrent), [&q, t0](std::exception_ptr e, query_result r) {
        q.concurrent_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        q.rows = r.rows;
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            q.error = ex.what();
          }
        }
      });
    }
    boost::asio::co_spawn(io, display.run(), boost::asio::detached);
    io.run();
  }

  // Each again, alone, as the reference the concurrent run must equal.
  for (auto& q : queries) {
    boost::asio::io_context io(1);
    engine eng(io.get_executor(), options);
    query_options qo;
    qo.output_csv = work / "alone" / (q.name + ".csv");
    std::string alone_error;
    const auto t0 = std::chrono::steady_clock::now();
    boost::asio::co_spawn(io, eng.execute(q.p, qo), [&](std::exception_ptr e, query_result) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          alone_error = ex.what();
        }
      }
    });
    io.run();
    q.alone_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!alone_error.empty() && q.error.empty())
      q.error = "alone: " + alone_error;
    if (q.error.empty()) {
      const auto a = read_file(work / "concurrent" / (q.name + ".csv"));
      const auto b = read_file(work / "alone" / (q.name + ".csv"));
      q.same_as_alone = a == b ? "yes" : "NO";
    }
  }

  const bool oracle_data = rows == 100000 && seed == 42;
  if (oracle_data) {
    for (auto& q : queries) {
      if (!q.error.empty())
        continue;
      for (const auto& f : expected_100k()) {
        if (f.name != q.name)
          continue;
        const auto r = verify::compare_csv_text(read_file(work / "concurrent" / (q.name + ".csv")), f.content);
        q.oracle = r.equal ? "yes" : "NO: " + (r.problems.empty() ? std::string("?") : r.problems.front());
      }
    }
  }

  bool all_ok = true;
  std::printf("\n%-9s %10s %14s %10s %14s  %s\n", "query", "rows", "concurrent s", "alone s", "same as alone",
              oracle_data ? "matches oracle" : "oracle (only for --rows 100000 --seed 42)");
  for (const auto& q : queries) {
    if (!q.error.empty()) {
      std::printf("%-9s FAILED: %s\n", q.name.c_str(), q.error.c_str());
      all_ok = false;
      continue;
    }
    std::printf("%-9s %10llu %14.3f %10.3f %14s  %s\n", q.name.c_str(), static_cast<unsigned long long>(q.rows),
                q.concurrent_s, q.alone_s, q.same_as_alone.c_str(), q.oracle.c_str());
    all_ok = all_ok && q.same_as_alone == "yes" && (!oracle_data || q.oracle == "yes");
  }
  std::printf("\nresults: %s/concurrent/*.csv\n%s\n", work.c_str(),
              all_ok ? "demo: every query verified" : "demo: VERIFICATION FAILED");
  return all_ok ? exit_ok : exit_failed;
}

}  // namespace ftq::cli
