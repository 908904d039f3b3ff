#include "exec/operators/csv_sink.hpp"

namespace ftq::exec {

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
