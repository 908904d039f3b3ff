#include "exec/operators/project.hpp"

#include "exec/expression.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// A projection keeps nothing between batches; the state exists so every operator has one.
// project v1: [tag, 1, full] with no fields: versioned all the same, so that a later field can
// be added as v2 and old checkpoints still load.
constexpr std::string_view project_tag = "project";
constexpr std::uint32_t project_version = 1;

struct project_state : operator_state {
  snapshot_kind save(state_packer& out, snapshot_kind) const override {
    pack_header(out, project_tag, project_version, snapshot_kind::full, 0);
    return snapshot_kind::full;
  }
  void load(const msgpack::object& in, snapshot_kind kind) override {
    section_reader(in, project_tag, project_version, kind).expect_fields(0);
  }
  std::uint64_t snapshot_size_hint() const override { return 8; }
};

}  // namespace

project_operator::project_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))), exprs_(node.exprs) {}

std::unique_ptr<operator_state> project_operator::make_state(execution_context&) const {
  return std::make_unique<project_state>();
}

boost::asio::awaitable<std::optional<batch>> project_operator::produce(execution_context& ctx) const {
  std::optional<batch> in = co_await child(0).next(ctx);
  if (!in) {
    co_return std::nullopt;
  }
  batch out;
  out.rows = in->live_rows();
  out.columns.reserve(exprs_.size());
  for (const auto& e : exprs_) {
    out.columns.push_back(evaluate(e, *in));
  }
  co_return out;
}

}  // namespace ftq::exec
