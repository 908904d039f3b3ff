#pragma once
/// Builds bound expressions and nodes by hand, so executor tests can exercise an operator
/// without going through the binder.

#include <cstdint>
#include <string>
#include <vector>

#include <ftq/table.hpp>
#include <ftq/types.hpp>

#include "plan/bound_plan.hpp"

namespace ftq::test {

/// Column `index` of the input batch, of type `t`.
plan_detail::bound_expr column_ref(std::size_t index, type_id t);
/// Constants of each type; lit_null is a NULL of type `t`.
plan_detail::bound_expr lit_i(std::int64_t v);
plan_detail::bound_expr lit_d(double v);
plan_detail::bound_expr lit_s(std::string v);
plan_detail::bound_expr lit_null(type_id t);
/// `op` over `args`, of result type `t`; expr_pred is the same with a boolean result.
plan_detail::bound_expr expr_node(expr_op op, type_id t, std::vector<plan_detail::bound_expr> args);
plan_detail::bound_expr expr_pred(expr_op op, std::vector<plan_detail::bound_expr> args);

/// A table_scan node with id `id` over every column of `t`, in order.
plan_detail::bound_node table_scan_node(const table_ptr& t, std::size_t id);

}  // namespace ftq::test
