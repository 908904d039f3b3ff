#pragma once
/// Consumes all of its child's batches into its state, compacted (a batch without a selection
/// is kept as it came, sharing its columns), so that an in-memory result is part of every
/// checkpoint's consistent cut and a restored query resumes it exactly. Produces no batches:
/// returns nullopt once the child is exhausted; the engine then takes the result from the state.

#include <cstdint>
#include <memory>
#include <vector>

#include "exec/physical_operator.hpp"
#include "exec/state/change_tracker.hpp"

namespace ftq::exec {

class memory_sink_state final : public operator_state {
 public:
  explicit memory_sink_state(std::vector<type_id> types);

  /// Packs every batch, or as a delta the batches appended since the committed snapshot.
  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  void snapshot_committed() override;
  std::uint64_t snapshot_size_hint() const override;

  /// Keeps the live rows of `b` (nothing when it has none).
  void append(batch b);
  /// Marks the input exhausted: the result is complete.
  void finish() noexcept { finished_ = true; }
  bool finished() const noexcept { return finished_; }

  /// Result rows held.
  std::uint64_t rows() const noexcept { return rows_; }
  const std::vector<batch>& batches() const noexcept { return batches_; }
  /// Moves the result out, leaving the state empty (the next save packs it full).
  std::vector<batch> take_batches();

 private:
  std::vector<type_id> types_;
  std::vector<batch> batches_;
  std::uint64_t rows_ = 0;
  std::uint64_t bytes_ = 0;  // what a full snapshot packs, roughly
  bool finished_ = false;
  mutable change_tracker changes_;  // one slot per batch
};

class memory_sink_operator final : public physical_operator {
 public:
  /// Its output schema is its child's: the schema of the result it holds.
  memory_sink_operator(std::size_t id, operator_ptr child);

  std::string_view name() const noexcept override { return "memory_sink"; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  memory_sink_operator(std::size_t id, schema output, operator_ptr&& child);
};

}  // namespace ftq::exec
