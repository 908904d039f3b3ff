#pragma once
/// Turns a bound plan into its tree of physical operators, one operator per plan node, each
/// keeping the node's id so operator state and plan paths line up.

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::engine_detail {

exec::operator_ptr lower(const plan_detail::bound_node& node);

}  // namespace ftq::engine_detail
