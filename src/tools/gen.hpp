#pragma once
/// Generates the benchmark's TPC-H-like lineitem.csv and orders.csv (plus PARAMS) into a
/// directory, byte-identical to tests/data/oracle/gen.py for the same (rows, seed, parts,
/// customers). Finishes when all three files are written and closed.

#include <cstdint>
#include <filesystem>
#include <optional>

namespace ftq::tools {

struct gen_options {
  // Exact number of lineitem rows; must be >= 1. The last order is cut short to hit it.
  std::uint64_t rows = 0;
  // Seed of Python's random.Random; only its absolute value matters, as in gen.py.
  std::int64_t seed = 42;
  // Part key range [1, parts]; unset means max(1, rows / 4) so ~98% of keys appear.
  std::optional<std::int64_t> parts;
  // Customer key range [1, customers]; unset means max(4, rows / 40), TPC-H's ratio.
  std::optional<std::int64_t> customers;
  // Directory to write into; created (with parents) if missing, files in it overwritten.
  std::filesystem::path out_dir;
};

struct gen_result {
  std::uint64_t lineitem_rows = 0;
  std::uint64_t orders_rows = 0;
  std::int64_t parts = 0;
  std::int64_t customers = 0;
  std::filesystem::path lineitem_path;
  std::filesystem::path orders_path;
};

/// Writes out_dir/lineitem.csv, out_dir/orders.csv and out_dir/PARAMS exactly as gen.py.
/// Throws std::invalid_argument for rows < 1, parts < 1 or customers < 2 (before touching
/// the disk) and ftq::io_error, carrying the path, when a directory or file cannot be written.
gen_result generate(const gen_options& opts);

}  // namespace ftq::tools
