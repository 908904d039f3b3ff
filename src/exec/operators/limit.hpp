#pragma once
/// Consumes its child's batches, drops the first `offset` live rows and passes on at most `limit`
/// rows after them (limit -1: all), slicing batches through their selection vectors. Finishes,
/// without pulling the child again, as soon as `limit` rows have gone out.

#include <cstdint>

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class limit_operator final : public physical_operator {
 public:
  limit_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "limit"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::int64_t limit_;  // -1: no limit
  std::int64_t offset_;
};

}  // namespace ftq::exec
