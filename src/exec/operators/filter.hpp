#pragma once
/// Consumes its child's batches and passes on each one with its selection narrowed to the rows
/// where the predicate is TRUE (no copying of column data); batches left empty are skipped.
/// Finishes when the child does.

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class filter_operator final : public physical_operator {
 public:
  filter_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "filter"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  plan_detail::bound_expr predicate_;
};

}  // namespace ftq::exec
