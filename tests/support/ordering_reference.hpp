#pragma once
/// Computes the order sort and top_k promise (each key in turn, NULLs last, ties stable) by
/// a plain stable_sort, and provides the shared tie-heavy input and key lists both tests use.

#include <cstdint>
#include <vector>

#include <ftq/plan.hpp>
#include <ftq/types.hpp>

#include "plan/bound_plan.hpp"
#include "support/operator_harness.hpp"

namespace ftq::test {

struct key {
  std::size_t column;
  bool descending;
};

/// `rows` in the order sort and top_k promise for `keys`.
std::vector<row> reference_order(std::vector<row> rows, const std::vector<key>& keys);

/// A sort or top_k node over `s` ordering by `keys`.
plan_detail::bound_node ordering_node(node_kind kind, const schema& s, const std::vector<key>& keys);

/// (i int64, f float64, s string, tag int64): `tag` is the input position, so a wrong tie
/// order shows.
extern const schema ifs;

/// `n` rows over `ifs` with many ties and NULLs; strings share long prefixes when asked.
std::vector<row> random_rows(std::size_t n, std::uint32_t seed, bool long_strings);

/// Key lists worth checking: each type first, both directions, single and several keys.
extern const std::vector<std::vector<key>> key_lists;

}  // namespace ftq::test
