#include "exec/operators/memory_sink.hpp"

#include <string>
#include <utility>

#include "exec/state/column_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

// memory_sink v1: [tag, 1, kind, 3 first batch, 4 batch count, 5 batches [first batch, batch
// count) as [rows, [columns]] each, 6 finished]. Batches are only appended (whole), so a delta
// carries the batches appended since the committed snapshot.
namespace {
constexpr std::string_view memory_sink_tag = "memory_sink";
constexpr std::uint32_t memory_sink_version = 1;

std::uint64_t batch_bytes(const batch& b) {
  std::uint64_t n = 0;
  for (const column_ptr& c : b.columns) {
    n += column_bytes(*c);
  }
  return n;
}
}  // namespace

memory_sink_state::memory_sink_state(std::vector<type_id> types) : types_(std::move(types)) {}

snapshot_kind memory_sink_state::save(state_packer& out, snapshot_kind requested) const {
  const change_tracker::append_save saved = changes_.saving_appended(requested, batches_.size());
  pack_header(out, memory_sink_tag, memory_sink_version, saved.kind, 4);
  out.pack_uint64(saved.first);
  out.pack_uint64(batches_.size());
  out.pack_array(static_cast<std::uint32_t>(batches_.size() - saved.first));
  std::vector<const column*> cols;
  for (std::size_t i = saved.first; i < batches_.size(); ++i) {
    const batch& b = batches_[i];
    cols.clear();
    for (const column_ptr& c : b.columns) {
      cols.push_back(c.get());
    }
    out.pack_array(2);
    out.pack_uint64(b.rows);
    pack_columns(out, cols, 0, b.rows);
  }
  out.pack(finished_);
  return saved.kind;
}

void memory_sink_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, memory_sink_tag, memory_sink_version, kind);
  sec.expect_fields(4);
  const std::size_t held = kind == snapshot_kind::full ? 0 : batches_.size();
  const value_reader first_value = sec.field(3, "first batch");
  if (first_value.as_uint() != held) {
    first_value.invalid("batches start at " + std::to_string(first_value.as_uint()) + ", the state holds " +
                        std::to_string(held));
  }
  const value_reader count_value = sec.field(4, "batch count");
  const std::uint64_t count = count_value.as_uint(UINT32_MAX);
  if (count < held) {
    count_value.invalid("batch count " + std::to_string(count) + " is below the state's " + std::to_string(held));
  }
  if (kind == snapshot_kind::delta && finished_ && count != held) {
    count_value.invalid("batches after the input was finished");
  }
  const value_reader batches_value = sec.field(5, "batches");
  batches_value.expect_array(static_cast<std::size_t>(count - held));
  std::vector<batch> restored;
  restored.reserve(static_cast<std::size_t>(count - held));
  std::vector<column> cols;
  for (std::size_t i = 0; i < count - held; ++i) {
    const value_reader b = batches_value.at(i, "batch");
    b.expect_array(2);
    const value_reader rows_value = b.at(0, "rows");
    const std::uint64_t rows = rows_value.as_uint(UINT32_MAX);
    if (rows == 0) {
      rows_value.invalid("a kept batch has live rows");
    }
    const value_reader cols_value = b.at(1, "columns");
    if (unpack_columns(cols_value, types_, string_storage::own, cols) != rows && !types_.empty()) {
      cols_value.invalid("expected columns of " + std::to_string(rows) + " rows");
    }
    batch out;
    out.rows = static_cast<std::size_t>(rows);
    for (column& c : cols) {
      out.columns.push_back(std::make_shared<const column>(std::move(c)));
    }
    restored.push_back(std::move(out));
  }
  const value_reader finished_value = sec.field(6, "finished");
  const bool done = finished_value.as_bool();
  if (kind == snapshot_kind::delta && finished_ && !done) {
    finished_value.invalid("the state's input is finished already");
  }

  if (kind == snapshot_kind::full) {
    batches_.clear();
    rows_ = 0;
    bytes_ = 0;
  }
  for (batch& b : restored) {
    rows_ += b.rows;
    bytes_ += batch_bytes(b);
    batches_.push_back(std::move(b));
  }
  finished_ = done;
  changes_.restored(batches_.size());
}

void memory_sink_state::snapshot_committed() { changes_.committed(); }

std::uint64_t memory_sink_state::snapshot_size_hint() const { return bytes_; }

void memory_sink_state::append(batch b) {
  if (b.live_rows() == 0) {
    return;
  }
  if (b.has_selection) {
    b = b.compacted();
  }
  rows_ += b.rows;
  bytes_ += batch_bytes(b);
  batches_.push_back(std::move(b));
}

std::vector<batch> memory_sink_state::take_batches() {
  std::vector<batch> out = std::move(batches_);
  batches_.clear();
  rows_ = 0;
  bytes_ = 0;
  changes_.mark_rewritten();
  return out;
}

// Delegates so that the schema is read before the child moves: the order in which one call's
// arguments are evaluated is unspecified.
memory_sink_operator::memory_sink_operator(std::size_t id, operator_ptr child)
    : memory_sink_operator(id, child->output_schema(), std::move(child)) {}

memory_sink_operator::memory_sink_operator(std::size_t id, schema output, operator_ptr&& child)
    : physical_operator(id, "output", std::move(output), one_child(std::move(child))) {}

std::unique_ptr<operator_state> memory_sink_operator::make_state(execution_context&) const {
  std::vector<type_id> types;
  for (const field& f : output_schema().fields()) {
    types.push_back(f.type);
  }
  return std::make_unique<memory_sink_state>(std::move(types));
}

boost::asio::awaitable<std::optional<batch>> memory_sink_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<memory_sink_state>(id());
  if (st.finished()) {
    co_return std::nullopt;
  }
  while (std::optional<batch> b = co_await child(0).next(ctx)) {
    st.append(std::move(*b));
    ctx.progress().rows_out.store(st.rows(), std::memory_order_relaxed);
  }
  st.finish();
  co_return std::nullopt;
}

}  // namespace ftq::exec
