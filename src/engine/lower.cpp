#include "engine/lower.hpp"

#include <ftq/error.hpp>

#include "exec/operators/csv_scan.hpp"
#include "exec/operators/distinct.hpp"
#include "exec/operators/filter.hpp"
#include "exec/operators/hash_aggregate.hpp"
#include "exec/operators/hash_join.hpp"
#include "exec/operators/limit.hpp"
#include "exec/operators/project.hpp"
#include "exec/operators/sort.hpp"
#include "exec/operators/table_scan.hpp"
#include "exec/operators/top_k.hpp"

namespace ftq::engine_detail {

exec::operator_ptr lower(const plan_detail::bound_node& node) {
  std::vector<exec::operator_ptr> inputs;
  inputs.reserve(node.inputs.size());
  for (const auto& in : node.inputs)
    inputs.push_back(lower(*in));
  auto only_input = [&]() -> exec::operator_ptr {
    if (inputs.size() != 1) {
      throw error(errc::internal, node.path + ": expected one input, got " + std::to_string(inputs.size()));
    }
    return std::move(inputs[0]);
  };
  switch (node.kind) {
    case node_kind::csv_scan:
      return std::make_unique<exec::csv_scan_operator>(node);
    case node_kind::table_scan:
      return std::make_unique<exec::table_scan_operator>(node);
    case node_kind::filter:
      return std::make_unique<exec::filter_operator>(node, only_input());
    case node_kind::project:
      return std::make_unique<exec::project_operator>(node, only_input());
    case node_kind::limit:
      return std::make_unique<exec::limit_operator>(node, only_input());
    case node_kind::aggregate:
      return std::make_unique<exec::hash_aggregate_operator>(node, only_input());
    case node_kind::sort:
      return std::make_unique<exec::sort_operator>(node, only_input());
    case node_kind::top_k:
      return std::make_unique<exec::top_k_operator>(node, only_input());
    case node_kind::distinct:
      return std::make_unique<exec::distinct_operator>(node, only_input());
    case node_kind::hash_join:
      if (inputs.size() != 2)
        throw error(errc::internal, node.path + ": hash_join needs probe and build");
      return std::make_unique<exec::hash_join_operator>(node, std::move(inputs[0]), std::move(inputs[1]));
  }
  throw error(errc::internal, node.path + ": unknown node kind");
}

}  // namespace ftq::engine_detail
