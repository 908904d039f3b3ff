#include "exec/operators/sort.hpp"

#include <algorithm>

#include "exec/expression.hpp"
#include "exec/keys/row_buffer.hpp"
#include "exec/keys/row_order.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/row_buffer_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// sort v1: [tag, 1, kind, 3 first row, 4 row count, 5 rows (columns of rows [first row, row
// count)), 6 computed keys (same rows), 7 sorted, 8 order (bin of uint32, or nil when not sorted
// or already in the committed snapshot), 9 emitted]. The buffers only grow until sorted, so a
// delta carries the rows added since the committed snapshot, and the order once.
constexpr std::string_view sort_tag = "sort";
constexpr std::uint32_t sort_version = 1;

struct sort_state : operator_state {
  sort_state(const std::vector<type_id>& input_types, const std::vector<type_id>& computed_types)
      : rows(input_types, keys::row_buffer::string_mode::reference),
        computed(computed_types, keys::row_buffer::string_mode::reference) {}

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override {
    const change_tracker::append_save saved = changes.saving_appended(requested, rows.size());
    const bool with_order = sorted && !(saved.kind == snapshot_kind::delta && order_committed);
    order_saved = sorted;
    pack_header(out, sort_tag, sort_version, saved.kind, 7);
    pack_appended_rows(out, rows, computed, saved.first);
    out.pack(sorted);
    if (with_order) {
      pack_values(out, order);
    } else {
      out.pack_nil();
    }
    out.pack_uint64(emitted);
    return saved.kind;
  }

  void load(const msgpack::object& in, snapshot_kind kind) override {
    const section_reader sec(in, sort_tag, sort_version, kind);
    sec.expect_fields(7);
    if (kind == snapshot_kind::full) {
      rows = keys::row_buffer(rows.types(), rows.mode());
      computed = keys::row_buffer(computed.types(), computed.mode());
      sorted = false;
      order.clear();
      emitted = 0;
    }
    appended_rows appended = read_appended_rows(sec, first_field, rows, computed, string_storage::own,
                                                [this](const value_reader& count_value, std::size_t count) {
                                                  if (count < rows.size() || (sorted && count != rows.size())) {
                                                    count_value.invalid("a sort's rows only grow until sorted");
                                                  }
                                                });
    const std::size_t count = appended.count;
    const value_reader sorted_value = sec.field(7, "sorted");
    const bool now_sorted = sorted_value.as_bool();
    if (sorted && !now_sorted) {
      sorted_value.invalid("the state is sorted already");
    }
    const value_reader order_value = sec.field(8, "order");
    std::vector<std::uint32_t> new_order;
    const bool has_order = !order_value.is_nil();
    if (has_order) {
      if (!now_sorted) {
        order_value.fail("nil (not sorted yet)");
      }
      unpack_values(order_value, new_order, count);
      for (std::uint32_t r : new_order) {
        if (r >= count) {
          order_value.invalid("row " + std::to_string(r) + " of " + std::to_string(count));
        }
      }
    } else if (now_sorted && !sorted) {
      order_value.fail("bin of " + std::to_string(count) + " row numbers");
    }
    const value_reader emitted_value = sec.field(9, "emitted");
    const std::size_t e = static_cast<std::size_t>(emitted_value.as_uint(now_sorted ? count : 0));

    std::move(appended).append_to(rows, computed);
    if (has_order) {
      order = std::move(new_order);
    }
    sorted = now_sorted;
    emitted = e;
    changes.restored(rows.size());
    order_committed = sorted;
    order_saved = sorted;
  }

  void snapshot_committed() override {
    changes.committed();
    order_committed = order_saved;
  }

  std::uint64_t snapshot_size_hint() const override {
    return 4 * order.size() + row_buffer_bytes(rows) + row_buffer_bytes(computed);
  }

  keys::row_buffer rows;      // every live input row
  keys::row_buffer computed;  // keys that are expressions rather than columns, per row
  bool sorted = false;
  std::vector<std::uint32_t> order;  // rows in output order, once sorted
  std::size_t emitted = 0;           // entries of `order` produced so far
  mutable change_tracker changes;    // rows in the last committed snapshot
  mutable bool order_saved = false;  // the last save() packed a sorted state
  bool order_committed = false;      // the last committed snapshot holds the order
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
