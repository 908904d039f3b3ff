#include "exec/operators/memory_sink.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "core/byte_sink.hpp"
#include "exec/state/state_section.hpp"
#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"

using boost::asio::awaitable;
using ftq::exec::execution_context;
using ftq::exec::memory_sink_operator;
using ftq::exec::memory_sink_state;
using ftq::exec::snapshot_kind;

namespace {

using namespace ftq::test;

class string_sink final : public ftq::byte_sink {
 public:
  void write(const char* data, std::size_t size) override { bytes.append(data, size); }
  std::string bytes;
};

struct packed {
  std::string bytes;
  snapshot_kind kind;
};

packed save(const memory_sink_state& st, snapshot_kind requested) {
  string_sink sink;
  ftq::exec::state_packer pk(sink);
  const snapshot_kind kind = st.save(pk, requested);
  return {std::move(sink.bytes), kind};
}

void load(memory_sink_state& st, const packed& p) {
  const msgpack::object_handle h = ftq::exec::unpack_section(p.bytes.data(), p.bytes.size());
  st.load(h.get(), p.kind);
}

const schema result_schema({{"k", type_id::int64}, {"s", type_id::string}, {"y", type_id::float64}});
const std::vector<type_id> result_types = {type_id::int64, type_id::string, type_id::float64};

std::vector<row> result_rows(std::size_t n) {
  std::vector<row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const auto k = static_cast<std::int64_t>(i);
    rows.push_back({k % 5 == 0 ? null_cell : cell(k * 31 - 7), k % 7 == 0 ? null_cell : cell("v," + std::to_string(k)),
                    cell(static_cast<double>(k) / 8.0)});
  }
  return rows;
}

std::vector<row> rows_of(const std::vector<batch>& batches) {
  std::vector<row> out;
  for (const batch& b : batches) {
    for (std::size_t i = 0; i < b.live_rows(); ++i) {
      row r;
      for (const auto& c : b.columns) {
        r.push_back(cell_at(*c, b.row_at(i)));
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("memory_sink keeps every live row of its child, compacted, and produces nothing") {
  const std::vector<row> rows = result_rows(50);
  for (const batching& how : batchings) {
    CAPTURE(how.per_batch);
    CAPTURE(how.selected);
    const std::vector<batch> input = make_batches(result_schema, rows, how.per_batch, how.selected);
    const memory_sink_operator sink(1, std::make_unique<batch_source>(0, result_schema, input));
    CHECK(sink.name() == "memory_sink");
    CHECK(sink.output_schema().size() == 3);
    run_coro([&](auto ex) -> awaitable<void> {
      execution_context ctx(ex, 16, sink.subtree_size(), nullptr);
      sink.init_states(ctx);
      CHECK_FALSE(co_await sink.next(ctx));
      CHECK_FALSE(co_await sink.next(ctx));  // and on every call after
      auto& st = ctx.state<memory_sink_state>(1);
      CHECK(st.finished());
      CHECK(st.rows() == rows.size());
      CHECK(ctx.progress().rows_out.load() == rows.size());
      CHECK(st.batches().size() == input.size());
      for (std::size_t i = 0; i < st.batches().size(); ++i) {
        CHECK_FALSE(st.batches()[i].has_selection);
        // A batch without a selection is kept as it came: its columns are shared, not copied.
        CHECK((st.batches()[i].columns[0] == input[i].columns[0]) == !how.selected);
      }
      const std::vector<batch> taken = st.take_batches();
      CHECK(rows_of(taken) == rows);
      CHECK(st.rows() == 0);
      CHECK(st.batches().empty());
    });
  }
}

TEST_CASE("a memory_sink state packs a delta of the batches appended since the committed snapshot") {
  const std::vector<batch> input = make_batches(result_schema, result_rows(20000), 200, false);
  memory_sink_state st(result_types);
  for (std::size_t i = 0; i < 90; ++i) {
    st.append(input[i]);
  }
  const packed full = save(st, snapshot_kind::delta);  // nothing committed yet: full
  CHECK(full.kind == snapshot_kind::full);
  st.snapshot_committed();
  st.append(input[90]);
  const packed delta = save(st, snapshot_kind::delta);
  CHECK(delta.kind == snapshot_kind::delta);
  // One batch of 91, plus the frame.
  MESSAGE("full of 90 batches: " << full.bytes.size() << " bytes; delta of 1 batch: " << delta.bytes.size());
  CHECK(delta.bytes.size() * 80 < full.bytes.size());
  CHECK(st.snapshot_size_hint() > full.bytes.size() / 2);
  // An uncommitted delta, then more batches: the next delta carries both.
  st.append(input[91]);
  st.finish();
  const packed delta2 = save(st, snapshot_kind::delta);
  CHECK(delta2.kind == snapshot_kind::delta);
  CHECK(delta2.bytes.size() > delta.bytes.size() * 3 / 2);

  memory_sink_state restored(result_types);
  load(restored, full);
  load(restored, delta2);
  CHECK(restored.rows() == 92 * 200);
  CHECK(restored.finished());
  CHECK(save(restored, snapshot_kind::full).bytes == save(st, snapshot_kind::full).bytes);
  CHECK(rows_of(restored.take_batches()) == rows_of(st.batches()));
  // After a take the state was rewritten: the next save is full.
  CHECK(save(restored, snapshot_kind::delta).kind == snapshot_kind::full);
}

TEST_CASE("a memory_sink state rejects deltas that do not continue it") {
  const std::vector<batch> input = make_batches(result_schema, result_rows(100), 10, true);
  memory_sink_state st(result_types);
  st.append(input[0]);
  const packed full = save(st, snapshot_kind::full);
  st.snapshot_committed();
  st.append(input[1]);
  const packed delta = save(st, snapshot_kind::delta);
  const auto code_of = [&](const std::vector<const packed*>& chain) -> std::error_code {
    memory_sink_state target(result_types);
    try {
      for (const packed* p : chain) {
        load(target, *p);
      }
    } catch (const ftq::checkpoint_error& e) {
      return e.code();
    }
    return {};
  };
  CHECK((code_of({&full, &delta}) == std::error_code{}));
  CHECK((code_of({&delta}) == ftq::errc::checkpoint_corrupt));                 // starts at batch 1 of 0
  CHECK((code_of({&full, &delta, &delta}) == ftq::errc::checkpoint_corrupt));  // applied twice
  memory_sink_state wrong({type_id::string, type_id::string, type_id::float64});
  CHECK_THROWS_AS(load(wrong, full), ftq::checkpoint_error);
}
