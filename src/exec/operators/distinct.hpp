#pragma once
/// Consumes its child's batches and, for each, produces the rows whose whole tuple of values
/// was not seen before (NULL equals NULL), in first-seen order, without waiting for the end of
/// the input. Finishes when the child is exhausted.

#include <vector>

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class distinct_operator final : public physical_operator {
 public:
  distinct_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "distinct"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::vector<type_id> types_;
};

}  // namespace ftq::exec
