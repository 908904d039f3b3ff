#include "exec/operators/distinct.hpp"

#include "exec/keys/key_table.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

// distinct v1: [tag, 1, kind, 3 first id, 4 rows seen from that id on (columns), 5 done].
// The key table only grows, so a delta carries the rows first seen since the committed snapshot
// (first id = its size); a full one all of them (first id 0). load() re-inserts them in id order,
// which rebuilds the hash map with the same ids.
constexpr std::string_view distinct_tag = "distinct";
constexpr std::uint32_t distinct_version = 1;

struct distinct_state : operator_state {
  explicit distinct_state(const std::vector<type_id>& types) : seen(types) {}

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override {
    const bool delta = requested == snapshot_kind::delta && changes.delta_possible();
    changes.saving(seen.size());
    const std::size_t first = delta ? changes.committed_size() : 0;
    const snapshot_kind kind = delta ? snapshot_kind::delta : snapshot_kind::full;
    pack_header(out, distinct_tag, distinct_version, kind, 3);
    out.pack_uint64(first);
    pack_columns(out, seen.stored_ptrs(), first, seen.size());
    out.pack(done);
    return kind;
  }
  void load(const msgpack::object& in, snapshot_kind kind) override {
    const section_reader sec(in, distinct_tag, distinct_version, kind);
    sec.expect_fields(3);
    if (kind == snapshot_kind::full) {
      std::vector<type_id> types = seen.types();
      seen = keys::key_table(std::move(types));
      done = false;
    }
    const value_reader first = sec.field(3, "first id");
    if (first.as_uint() != seen.size()) {
      first.invalid("rows start at id " + std::to_string(first.as_uint()) + ", the state holds " +
                    std::to_string(seen.size()));
    }
    const value_reader rows = sec.field(4, "rows");
    std::vector<column> cols;
    unpack_columns(rows, seen.types(), string_storage::own, cols);
    const bool d = sec.field(5, "done").as_bool();
    if (!seen.restore(std::move(cols))) {
      rows.invalid("rows repeat or do not match the input's types");
    }
    done = d;
    changes.restored(seen.size());
  }
  void snapshot_committed() override { changes.committed(); }
  std::uint64_t snapshot_size_hint() const override {
    std::uint64_t bytes = 0;
    for (const column* c : seen.stored_ptrs()) {
      bytes += column_bytes(*c);
    }
    return bytes;
  }

  keys::key_table seen;  // every distinct row so far, by first-seen id
  std::vector<std::uint32_t> ids;
  bool done = false;
  mutable change_tracker changes;  // rows in the last committed snapshot
};

}  // namespace

distinct_operator::distinct_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))) {
  for (const auto& f : this->child(0).output_schema().fields()) {
    types_.push_back(f.type);
  }
}

std::unique_ptr<operator_state> distinct_operator::make_state(execution_context&) const {
  return std::make_unique<distinct_state>(types_);
}

boost::asio::awaitable<std::optional<batch>> distinct_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<distinct_state>(id());
  while (!st.done) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      st.done = true;
      break;
    }
    const batch dense = in->compacted();
    std::vector<const column*> cols;
    for (const auto& c : dense.columns) {
      cols.push_back(c.get());
    }
    const std::size_t before = st.seen.size();
    st.seen.insert(cols, dense.rows, st.ids);
    const std::size_t after = st.seen.size();
    if (after == before) {
      continue;
    }
    // New ids are handed out in row order, so the new rows are ids [before, after).
    batch out;
    out.rows = after - before;
    for (std::size_t c = 0; c < types_.size(); ++c) {
      out.columns.push_back(st.seen.slice(c, before, after));
    }
    co_return out;
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
