#include "exec/operators/csv_sink.hpp"

#include "exec/state/state_section.hpp"

namespace ftq::exec {

// csv_sink v1: [tag, 1, full, 3 rows_written, 4 bytes_written, 5 finished]. Only the counters:
// what a resumed sink does with its file is the checkpoint layer's business. Always full.
namespace {
constexpr std::string_view csv_sink_tag = "csv_sink";
constexpr std::uint32_t csv_sink_version = 1;
}  // namespace

snapshot_kind csv_sink_state::save(state_packer& out, snapshot_kind) const {
  pack_header(out, csv_sink_tag, csv_sink_version, snapshot_kind::full, 3);
  out.pack_uint64(rows_written);
  out.pack_uint64(bytes_written);
  out.pack(finished);
  return snapshot_kind::full;
}

void csv_sink_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, csv_sink_tag, csv_sink_version, kind);
  sec.expect_fields(3);
  const std::uint64_t rows = sec.field(3, "rows_written").as_uint();
  const std::uint64_t bytes = sec.field(4, "bytes_written").as_uint();
  const bool done = sec.field(5, "finished").as_bool();
  rows_written = rows;
  bytes_written = bytes;
  finished = done;
}

std::uint64_t csv_sink_state::snapshot_size_hint() const { return 32; }

csv_sink_operator::csv_sink_operator(std::size_t id, std::filesystem::path out, operator_ptr child)
    : physical_operator(id, "output_csv", schema{}, one_child(std::move(child))), out_(std::move(out)) {}

std::unique_ptr<operator_state> csv_sink_operator::make_state(execution_context&) const {
  return std::make_unique<csv_sink_state>();
}

boost::asio::awaitable<std::optional<batch>> csv_sink_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<csv_sink_state>(id());
  if (st.finished) {
    co_return std::nullopt;
  }
  try {
    if (!st.writer) {
      st.writer = std::make_unique<csv::csv_writer>(out_, child(0).output_schema());
    }
    while (auto b = co_await child(0).next(ctx)) {
      st.writer->write(*b);
      st.rows_written = st.writer->rows_written();
      st.bytes_written = st.writer->bytes_written();
      ctx.progress().rows_out.store(st.rows_written, std::memory_order_relaxed);
    }
    st.writer->finish();
    st.bytes_written = st.writer->bytes_written();
    st.finished = true;
    st.writer.reset();
    ctx.progress().rows_out.store(st.rows_written, std::memory_order_relaxed);
  } catch (...) {
    // The exception ends the query: leave no temp file behind.
    if (st.writer) {
      st.writer->abort();
      st.writer.reset();
    }
    throw;
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
