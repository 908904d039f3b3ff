#pragma once
/// Consumes every batch of its child, folding each row into its group's SUM, COUNT, COUNT(*),
/// AVG, MIN, MAX and COUNT(DISTINCT) as it arrives (NULL group keys form one group). Then
/// produces one row per group, group columns first, in first-seen group order; ungrouped, exactly
/// one row even for empty input. Finishes after the last group has gone out.

#include <cstdint>
#include <vector>

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

/// The type an aggregate yields over an argument of type `arg` (ignored for COUNT(*)): the
/// argument's for SUM, MIN and MAX, float64 for AVG, int64 for the counts.
type_id aggregate_result_type(agg_fn fn, type_id arg);

class hash_aggregate_operator final : public physical_operator {
 public:
  hash_aggregate_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "hash_aggregate"; }
  bool blocking_input(std::size_t) const noexcept override { return true; }

  /// An argument expression folded once per batch for every aggregate that uses it.
  struct input_spec {
    plan_detail::bound_expr expr;
    type_id type = type_id::int64;
    bool sum = false;  // SUM or AVG reads the running sum
    bool min = false;
    bool max = false;
  };
  /// One output aggregate: which input it reads (an index into inputs, or into distinct_inputs
  /// for COUNT(DISTINCT); unused for COUNT(*)).
  struct output_spec {
    agg_fn fn = agg_fn::count_star;
    std::size_t input = 0;
    type_id type = type_id::int64;
  };

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::vector<plan_detail::bound_expr> group_by_;
  std::vector<type_id> group_types_;
  std::vector<input_spec> inputs_;
  std::vector<input_spec> distinct_inputs_;
  std::vector<output_spec> outputs_;
};

}  // namespace ftq::exec
