#pragma once
/// Snapshots the state of an operator that keeps nothing between batches (filter, project): the
/// state exists so every operator has one to snapshot. It packs [tag, version, full] with no
/// fields, versioned all the same, so that a later field can be added as a new version and old
/// checkpoints still load; it loads only such a section of its own tag.

#include <cstdint>
#include <string_view>

#include <msgpack.hpp>

#include "exec/execution_context.hpp"
#include "exec/state/state_io.hpp"

namespace ftq::exec {

class stateless_state final : public operator_state {
 public:
  /// `tag` must outlive the state (a string literal or a namespace-scope constant).
  stateless_state(std::string_view tag, std::uint32_t version) : tag_(tag), version_(version) {}

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  std::uint64_t snapshot_size_hint() const override { return 8; }

 private:
  std::string_view tag_;
  std::uint32_t version_;
};

}  // namespace ftq::exec
