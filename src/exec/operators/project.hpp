#pragma once
/// Consumes its child's batches and produces, for each, one dense batch (no selection) with one
/// column per projected expression over the live rows. Plain column references over unselected
/// batches are passed through without copying. Finishes when the child does.

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class project_operator final : public physical_operator {
 public:
  project_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "project"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::vector<plan_detail::bound_expr> exprs_;
};

}  // namespace ftq::exec
