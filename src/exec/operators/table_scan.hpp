#pragma once
/// Produces the batches of an in-memory ftq::table, restricted to the plan's columns, sharing the
/// table's column vectors (no copy, no re-chunking). Finishes after the table's last batch.

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class table_scan_operator final : public physical_operator {
 public:
  explicit table_scan_operator(const plan_detail::bound_node& node);

  std::string_view name() const noexcept override { return "table_scan"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  table_ptr table_;
  std::vector<std::size_t> columns_;  // table column index of each output column
};

}  // namespace ftq::exec
