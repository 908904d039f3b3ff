#include "exec/operators/table_scan.hpp"

#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// table_scan v1: [tag, 1, full, 3 started, 4 next_batch]. Always full.
constexpr std::string_view table_scan_tag = "table_scan";
constexpr std::uint32_t table_scan_version = 1;

struct table_scan_state : operator_state {
  bool started = false;        // produce() has run
  std::size_t next_batch = 0;  // index into table::batches() of the next batch to hand out

  snapshot_kind save(state_packer& out, snapshot_kind) const override {
    pack_header(out, table_scan_tag, table_scan_version, snapshot_kind::full, 2);
    out.pack(started);
    out.pack_uint64(next_batch);
    return snapshot_kind::full;
  }
  void load(const msgpack::object& in, snapshot_kind kind) override {
    const section_reader sec(in, table_scan_tag, table_scan_version, kind);
    sec.expect_fields(2);
    const bool s = sec.field(3, "started").as_bool();
    // Past the table's end is harmless (produce() ends there) but no scan gets there.
    next_batch = static_cast<std::size_t>(sec.field(4, "next_batch").as_uint(SIZE_MAX));
    started = s;
    rows_published = 0;  // this query's progress does not hold the table's rows yet
  }
  void retract_progress(query_progress& progress) override {
    progress.rows_total.fetch_sub(rows_published, std::memory_order_relaxed);
    rows_published = 0;
  }
  std::uint64_t rows_published = 0;  // what progress().rows_total holds from this scan (not saved)
  std::uint64_t snapshot_size_hint() const override { return 16; }
};

std::vector<std::size_t> output_columns(const plan_detail::bound_node& node) {
  // A binder that leaves the list empty for "every column" still gets every column; an empty
  // output schema really means no columns (a scan that only counts rows).
  if (node.table_columns.empty() && node.output.size() > 0 && node.table) {
    std::vector<std::size_t> all(node.table->schema().size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      all[i] = i;
    }
    return all;
  }
  return node.table_columns;
}

}  // namespace

table_scan_operator::table_scan_operator(const plan_detail::bound_node& node)
    : physical_operator(node.id, node.path, node.output, {}), table_(node.table), columns_(output_columns(node)) {}

std::unique_ptr<operator_state> table_scan_operator::make_state(execution_context&) const {
  return std::make_unique<table_scan_state>();
}

boost::asio::awaitable<std::optional<batch>> table_scan_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<table_scan_state>(id());
  st.started = true;
  if (st.rows_published == 0 && table_ && table_->row_count() > 0) {
    st.rows_published = table_->row_count();
    ctx.progress().rows_total += st.rows_published;
  }
  if (!table_ || st.next_batch >= table_->batches().size()) {
    co_return std::nullopt;
  }
  const batch& in = table_->batches()[st.next_batch++];
  batch out;
  out.rows = in.rows;
  out.has_selection = in.has_selection;
  out.selection = in.selection;
  out.columns.reserve(columns_.size());
  for (std::size_t c : columns_) {
    out.columns.push_back(in.columns[c]);
  }
  ctx.progress().rows_scanned += out.live_rows();
  co_return out;
}

}  // namespace ftq::exec
