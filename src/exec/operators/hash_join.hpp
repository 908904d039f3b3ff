#pragma once
/// Consumes every batch of its build child (input 1) into a hash table on the build keys, then
/// streams the probe child (input 0), producing for each probe row one row per build row with
/// equal keys: probe columns, then build columns (inner equi-join; NULL keys never match).
/// Finishes when the probe child is exhausted, or without pulling it if no build key can match.

#include <vector>

#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

class hash_join_operator final : public physical_operator {
 public:
  hash_join_operator(const plan_detail::bound_node& node, operator_ptr probe, operator_ptr build);

  std::string_view name() const noexcept override { return "hash_join"; }
  /// Child 0 is probed, child 1 (the build side) is consumed whole first.
  bool blocking_input(std::size_t i) const noexcept override { return i == 1; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  boost::asio::awaitable<void> build(execution_context& ctx) const;

  std::vector<plan_detail::bound_expr> probe_keys_;
  std::vector<plan_detail::bound_expr> build_keys_;
  std::vector<type_id> key_types_;
  std::vector<type_id> build_types_;  // build child's columns
  std::size_t probe_width_ = 0;       // probe child's column count
};

}  // namespace ftq::exec
