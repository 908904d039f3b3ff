#include <chrono>
#include <cstdio>
#include <iostream>

#include <boost/program_options.hpp>

#include <ftq/error.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "tools/gen.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

int gen_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq gen --rows N [--seed S] --out DIR\n\n"
      "Writes DIR/lineitem.csv and DIR/orders.csv, byte-identical to the oracle's gen.py for\n"
      "the same arguments, and DIR/PARAMS.\n\noptions");
  std::int64_t rows = 0;
  std::int64_t seed = 42;
  std::int64_t parts = 0;
  std::int64_t customers = 0;
  std::string out;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("rows", po::value(&rows)->required(), "exact number of lineitem rows (>= 1)")
      ("seed", po::value(&seed)->default_value(42), "seed of Python's Mersenne Twister")
      ("parts", po::value(&parts), "partkey range [1, parts]; default rows / 4")
      ("customers", po::value(&customers), "custkey range [1, customers]; default rows / 40")
      ("out", po::value(&out)->required(), "output directory (created if missing)");
  // clang-format on
  po::variables_map vm;
  if (auto stop = parse_flags("gen", argc, argv, flags, vm)) {
    return *stop;
  }
  if (rows < 1) {
    std::cerr << "ftq gen: --rows must be >= 1\n";
    return exit_usage;
  }
  tools::gen_options options;
  options.rows = static_cast<std::uint64_t>(rows);
  options.seed = seed;
  if (vm.count("parts"))
    options.parts = parts;
  if (vm.count("customers"))
    options.customers = customers;
  options.out_dir = out;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = tools::generate(options);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "wrote %s (%llu rows), %s (%llu rows); parts=%lld customers=%lld seed=%lld in %.2fs\n",
                 r.lineitem_path.c_str(), static_cast<unsigned long long>(r.lineitem_rows), r.orders_path.c_str(),
                 static_cast<unsigned long long>(r.orders_rows), static_cast<long long>(r.parts),
                 static_cast<long long>(r.customers), static_cast<long long>(seed), s);
  } catch (const std::invalid_argument& e) {
    std::cerr << "ftq gen: " << e.what() << "\n";
    return exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "ftq gen: " << e.what() << "\n";
    return exit_failed;
  }
  return exit_ok;
}

}  // namespace ftq::cli
