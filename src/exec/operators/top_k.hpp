#pragma once
/// Consumes every batch of its child, keeping only rows that can still be among the first k in
/// sort order (a batch's rows are first checked against the current k-th row), then produces
/// those k rows in order: exactly what sort followed by limit k would. Finishes after them.

#include <cstdint>
#include <optional>
#include <vector>

#include "exec/keys/sort_key_spec.hpp"
#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class top_k_operator final : public physical_operator {
 public:
  top_k_operator(const plan_detail::bound_node& node, operator_ptr child);

  std::string_view name() const noexcept override { return "top_k"; }
  bool blocking_input(std::size_t) const noexcept override { return true; }

  using key_spec = keys::sort_key_spec;

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::uint64_t k_;
  keys::sort_key_layout layout_;
};

}  // namespace ftq::exec
