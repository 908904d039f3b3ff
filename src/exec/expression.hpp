#pragma once
/// Evaluates bound expressions over whole batches: one switch per expression node per batch,
/// then a tight loop over the live rows; no per-row virtual call, allocation or co_await.

#include <ftq/batch.hpp>

#include "plan/bound_plan.hpp"

namespace ftq::exec {

using plan_detail::bound_expr;

/// Evaluates a value expression (not a predicate) over the live rows of `in`. The result has
/// exactly in.live_rows() values, dense, in live-row order. A column reference over a batch
/// without selection returns the input column itself (no copy).
column_ptr evaluate(const bound_expr& e, const batch& in);

/// Narrows the live rows of `b` to those where `predicate` is TRUE; FALSE and NULL rows drop out
/// (SQL WHERE semantics). Conjunctions narrow step by step, so later conjuncts see fewer rows.
void apply_filter(const bound_expr& predicate, batch& b);

/// Evaluates a predicate to three-valued truth per live row: 1 true, 0 false, 2 NULL.
std::vector<std::uint8_t> evaluate_predicate(const bound_expr& predicate, const batch& in);

}  // namespace ftq::exec
