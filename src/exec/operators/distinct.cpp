#include "exec/operators/distinct.hpp"

#include "exec/keys/key_table.hpp"

namespace ftq::exec {

namespace {

struct distinct_state : operator_state {
  explicit distinct_state(const std::vector<type_id>& types) : seen(types) {}

  keys::key_table seen;  // every distinct row so far, by first-seen id
  std::vector<std::uint32_t> ids;
  bool done = false;
};

}  // namespace

distinct_operator::distinct_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  for (const auto& f : this->child(0).output_schema().fields()) {
    types_.push_back(f.type);
  }
}

std::unique_ptr<operator_state> distinct_operator::make_state(execution_context&) const {
  return std::make_unique<distinct_state>(types_);
}

boost::asio::awaitable<std::optional<batch>> distinct_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<distinct_state>(id());
  while (!st.done) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      st.done = true;
      break;
    }
    const batch dense = in->compacted();
    std::vector<const column*> cols;
    for (const auto& c : dense.columns) {
      cols.push_back(c.get());
    }
    const std::size_t before = st.seen.size();
    st.seen.insert(cols, dense.rows, st.ids);
    const std::size_t after = st.seen.size();
    if (after == before) {
      continue;
    }
    // New ids are handed out in row order, so the new rows are ids [before, after).
    batch out;
    out.rows = after - before;
    for (std::size_t c = 0; c < types_.size(); ++c) {
      out.columns.push_back(st.seen.slice(c, before, after));
    }
    co_return out;
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
