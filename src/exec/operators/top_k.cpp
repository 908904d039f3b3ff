#include "exec/operators/top_k.hpp"

#include <algorithm>
#include <numeric>

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/keys/row_buffer.hpp"
#include "exec/keys/row_order.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/row_buffer_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// top_k v1: [tag, 1, kind, 3 first row, 4 row count, 5 rows (columns of rows [first row, row
// count)), 6 computed keys (same rows), 7 full, 8 input_done, 9 emitted]. Candidates are
// appended between compactions, so a delta carries the rows added since the committed snapshot;
// after a compaction (which reorders and drops rows) the next snapshot is full. At most 2k rows.
constexpr std::string_view top_k_tag = "top_k";
constexpr std::uint32_t top_k_version = 1;

struct top_k_state : operator_state {
  top_k_state(const std::vector<type_id>& input_types, const std::vector<type_id>& computed_types, std::uint64_t k,
              std::size_t key_count)
      : rows(input_types, keys::row_buffer::string_mode::copy),
        computed(computed_types, keys::row_buffer::string_mode::copy),
        k(k),
        key_count(key_count) {}

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override {
    const change_tracker::append_save saved = changes.saving_appended(requested, rows.size());
    pack_header(out, top_k_tag, top_k_version, saved.kind, 7);
    pack_appended_rows(out, rows, computed, saved.first);
    out.pack(full);
    out.pack(input_done);
    out.pack_uint64(emitted);
    return saved.kind;
  }

  void load(const msgpack::object& in, snapshot_kind kind) override {
    const section_reader sec(in, top_k_tag, top_k_version, kind);
    sec.expect_fields(7);
    if (kind == snapshot_kind::full) {
      rows = keys::row_buffer(rows.types(), rows.mode());
      computed = keys::row_buffer(computed.types(), computed.mode());
      full = false;
      input_done = false;
      emitted = 0;
    }
    appended_rows appended =
        read_appended_rows(sec, first_field, rows, computed, string_storage::borrow,
                           [this](const value_reader& count_value, std::size_t count) {
                             if (count < rows.size()) {
                               count_value.invalid("row count " + std::to_string(count) + " is not a top_k's");
                             }
                           });
    const std::size_t count = appended.count;
    const value_reader full_value = sec.field(7, "full");
    const bool now_full = full_value.as_bool();
    if (now_full && count < k) {
      full_value.invalid("full with " + std::to_string(count) + " rows, k is " + std::to_string(k));
    }
    const value_reader done_value = sec.field(8, "input_done");
    const bool done = done_value.as_bool();
    if (now_full && !done && key_count == 0) {
      done_value.invalid("without sort keys a full top_k is done");
    }
    const value_reader emitted_value = sec.field(9, "emitted");
    const std::size_t e = static_cast<std::size_t>(emitted_value.as_uint(done ? count : 0));

    // Copy mode: the strings go into the buffers' arenas before the section's bytes go away.
    std::move(appended).append_to(rows, computed);
    full = now_full;
    input_done = done;
    emitted = e;
    changes.restored(rows.size());
  }

  void snapshot_committed() override { changes.committed(); }

  std::uint64_t snapshot_size_hint() const override { return row_buffer_bytes(rows) + row_buffer_bytes(computed); }

  // Candidate rows: after a compaction the best min(k, seen) rows in order, then rows appended
  // since, in input order. Strings are copied, so dropped rows free their bytes.
  keys::row_buffer rows;
  keys::row_buffer computed;
  bool full = false;  // the first k rows are the best k so far; row k-1 is the bar
  bool input_done = false;
  std::size_t emitted = 0;         // rows produced so far, once the input is done
  std::uint64_t k;                 // the operator's, to check a restored state
  std::size_t key_count;           // the operator's number of sort keys, likewise
  mutable change_tracker changes;  // rows in the last committed snapshot; compactions rewrite

  // Scratch.
  std::vector<std::uint64_t> words;
  std::vector<std::uint32_t> picked;  // live rows of the batch that beat the bar
  std::vector<std::uint32_t> phys;
};

std::vector<keys::order_key> buffer_keys(const std::vector<top_k_operator::key_spec>& specs, const top_k_state& st) {
  std::vector<keys::order_key> out;
  for (const auto& k : specs) {
    const column& values = k.input_column ? st.rows.col(*k.input_column) : st.computed.col(k.computed);
    out.push_back({&values, k.descending});
  }
  return out;
}

// Lists in st.picked the live rows of a batch that sort strictly before kept row `bar`; a tie
// loses to the earlier row. The normalized first key settles most rows without compare_rows.
void pick_beating_bar(const std::vector<keys::order_key>& batch_keys, const std::vector<keys::order_key>& kept,
                      std::size_t bar, std::size_t n, top_k_state& st) {
  if (kept[0].values->is_null(bar)) {
    for (std::size_t i = 0; i < n; ++i) {
      if (keys::compare_rows(batch_keys, i, kept, bar) < 0) {
        st.picked.push_back(static_cast<std::uint32_t>(i));
      }
    }
    return;
  }
  const column& first = *batch_keys[0].values;
  const bool descending = batch_keys[0].descending;
  const bool exact = keys::normalize_key(first, descending, n, st.words);
  const std::uint64_t bar_word = keys::normalize_value(*kept[0].values, bar, descending, exact);
  const std::uint64_t* w = st.words.data();
  const std::uint8_t* nulls = first.has_nulls() ? first.nulls.data() : nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    if (w[i] > bar_word || (nulls != nullptr && nulls[i] != 0)) {
      continue;
    }
    if (w[i] < bar_word || keys::compare_rows(batch_keys, i, kept, bar) < 0) {
      st.picked.push_back(static_cast<std::uint32_t>(i));
    }
  }
}

// Sorts the candidates and keeps the first k.
boost::asio::awaitable<void> compact(const std::vector<top_k_operator::key_spec>& specs, std::uint64_t k,
                                     top_k_state& st, execution_context& ctx) {
  const std::vector<std::uint32_t> order = co_await keys::sort_rows(buffer_keys(specs, st), st.rows.size(), ctx);
  const std::size_t keep = static_cast<std::size_t>(std::min<std::uint64_t>(k, order.size()));
  st.rows.assign_gathered(st.rows, order.data(), keep);
  st.computed.assign_gathered(st.computed, order.data(), keep);
  st.full = keep == k;
  st.changes.mark_rewritten();
}

}  // namespace

top_k_operator::top_k_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  if (node.limit < 0) {
    throw plan_error(node.path + ".limit", "top_k needs k >= 0, got " + std::to_string(node.limit));
  }
  // Far beyond any input: keeps 2 * k from overflowing.
  k_ = std::min<std::uint64_t>(static_cast<std::uint64_t>(node.limit), std::uint64_t{1} << 48);
  layout_ = keys::make_sort_key_layout(node.keys, this->child(0).output_schema());
}

std::unique_ptr<operator_state> top_k_operator::make_state(execution_context&) const {
  return std::make_unique<top_k_state>(layout_.input_types, layout_.computed_types, k_, layout_.keys.size());
}

boost::asio::awaitable<std::optional<batch>> top_k_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<top_k_state>(id());
  if (k_ == 0) {
    co_return std::nullopt;  // nothing can be in the result; the child need not run
  }
  while (!st.input_done) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      st.input_done = true;
      if (st.rows.size() > 0) {
        co_await compact(layout_.keys, k_, st, ctx);
      }
      break;
    }
    const std::size_t n = in->live_rows();
    std::vector<column_ptr> key_cols;
    std::vector<keys::order_key> batch_keys;
    for (const auto& k : layout_.keys) {
      key_cols.push_back(evaluate(k.expr, *in));
      batch_keys.push_back({key_cols.back().get(), k.descending});
    }

    st.picked.clear();
    if (!st.full) {
      st.picked.resize(n);
      std::iota(st.picked.begin(), st.picked.end(), std::uint32_t{0});
    } else {
      pick_beating_bar(batch_keys, buffer_keys(layout_.keys, st), static_cast<std::size_t>(k_ - 1), n, st);
    }
    const std::size_t m = st.picked.size();
    if (m == 0) {
      continue;
    }
    st.phys.resize(m);
    for (std::size_t j = 0; j < m; ++j) {
      st.phys[j] = in->row_at(st.picked[j]);
    }
    for (std::size_t c = 0; c < layout_.input_types.size(); ++c) {
      st.rows.append_column(c, *in->columns[c], st.phys.data(), m);
    }
    st.rows.commit(m);
    for (std::size_t k = 0; k < layout_.keys.size(); ++k) {
      if (!layout_.keys[k].input_column) {
        st.computed.append_column(layout_.keys[k].computed, *key_cols[k], st.picked.data(), m);
      }
    }
    st.computed.commit(m);
    if (st.rows.size() > 2 * k_) {
      co_await compact(layout_.keys, k_, st, ctx);
    }
    if (layout_.keys.empty() && st.rows.size() >= k_) {
      // Without keys the first k rows are the result; the rest of the input cannot change it.
      st.input_done = true;
      co_await compact(layout_.keys, k_, st, ctx);
    }
  }

  const std::size_t total = st.rows.size();
  if (st.emitted >= total) {
    co_return std::nullopt;
  }
  const std::size_t from = st.emitted;
  const std::size_t n = std::min(total - from, ctx.batch_rows());
  st.emitted += n;
  std::vector<std::uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), static_cast<std::uint32_t>(from));
  batch out;
  out.rows = n;
  for (std::size_t c = 0; c < layout_.input_types.size(); ++c) {
    out.columns.push_back(st.rows.gather(c, idx.data(), n));
  }
  co_return out;
}

}  // namespace ftq::exec
