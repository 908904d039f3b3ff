#include "verify/result_compare.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

namespace ftq::verify {

std::vector<std::vector<std::string>> parse_csv_text(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool in_quotes = false;
  bool any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    any = true;
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        cell += c;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')
        ++i;
      row.push_back(std::move(cell));
      cell.clear();
      rows.push_back(std::move(row));
      row.clear();
      any = false;
    } else {
      cell += c;
    }
  }
  if (any) {
    row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

namespace {

// Python's float() accepts surrounding whitespace, "inf", "nan" and the like; strtod is close
// enough for the cells ftq and DuckDB write.
std::optional<double> as_number(const std::string& s) {
  if (s.empty())
    return std::nullopt;
  const char* begin = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin)
    return std::nullopt;
  while (*end == ' ' || *end == '\t')
    ++end;
  if (*end != '\0')
    return std::nullopt;
  return v;
}

bool cells_equal(const std::string& a, const std::string& b, const compare_options& o) {
  if (a == b)
    return true;
  const auto x = as_number(a);
  const auto y = as_number(b);
  if (!x || !y)
    return false;
  if (std::isnan(*x) || std::isnan(*y))
    return std::isnan(*x) && std::isnan(*y);
  if (std::isinf(*x) || std::isinf(*y))
    return *x == *y;
  return std::abs(*x - *y) <= std::max(o.relative * std::max(std::abs(*x), std::abs(*y)), o.absolute);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Sorting key of check.sh: numbers (rounded to 9 significant digits) after strings.
struct sort_cell {
  int kind;
  std::string text;
  double number;
  auto operator<=>(const sort_cell&) const = default;
};

std::vector<sort_cell> sort_key(const std::vector<std::string>& row) {
  std::vector<sort_cell> key;
  for (const auto& c : row) {
    const auto v = as_number(c);
    if (v && std::isfinite(*v)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.9g", *v);
      key.push_back({1, "", std::strtod(buf, nullptr)});
    } else {
      key.push_back({0, c, 0.0});
    }
  }
  return key;
}

}  // namespace

compare_report compare_csv_text(std::string_view result, std::string_view expected, const compare_options& o) {
  compare_report report;
  auto got = parse_csv_text(result);
  auto want = parse_csv_text(expected);
  if (got.empty() || want.empty()) {
    report.problems.push_back("empty file (no header)");
    return report;
  }
  const auto got_header = got.front();
  const auto want_header = want.front();
  got.erase(got.begin());
  want.erase(want.begin());
  report.rows = want.size();
  if (got_header.size() != want_header.size()) {
    report.problems.push_back(std::to_string(got_header.size()) + " columns, expected " +
                              std::to_string(want_header.size()));
    return report;
  }
  for (std::size_t c = 0; c < got_header.size(); ++c) {
    if (lower(got_header[c]) != lower(want_header[c])) {
      report.problems.push_back("warning: header column " + std::to_string(c + 1) + " is '" + got_header[c] +
                                "', expected '" + want_header[c] + "'");
    }
  }
  const std::size_t warnings = report.problems.size();
  if (got.size() != want.size()) {
    report.problems.push_back(std::to_string(got.size()) + " rows, expected " + std::to_string(want.size()));
  }
  if (o.unordered) {
    auto by_key = [](const auto& a, const auto& b) { return sort_key(a) < sort_key(b); };
    std::stable_sort(got.begin(), got.end(), by_key);
    std::stable_sort(want.begin(), want.end(), by_key);
  }
  std::size_t bad = 0;
  const std::size_t n = std::min(got.size(), want.size());
  for (std::size_t r = 0; r < n; ++r) {
    if (got[r].size() != want[r].size()) {
      if (++bad <= 20) {
        report.problems.push_back("row " + std::to_string(r + 1) + " has " + std::to_string(got[r].size()) +
                                  " cells, expected " + std::to_string(want[r].size()));
      }
      continue;
    }
    for (std::size_t c = 0; c < got[r].size(); ++c) {
      if (!cells_equal(got[r][c], want[r][c], o)) {
        if (++bad <= 20) {
          report.problems.push_back("row " + std::to_string(r + 1) + " col " + want_header[c] + ": got '" + got[r][c] +
                                    "', expected '" + want[r][c] + "'");
        }
      }
    }
  }
  if (bad > 20)
    report.problems.push_back(std::to_string(bad) + " mismatching cells in all");
  report.equal = report.problems.size() == warnings;
  return report;
}

}  // namespace ftq::verify
