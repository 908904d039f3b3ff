#include "exec/operators/project.hpp"

#include "exec/expression.hpp"
#include "exec/state/stateless_state.hpp"

namespace ftq::exec {

namespace {

// A projection keeps nothing between batches. project v1: [tag, 1, full], a stateless_state.
constexpr std::string_view project_tag = "project";
constexpr std::uint32_t project_version = 1;

}  // namespace

project_operator::project_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))), exprs_(node.exprs) {}

std::unique_ptr<operator_state> project_operator::make_state(execution_context&) const {
  return std::make_unique<stateless_state>(project_tag, project_version);
}

boost::asio::awaitable<std::optional<batch>> project_operator::produce(execution_context& ctx) const {
  std::optional<batch> in = co_await child(0).next(ctx);
  if (!in) {
    co_return std::nullopt;
  }
  batch out;
  out.rows = in->live_rows();
  out.columns.reserve(exprs_.size());
  for (const auto& e : exprs_) {
    out.columns.push_back(evaluate(e, *in));
  }
  co_return out;
}

}  // namespace ftq::exec
