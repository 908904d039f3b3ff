#include "exec/physical_operator.hpp"

namespace ftq::exec {

physical_operator::physical_operator(std::size_t id, std::string plan_path, schema output,
                                     std::vector<std::unique_ptr<physical_operator>> children)
    : id_(id), plan_path_(std::move(plan_path)), output_(std::move(output)), children_(std::move(children)) {}

void physical_operator::init_states(execution_context& ctx) const {
  ctx.set_state(id_, make_state(ctx));
  for (const auto& c : children_)
    c->init_states(ctx);
}

std::vector<std::unique_ptr<physical_operator>> physical_operator::one_child(std::unique_ptr<physical_operator> child) {
  std::vector<std::unique_ptr<physical_operator>> children;
  children.push_back(std::move(child));
  return children;
}

std::size_t physical_operator::subtree_size() const noexcept {
  std::size_t n = 1;
  for (const auto& c : children_)
    n += c->subtree_size();
  return n;
}

boost::asio::awaitable<std::optional<batch>> physical_operator::run_unsupervised(execution_context& ctx) const {
  for (;;) {
    ctx.check_cancelled();
    if (checkpoint_trigger* t = ctx.trigger(); t != nullptr && t->due(ctx)) {
      co_await t->take(ctx);
      ctx.check_cancelled();
    }
    auto& stats = ctx.stats(id_);
    stats.phase = operator_phase::running;
    std::optional<batch> out = co_await produce(ctx);
    if (!out) {
      stats.phase = operator_phase::finished;
      co_return std::nullopt;
    }
    if (out->live_rows() == 0) {
      co_await ctx.maybe_yield();
      continue;
    }
    ++stats.batches_out;
    stats.rows_out += out->live_rows();
    stats.rows_produced += out->live_rows();
    co_await ctx.maybe_yield();
    co_return out;
  }
}

}  // namespace ftq::exec
