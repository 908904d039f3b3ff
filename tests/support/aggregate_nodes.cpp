#include "support/aggregate_nodes.hpp"

#include <string>

#include "exec/operators/hash_aggregate.hpp"
#include "support/bound_plan_builders.hpp"

namespace ftq::test {

plan_detail::bound_node aggregate_node(std::size_t id, const schema& in, const std::vector<std::size_t>& group_cols,
                                       const std::vector<agg_spec>& aggs) {
  plan_detail::bound_node n;
  n.kind = node_kind::aggregate;
  n.id = id;
  n.path = "plan";
  std::vector<field> out;
  for (std::size_t g : group_cols) {
    n.group_by.push_back(column_ref(g, in[g].type));
    out.push_back(in[g]);
  }
  for (std::size_t i = 0; i < aggs.size(); ++i) {
    const type_id t = exec::aggregate_result_type(aggs[i].fn, aggs[i].arg ? aggs[i].arg->type : type_id::int64);
    n.aggregates.push_back({aggs[i].fn, aggs[i].arg, t});
    out.push_back({"a" + std::to_string(i), t});
  }
  n.output = schema(out);
  return n;
}

}  // namespace ftq::test
