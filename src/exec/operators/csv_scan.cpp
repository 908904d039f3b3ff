#include "exec/operators/csv_scan.hpp"

#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

std::vector<std::size_t> output_columns(const plan_detail::bound_node& node) {
  // A binder that leaves the list empty for "every column" still gets every column; an empty
  // output schema really means no columns (a scan that only counts rows).
  if (node.file_columns.empty() && node.output.size() > 0) {
    std::vector<std::size_t> all(node.file_schema.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      all[i] = i;
    }
    return all;
  }
  return node.file_columns;
}

}  // namespace

// csv_scan v1: [tag, 1, full, 3 offset, 4 line, 5 rows, 6 finished, 7 rows_total_published,
// 8 bytes_published]. Small: always full. A v2 reader would dispatch on section_reader::version().
namespace {
constexpr std::string_view csv_scan_tag = "csv_scan";
constexpr std::uint32_t csv_scan_version = 1;
}  // namespace

snapshot_kind csv_scan_state::save(state_packer& out, snapshot_kind) const {
  pack_header(out, csv_scan_tag, csv_scan_version, snapshot_kind::full, 6);
  out.pack_uint64(position.offset);
  out.pack_uint64(position.line);
  out.pack_uint64(position.rows);
  out.pack(finished);
  out.pack_uint64(rows_total_published);
  out.pack_uint64(bytes_published);
  return snapshot_kind::full;
}

void csv_scan_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, csv_scan_tag, csv_scan_version, kind);
  sec.expect_fields(6);
  csv::reader_position p;
  p.offset = sec.field(3, "offset").as_uint();
  p.line = sec.field(4, "line").as_uint();
  p.rows = sec.field(5, "rows").as_uint();
  const bool done = sec.field(6, "finished").as_bool();
  const std::uint64_t rows_total = sec.field(7, "rows_total_published").as_uint();
  const std::uint64_t bytes = sec.field(8, "bytes_published").as_uint();
  position = p;
  finished = done;
  rows_total_published = rows_total;
  bytes_published = bytes;
  // This query's progress counters hold none of it yet: the next produce() publishes it all.
  rows_total_here = 0;
  bytes_here = 0;
  bytes_total_here = 0;
  reader.reset();  // reopened at `position` by the next produce()
}

void csv_scan_state::retract_progress(query_progress& progress) {
  progress.rows_total.fetch_sub(rows_total_here, std::memory_order_relaxed);
  progress.bytes_scanned.fetch_sub(bytes_here, std::memory_order_relaxed);
  progress.bytes_total.fetch_sub(bytes_total_here, std::memory_order_relaxed);
  rows_total_here = 0;
  bytes_here = 0;
  bytes_total_here = 0;
}

std::uint64_t csv_scan_state::snapshot_size_hint() const { return 64; }

csv_scan_operator::csv_scan_operator(const plan_detail::bound_node& node)
    : physical_operator(node.id, node.path, node.output, {}),
      file_(node.file),
      file_schema_(node.file_schema),
      columns_(output_columns(node)) {}

std::unique_ptr<operator_state> csv_scan_operator::make_state(execution_context&) const {
  return std::make_unique<csv_scan_state>();
}

void csv_scan_operator::open(execution_context& ctx, csv_scan_state& st) const {
  csv::reader_options options;
  options.batch_rows = ctx.batch_rows();
  const bool resuming = st.position.offset != 0;
  st.reader = std::make_unique<csv::csv_reader>(file_, file_schema_, columns_, options,
                                                resuming ? std::optional(st.position) : std::nullopt);
  if (!resuming) {
    st.position = st.reader->position();
  }
  // Once per state: a reader reopened after a failed read must not add the file again, and a
  // state restored into a new run (resume) has added nothing to that run's counters yet.
  if (st.bytes_total_here == 0) {
    st.bytes_total_here = st.reader->file_size();
    ctx.progress().bytes_total.fetch_add(st.bytes_total_here, std::memory_order_relaxed);
  }
  publish(ctx, st);
}

/// Brings this scan's share of the progress counters up to date with `st.position`. Shares are
/// published as differences, since other scans of the same query add to the same counters.
void csv_scan_operator::publish(execution_context& ctx, csv_scan_state& st) const {
  auto& progress = ctx.progress();
  const std::uint64_t size = st.reader->file_size();
  const std::uint64_t scanned = st.finished ? size : std::min(st.position.offset, size);
  if (scanned > st.bytes_here) {
    progress.bytes_scanned.fetch_add(scanned - st.bytes_here, std::memory_order_relaxed);
    st.bytes_here = scanned;
  }
  st.bytes_published = std::max(st.bytes_published, scanned);
  std::uint64_t estimate = st.position.rows;
  const std::uint64_t data_bytes = st.position.offset - std::min(st.position.offset, st.reader->data_offset());
  if (!st.finished && st.position.rows > 0 && data_bytes > 0) {
    const double bytes_per_row = static_cast<double>(data_bytes) / static_cast<double>(st.position.rows);
    estimate += static_cast<std::uint64_t>(static_cast<double>(size - scanned) / bytes_per_row);
  }
  if (estimate != st.rows_total_here) {
    // Unsigned wrap-around makes this a subtraction when the estimate shrinks.
    progress.rows_total.fetch_add(estimate - st.rows_total_here, std::memory_order_relaxed);
    st.rows_total_here = estimate;
  }
  st.rows_total_published = estimate;
}

boost::asio::awaitable<std::optional<batch>> csv_scan_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<csv_scan_state>(id());
  if (st.finished) {
    co_return std::nullopt;
  }
  if (!st.reader) {
    open(ctx, st);
  }
  std::optional<batch> out;
  try {
    out = st.reader->next();
  } catch (...) {
    // The reader may have read past `position` before failing: a retry reopens it there, so a
    // transient read error retried in place loses and repeats nothing.
    st.reader.reset();
    throw;
  }
  if (!out) {
    st.finished = true;
    publish(ctx, st);
    st.reader.reset();
    co_return std::nullopt;
  }
  st.position = st.reader->position();
  ctx.progress().rows_scanned.fetch_add(out->rows, std::memory_order_relaxed);
  publish(ctx, st);
  co_return out;
}

}  // namespace ftq::exec
