#pragma once
/// Consumes every batch of its child, then produces all of its rows ordered by the sort keys
/// (ascending or descending, NULLs last either way, equal keys in input order), in batches of
/// the context's batch size. Finishes after the last row has gone out.

#include <optional>
#include <vector>

#include "exec/keys/sort_key_spec.hpp"
#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class sort_operator final : public physical_operator {
 public:
  sort_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "sort"; }
  bool blocking_input(std::size_t) const noexcept override { return true; }

  using key_spec = keys::sort_key_spec;

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  keys::sort_key_layout layout_;
};

}  // namespace ftq::exec
