#include "exec/operators/sort.hpp"

#include <algorithm>

#include "exec/expression.hpp"
#include "exec/keys/row_buffer.hpp"
#include "exec/keys/row_order.hpp"

namespace ftq::exec {

namespace {

struct sort_state : operator_state {
  sort_state(const std::vector<type_id>& input_types, const std::vector<type_id>& computed_types)
      : rows(input_types, keys::row_buffer::string_mode::reference),
        computed(computed_types, keys::row_buffer::string_mode::reference) {}

  keys::row_buffer rows;      // every live input row
  keys::row_buffer computed;  // keys that are expressions rather than columns, per row
  bool sorted = false;
  std::vector<std::uint32_t> order;  // rows in output order, once sorted
  std::size_t emitted = 0;           // entries of `order` produced so far
};

}  // namespace

sort_operator::sort_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  layout_ = keys::make_sort_key_layout(node.keys, this->child(0).output_schema());
}

std::unique_ptr<operator_state> sort_operator::make_state(execution_context&) const {
  return std::make_unique<sort_state>(layout_.input_types, layout_.computed_types);
}

boost::asio::awaitable<std::optional<batch>> sort_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<sort_state>(id());
  if (!st.sorted) {
    while (std::optional<batch> in = co_await child(0).next(ctx)) {
      const std::size_t n = in->live_rows();
      for (const auto& k : layout_.keys) {
        if (!k.input_column) {
          const column_ptr v = evaluate(k.expr, *in);
          st.computed.append_column(k.computed, *v, nullptr, n);
        }
      }
      st.computed.commit(n);
      st.rows.append_live(*in);
    }
    std::vector<keys::order_key> order_keys;
    for (const auto& k : layout_.keys) {
      const column& values = k.input_column ? st.rows.col(*k.input_column) : st.computed.col(k.computed);
      order_keys.push_back({&values, k.descending});
    }
    st.order = co_await keys::sort_rows(order_keys, st.rows.size(), ctx);
    st.sorted = true;
  }
  if (st.emitted >= st.order.size()) {
    co_return std::nullopt;
  }
  const std::size_t from = st.emitted;
  const std::size_t n = std::min(st.order.size() - from, ctx.batch_rows());
  st.emitted += n;
  batch out;
  out.rows = n;
  for (std::size_t c = 0; c < st.rows.width(); ++c) {
    out.columns.push_back(st.rows.gather(c, st.order.data() + from, n));
  }
  co_return out;
}

}  // namespace ftq::exec
