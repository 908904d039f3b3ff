#pragma once
// A minimal operator_state for checkpoint tests that need states without running operators: a
// vector of int64 that grows and changes, snapshotted full or as a delta (appended values plus
// changed positions), so manager tests can check chains, retention and restore exactly.

#include <cstdint>
#include <thread>
#include <vector>

#include "exec/execution_context.hpp"

namespace ftq::test {

struct vector_state : exec::operator_state {
  std::vector<std::int64_t> values;
  /// The thread the last save() and load() ran on.
  mutable std::thread::id saved_on;
  std::thread::id loaded_on;

  void append(std::int64_t v);
  void set(std::size_t i, std::int64_t v);

  exec::snapshot_kind save(exec::state_packer& out, exec::snapshot_kind requested) const override;
  void load(const msgpack::object& in, exec::snapshot_kind kind) override;
  void snapshot_committed() override;
  std::uint64_t snapshot_size_hint() const override { return values.size() * 8; }

 private:
  bool has_committed_ = false;
  std::size_t committed_size_ = 0;
  std::vector<std::uint32_t> changed_;  // positions below committed_size_ changed since the commit
};

}  // namespace ftq::test
