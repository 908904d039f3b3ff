#pragma once
/// Provides the input the aggregate tests share, columns g (int64), x (int64), y (float64) and
/// s (string): a reference to each column, and every aggregate function over each argument type
/// it takes. Header-only, so a test's own namespace-scope lists built from these initialize after
/// them.

#include <optional>
#include <vector>

#include "support/aggregate_nodes.hpp"
#include "support/bound_plan_builders.hpp"

namespace ftq::test {

inline const plan_detail::bound_expr g_ref = column_ref(0, type_id::int64);
inline const plan_detail::bound_expr x_ref = column_ref(1, type_id::int64);
inline const plan_detail::bound_expr y_ref = column_ref(2, type_id::float64);
inline const plan_detail::bound_expr s_ref = column_ref(3, type_id::string);

/// hash_aggregate_test's expected values follow this order.
inline const std::vector<agg_spec> every_aggregate = {
    {agg_fn::sum, x_ref},
    {agg_fn::sum, y_ref},
    {agg_fn::count, x_ref},
    {agg_fn::count_star, std::nullopt},
    {agg_fn::avg, x_ref},
    {agg_fn::avg, y_ref},
    {agg_fn::min, x_ref},
    {agg_fn::max, x_ref},
    {agg_fn::min, y_ref},
    {agg_fn::max, y_ref},
    {agg_fn::min, s_ref},
    {agg_fn::max, s_ref},
    {agg_fn::count_distinct, x_ref},
    {agg_fn::count_distinct, s_ref},
    {agg_fn::count, s_ref},
};

}  // namespace ftq::test
