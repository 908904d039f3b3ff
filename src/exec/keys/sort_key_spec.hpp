#pragma once
/// Describes how sort and top_k read their keys: a key that is a bare input column is read from
/// the buffered input rows; any other expression is evaluated per batch and stored beside them.

#include <cstddef>
#include <optional>
#include <vector>

#include <ftq/types.hpp>

#include "plan/bound_plan.hpp"

namespace ftq::exec::keys {

struct sort_key_spec {
  plan_detail::bound_expr expr;
  bool descending = false;
  std::optional<std::size_t> input_column;  // set when `expr` is a bare column reference
  std::size_t computed = 0;                 // otherwise its index among the computed keys
};

struct sort_key_layout {
  std::vector<sort_key_spec> keys;
  std::vector<type_id> input_types;     // every input column's type, in input order
  std::vector<type_id> computed_types;  // the type of each computed key
};

sort_key_layout make_sort_key_layout(const std::vector<plan_detail::bound_sort_key>& keys, const schema& input);

}  // namespace ftq::exec::keys
