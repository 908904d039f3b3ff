#pragma once
/// Builds aggregate nodes by hand, typing each aggregate as hash_aggregate does (through
/// exec::aggregate_result_type), so the operator's tests and its snapshot tests describe their
/// aggregates one way.

#include <cstddef>
#include <optional>
#include <vector>

#include <ftq/plan.hpp>
#include <ftq/types.hpp>

#include "plan/bound_plan.hpp"

namespace ftq::test {

/// One aggregate: `fn` over `arg` (none for COUNT(*)).
struct agg_spec {
  agg_fn fn;
  std::optional<plan_detail::bound_expr> arg;
};

/// An aggregate node with id `id` and path "plan" over an input of schema `in`: groups by the
/// input columns `group_cols` and computes `aggs`; outputs the group columns, then a0, a1, ...
plan_detail::bound_node aggregate_node(std::size_t id, const schema& in, const std::vector<std::size_t>& group_cols,
                                       const std::vector<agg_spec>& aggs);

}  // namespace ftq::test
