#include "exec/operators/limit.hpp"

#include <algorithm>

#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// limit v1: [tag, 1, full, 3 skipped, 4 emitted, 5 done]. Always full.
constexpr std::string_view limit_tag = "limit";
constexpr std::uint32_t limit_version = 1;

struct limit_state : operator_state {
  std::uint64_t skipped = 0;  // rows of the offset dropped so far
  std::uint64_t emitted = 0;  // rows passed on so far
  bool done = false;          // the limit is reached or the child is exhausted

  snapshot_kind save(state_packer& out, snapshot_kind) const override {
    pack_header(out, limit_tag, limit_version, snapshot_kind::full, 3);
    out.pack_uint64(skipped);
    out.pack_uint64(emitted);
    out.pack(done);
    return snapshot_kind::full;
  }
  void load(const msgpack::object& in, snapshot_kind kind) override {
    const section_reader sec(in, limit_tag, limit_version, kind);
    sec.expect_fields(3);
    const std::uint64_t s = sec.field(3, "skipped").as_uint();
    const std::uint64_t e = sec.field(4, "emitted").as_uint();
    done = sec.field(5, "done").as_bool();
    skipped = s;
    emitted = e;
  }
  std::uint64_t snapshot_size_hint() const override { return 24; }
};

}  // namespace

limit_operator::limit_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))),
      limit_(node.limit),
      offset_(std::max<std::int64_t>(node.offset, 0)) {}

std::unique_ptr<operator_state> limit_operator::make_state(execution_context&) const {
  return std::make_unique<limit_state>();
}

boost::asio::awaitable<std::optional<batch>> limit_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<limit_state>(id());
  const bool unlimited = limit_ < 0;
  const auto limit = static_cast<std::uint64_t>(unlimited ? 0 : limit_);
  const auto offset = static_cast<std::uint64_t>(offset_);
  while (!st.done) {
    if (!unlimited && st.emitted >= limit) {
      st.done = true;
      break;
    }
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      st.done = true;
      break;
    }
    const std::uint64_t live = in->live_rows();
    const std::uint64_t skip = std::min(live, offset - st.skipped);
    st.skipped += skip;
    std::uint64_t take = live - skip;
    if (!unlimited) {
      take = std::min(take, limit - st.emitted);
    }
    if (take == 0) {
      continue;
    }
    st.emitted += take;
    if (!unlimited && st.emitted >= limit) {
      st.done = true;
    }
    if (skip == 0 && take == live) {
      co_return in;
    }
    std::vector<std::uint32_t> kept(take);
    for (std::uint64_t i = 0; i < take; ++i) {
      kept[i] = in->row_at(skip + i);
    }
    in->selection = std::move(kept);
    in->has_selection = true;
    co_return in;
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
