#pragma once
// A test-only root over a memory_sink: once the sink has consumed its input, takes the sink's
// batches and produces their rows as one batch, so that the snapshot harness, which compares the
// rows a root produces, can check a memory_sink's result after a resume.

#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "exec/keys/row_buffer.hpp"
#include "exec/operators/memory_sink.hpp"
#include "exec/physical_operator.hpp"
#include "exec/state/stateless_state.hpp"

namespace ftq::test {

class result_drain final : public exec::physical_operator {
 public:
  /// `sink` must be a memory_sink_operator.
  result_drain(std::size_t id, exec::operator_ptr sink) : result_drain(id, sink->output_schema(), std::move(sink)) {}

  std::string_view name() const noexcept override { return "result_drain"; }

 protected:
  std::unique_ptr<exec::operator_state> make_state(exec::execution_context&) const override {
    return std::make_unique<exec::stateless_state>("result_drain", 1);
  }

  boost::asio::awaitable<std::optional<batch>> produce(exec::execution_context& ctx) const override {
    while (std::optional<batch> ignored = co_await child(0).next(ctx)) {
    }
    auto& sink = ctx.state<exec::memory_sink_state>(child(0).id());
    const std::vector<batch> taken = sink.take_batches();
    if (taken.empty()) {
      co_return std::nullopt;
    }
    std::vector<type_id> types;
    for (const auto& f : output_schema().fields()) {
      types.push_back(f.type);
    }
    exec::keys::row_buffer rows(types, exec::keys::row_buffer::string_mode::reference);
    for (const batch& b : taken) {
      rows.append_live(b);
    }
    std::vector<std::uint32_t> all(rows.size());
    std::iota(all.begin(), all.end(), 0U);
    batch out;
    out.rows = rows.size();
    for (std::size_t c = 0; c < rows.width(); ++c) {
      out.columns.push_back(rows.gather(c, all.data(), all.size()));
    }
    co_return out;
  }

 private:
  result_drain(std::size_t id, schema s, exec::operator_ptr&& sink)
      : physical_operator(id, "drain", std::move(s), one_child(std::move(sink))) {}
};

}  // namespace ftq::test
