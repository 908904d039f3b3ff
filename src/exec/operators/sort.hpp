#pragma once
/// Consumes every batch of its child, then produces all of its rows ordered by the sort keys
/// (ascending or descending, NULLs last either way, equal keys in input order), in batches of
/// the context's batch size. Finishes after the last row has gone out.

#include <optional>
#include <vector>

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class sort_operator final : public physical_operator {
 public:
  sort_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "sort"; }

  /// A sort key: a column of the input as is, or else an expression stored per row.
  struct key_spec {
    plan_detail::bound_expr expr;
    bool descending = false;
    std::optional<std::size_t> input_column;  // set when `expr` is a bare column reference
    std::size_t computed = 0;                 // otherwise its index among the computed keys
  };

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::vector<key_spec> keys_;
  std::vector<type_id> input_types_;
  std::vector<type_id> computed_types_;
};

}  // namespace ftq::exec
