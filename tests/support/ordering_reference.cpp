#include "support/ordering_reference.hpp"

#include <algorithm>
#include <random>
#include <string>

#include "support/bound_plan_builders.hpp"

namespace ftq::test {

namespace {

// SQL order of two non-NULL cells of one type: numbers numerically, strings bytewise.
int compare_cells(const cell& a, const cell& b) {
  if (const auto* x = std::get_if<std::int64_t>(&a)) {
    const auto y = std::get<std::int64_t>(b);
    return *x < y ? -1 : (*x > y ? 1 : 0);
  }
  if (const auto* x = std::get_if<double>(&a)) {
    const auto y = std::get<double>(b);
    return *x < y ? -1 : (*x > y ? 1 : 0);
  }
  const int c = std::get<std::string>(a).compare(std::get<std::string>(b));
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

// The order sort and top_k promise: by each key in turn, NULLs last either way, ties stable.
std::vector<row> reference_order(std::vector<row> rows, const std::vector<key>& keys) {
  std::stable_sort(rows.begin(), rows.end(), [&](const row& a, const row& b) {
    for (const auto& k : keys) {
      const bool an = std::holds_alternative<std::monostate>(a[k.column]);
      const bool bn = std::holds_alternative<std::monostate>(b[k.column]);
      if (an || bn) {
        if (an && bn) {
          continue;
        }
        return bn;
      }
      const int c = compare_cells(a[k.column], b[k.column]);
      if (c != 0) {
        return k.descending ? c > 0 : c < 0;
      }
    }
    return false;
  });
  return rows;
}

plan_detail::bound_node ordering_node(node_kind kind, const schema& s, const std::vector<key>& keys) {
  plan_detail::bound_node n;
  n.kind = kind;
  n.id = 0;
  n.path = "plan";
  n.output = s;
  for (const auto& k : keys) {
    n.keys.push_back({column_ref(k.column, s[k.column].type), k.descending});
  }
  return n;
}

// Rows over (i int64, f float64, s string, tag int64) with many ties and NULLs; `tag` is the
// input position, so a wrong tie order shows. Strings share long prefixes.
const schema ifs({{"i", type_id::int64}, {"f", type_id::float64}, {"s", type_id::string}, {"tag", type_id::int64}});

std::vector<row> random_rows(std::size_t n, std::uint32_t seed, bool long_strings) {
  std::mt19937 rng(seed);
  const std::vector<std::string> words = {"", "a", "a\0", "ab", "b", "\xff", "B", "zz"};
  std::vector<row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    row r;
    r.push_back(rng() % 7 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % 9) - 4));
    const double fs[] = {-1.5, -0.0, 0.0, 2.25, 1e300, -1e300, 7.0};
    r.push_back(rng() % 7 == 0 ? null_cell : cell(fs[rng() % 7]));
    std::string str = words[rng() % words.size()];
    if (long_strings && rng() % 2 == 0) {
      str = "common-prefix-" + str + std::to_string(rng() % 3);
    }
    r.push_back(rng() % 7 == 0 ? null_cell : cell(str));
    r.push_back(static_cast<std::int64_t>(i));
    rows.push_back(std::move(r));
  }
  return rows;
}

// Key lists worth checking: each type first, both directions, single and several keys.
const std::vector<std::vector<key>> key_lists = {
    {{0, false}},
    {{0, true}},
    {{1, false}},
    {{1, true}, {0, false}},
    {{2, false}},
    {{2, true}},
    {{2, false}, {1, true}, {0, false}},
    {{0, true}, {2, true}},
    {{3, true}},
};

}  // namespace ftq::test
