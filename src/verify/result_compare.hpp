#pragma once
/// Compares a result CSV with an expected one under the oracle's rules (check.sh): same number
/// of columns and rows; a cell matches when equal as text or when both parse as numbers within a
/// relative 1e-6 (absolute 1e-9); rows in order unless `unordered`. Headers compare
/// case-insensitively and only warn. Returns every mismatch found (the first 20 in detail).

#include <string>
#include <string_view>
#include <vector>

namespace ftq::verify {

struct compare_options {
  double relative = 1e-6;
  double absolute = 1e-9;
  bool unordered = false;
};

struct compare_report {
  bool equal = false;
  std::vector<std::string> problems;  // human-readable, "row 3 col sum_qty: got '1', expected '2'"
  std::size_t rows = 0;
};

/// Parses RFC 4180 CSV text (quoted fields, "" escapes, CRLF) into rows of cells.
std::vector<std::vector<std::string>> parse_csv_text(std::string_view text);

compare_report compare_csv_text(std::string_view result, std::string_view expected,
                                const compare_options& options = {});

}  // namespace ftq::verify
