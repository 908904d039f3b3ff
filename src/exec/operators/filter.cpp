#include "exec/operators/filter.hpp"

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/state/stateless_state.hpp"

namespace ftq::exec {

namespace {

// A filter keeps nothing between batches. filter v1: [tag, 1, full], a stateless_state.
constexpr std::string_view filter_tag = "filter";
constexpr std::uint32_t filter_version = 1;

}  // namespace

filter_operator::filter_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  if (!node.predicate) {
    throw error(errc::internal, node.path + ": filter without a predicate");
  }
  predicate_ = *node.predicate;
}

std::unique_ptr<operator_state> filter_operator::make_state(execution_context&) const {
  return std::make_unique<stateless_state>(filter_tag, filter_version);
}

boost::asio::awaitable<std::optional<batch>> filter_operator::produce(execution_context& ctx) const {
  for (;;) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      co_return std::nullopt;
    }
    apply_filter(predicate_, *in);
    if (in->live_rows() > 0) {
      co_return in;
    }
  }
}

}  // namespace ftq::exec
