#include "exec/operators/filter.hpp"

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// A filter keeps nothing between batches; the state exists so every operator has one to snapshot.
// filter v1: [tag, 1, full] with no fields: versioned all the same, so that a later field can
// be added as v2 and old checkpoints still load.
constexpr std::string_view filter_tag = "filter";
constexpr std::uint32_t filter_version = 1;

struct filter_state : operator_state {
  snapshot_kind save(state_packer& out, snapshot_kind) const override {
    pack_header(out, filter_tag, filter_version, snapshot_kind::full, 0);
    return snapshot_kind::full;
  }
  void load(const msgpack::object& in, snapshot_kind kind) override {
    section_reader(in, filter_tag, filter_version, kind).expect_fields(0);
  }
  std::uint64_t snapshot_size_hint() const override { return 8; }
};

}  // namespace

filter_operator::filter_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  if (!node.predicate) {
    throw error(errc::internal, node.path + ": filter without a predicate");
  }
  predicate_ = *node.predicate;
}

std::unique_ptr<operator_state> filter_operator::make_state(execution_context&) const {
  return std::make_unique<filter_state>();
}

boost::asio::awaitable<std::optional<batch>> filter_operator::produce(execution_context& ctx) const {
  for (;;) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      co_return std::nullopt;
    }
    apply_filter(predicate_, *in);
    if (in->live_rows() > 0) {
      co_return in;
    }
  }
}

}  // namespace ftq::exec
