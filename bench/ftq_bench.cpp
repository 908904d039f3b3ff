// ftq-bench: timing harness for ftq.
//
//   ftq-bench queries --data DIR [--plans DIR] [--runs N] [--json FILE]
//
// Loads every CSV the plans scan into in-memory tables once (and reports the CSV scan rate),
// then times each plan N times on those tables and prints median, min and max per query.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <ftq/csv.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "recovery_bench.hpp"

namespace po = boost::program_options;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in)
    throw std::runtime_error(p.string() + ": cannot read");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct loaded_table {
  ftq::table_ptr table;
  double load_s = 0;
  std::uintmax_t bytes = 0;
};

// Replaces every csv_scan by a table_scan of the same file loaded in memory (whole schema
// loaded once, the scan's column subset kept), so queries are timed without CSV parsing.
void to_memory_scans(ftq::plan_node& n, std::map<std::string, loaded_table>& tables,
                     const std::filesystem::path& data_dir) {
  for (auto& in : n.inputs)
    to_memory_scans(in, tables, data_dir);
  if (n.kind != ftq::node_kind::csv_scan)
    return;
  auto file = std::filesystem::path(n.path);
  if (file.is_relative())
    file = data_dir / file;
  const std::string name = file.stem().string();
  if (!tables.count(name)) {
    loaded_table t;
    t.bytes = std::filesystem::file_size(file);
    const auto t0 = std::chrono::steady_clock::now();
    t.table = ftq::load_csv_table(file, n.file_schema, name);
    t.load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "loaded %s: %zu rows, %.1f MB in %.3fs = %.0f MB/s (CSV scan rate)\n", file.c_str(),
                 t.table->row_count(), static_cast<double>(t.bytes) / 1e6, t.load_s,
                 static_cast<double>(t.bytes) / 1e6 / t.load_s);
    tables[name] = t;
  }
  ftq::plan_node scan;
  scan.kind = ftq::node_kind::table_scan;
  scan.table = name;
  scan.columns = n.columns;
  n = std::move(scan);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int queries_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq-bench queries --data DIR [--plans DIR] [--runs N] [--json FILE]\n\n"
      "Loads the tables the plans scan into memory once, then times each plan N times.\n\noptions");
  std::string data_dir, plans_dir = "examples/plans", json_out, only;
  int runs = 5;
  std::size_t batch_rows = ftq::default_batch_rows;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("data", po::value(&data_dir)->required(), "directory with lineitem.csv and orders.csv")
      ("plans", po::value(&plans_dir)->default_value("examples/plans"), "directory of *.json plans")
      ("queries", po::value(&only)->default_value("q1,q6,join,topk,distinct"), "comma-separated plan names")
      ("runs", po::value(&runs)->default_value(5), "timed runs per query")
      ("batch-rows", po::value(&batch_rows)->default_value(ftq::default_batch_rows), "rows per batch")
      ("json", po::value(&json_out), "also write the timings as JSON to FILE");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    if (vm.count("help")) {
      std::cout << flags << "\n";
      return 0;
    }
    po::notify(vm);
    if (runs < 1)
      throw po::error("--runs must be >= 1");
  } catch (const po::error& e) {
    std::cerr << "ftq-bench queries: " << e.what() << "\n\n" << flags << "\n";
    return 2;
  }

  std::map<std::string, loaded_table> tables;
  std::vector<std::pair<std::string, ftq::plan>> plans;
  std::stringstream names(only);
  for (std::string name; std::getline(names, name, ',');) {
    if (name.empty())
      continue;
    auto p = ftq::parse_plan(read_file(std::filesystem::path(plans_dir) / (name + ".json")));
    p.name = name;
    to_memory_scans(p.root, tables, data_dir);
    plans.emplace_back(name, std::move(p));
  }

  boost::asio::io_context io(1);
  ftq::engine_options options;
  options.batch_rows = batch_rows;
  ftq::engine eng(io.get_executor(), options);
  for (const auto& [name, t] : tables)
    eng.register_table(t.table);

  boost::json::object report;
  boost::json::object queries;
  std::printf("%-9s %10s %10s %10s %8s\n", "query", "median ms", "min ms", "max ms", "rows");
  for (const auto& [name, p] : plans) {
    std::vector<double> ms;
    std::uint64_t rows = 0;
    for (int r = 0; r < runs; ++r) {
      std::exception_ptr failure;
      const auto t0 = std::chrono::steady_clock::now();
      boost::asio::co_spawn(io, eng.execute(p), [&](std::exception_ptr e, ftq::query_result res) {
        failure = e;
        rows = res.rows;
      });
      io.restart();
      io.run();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (failure)
        std::rethrow_exception(failure);
    }
    const double med = median(ms);
    std::printf("%-9s %10.2f %10.2f %10.2f %8llu\n", name.c_str(), med, *std::min_element(ms.begin(), ms.end()),
                *std::max_element(ms.begin(), ms.end()), static_cast<unsigned long long>(rows));
    boost::json::array times;
    for (double t : ms)
      times.push_back(t);
    queries[name] = {{"median_ms", med},
                     {"min_ms", *std::min_element(ms.begin(), ms.end())},
                     {"max_ms", *std::max_element(ms.begin(), ms.end())},
                     {"times_ms", times},
                     {"rows", rows}};
  }
  boost::json::object loads;
  for (const auto& [name, t] : tables) {
    loads[name] = {{"rows", t.table->row_count()},
                   {"bytes", t.bytes},
                   {"load_s", t.load_s},
                   {"mb_per_s", static_cast<double>(t.bytes) / 1e6 / t.load_s}};
  }
  report["engine"] = "ftq";
  report["runs"] = runs;
  report["batch_rows"] = batch_rows;
  report["queries"] = queries;
  report["csv_load"] = loads;
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << boost::json::serialize(report) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* usage =
      "usage: ftq-bench COMMAND [OPTIONS]\n\ncommands:\n"
      "  queries   time the example plans on in-memory tables (ftq-bench queries --help)\n"
      "  recovery  what failures cost with checkpoints and without (ftq-bench recovery --help)\n";
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h") {
    std::fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  try {
    if (std::string_view(argv[1]) == "queries")
      return queries_command(argc - 1, argv + 1);
    if (std::string_view(argv[1]) == "recovery")
      return ftq::bench::recovery_command(argc - 1, argv + 1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftq-bench: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "ftq-bench: unknown command '%s'\n%s", argv[1], usage);
  return 2;
}
