#include "exec/operators/hash_join.hpp"

#include <algorithm>
#include <deque>
#include <limits>
#include <optional>

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/keys/key_table.hpp"
#include "exec/keys/row_buffer.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

constexpr std::uint32_t no_row = std::numeric_limits<std::uint32_t>::max();
// Build rows indexed between two maybe_yield() calls.
constexpr std::size_t build_chunk = 1 << 16;
// Entries of the index's arrays initialized per step (1 MiB of uint32).
constexpr std::size_t fill_chunk = 1 << 18;

std::vector<type_id> types_of(const schema& s) {
  std::vector<type_id> t;
  for (const auto& f : s.fields()) {
    t.push_back(f.type);
  }
  return t;
}

// Where probing stands: the batch being joined, each live row's first match, and the next pair.
struct probe_cursor {
  std::optional<batch> probe;
  std::vector<std::uint32_t> first;
  std::size_t pos = 0;
  std::uint32_t chain = no_row;
  bool done = false;
};

struct join_state : operator_state {
  join_state(const std::vector<type_id>& build_types, const std::vector<type_id>& key_types,
             std::vector<type_id> probe_types)
      : build_rows(build_types, keys::row_buffer::string_mode::reference),
        build_keys(key_types, keys::row_buffer::string_mode::reference),
        probe_types(std::move(probe_types)) {}

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  void snapshot_committed() override { changes.committed(); }
  std::uint64_t snapshot_size_hint() const override;
  // A built hash table belongs to the finished build pipeline: a rollback of the probe pipeline
  // keeps it and restores only the probe cursor.
  bool keeps_finished_input(std::size_t child) const override { return child == 1 && built; }
  bool rollback_unfinished(const msgpack::object* in, snapshot_kind kind) override;
  void set_probe_cursor(probe_cursor cursor);

  bool built = false;
  keys::row_buffer build_rows;  // the build child's live rows
  keys::row_buffer build_keys;  // the build keys of those rows

  // Index: head[slot] is the first build row of a key's chain, next[row] the following one.
  // A single int64 key over a narrow range is its own slot (key - direct_base); any other key
  // gets its slot from the key table.
  bool direct = false;
  std::int64_t direct_base = 0;
  std::optional<keys::key_table> table;
  std::vector<std::uint32_t> head;
  std::vector<std::uint32_t> next;

  // Probe cursor: the batch being joined, each live row's first match, and the next pair.
  std::optional<batch> probe;
  std::vector<std::uint32_t> first;
  std::size_t probe_pos = 0;
  std::uint32_t chain = no_row;
  bool probe_done = false;

  // Scratch.
  std::vector<std::uint32_t> ids;
  std::vector<std::uint32_t> out_probe;  // live probe row of each output pair
  std::vector<std::uint32_t> out_build;  // build row of each output pair

  std::vector<type_id> probe_types;  // the probe child's columns, to check a restored probe batch
  mutable change_tracker changes;    // build rows in the last committed snapshot

  // Build input not yet in build_rows and build_keys. Appended batch by batch, the buffers grew
  // by doubling, and one growth of a large build side copied tens of MB in a step that cannot
  // yield (the executor is the embedding service's); held here, the input is appended once its
  // size is known, into buffers reserved for it, with yields between batches (build()), or
  // before a snapshot, which must hold every row the build child has delivered.
  struct pending_input {
    batch rows;
    std::vector<column_ptr> keys;  // the build keys of its live rows
    std::size_t n = 0;             // its live rows
  };
  std::deque<pending_input> pending;
  std::size_t pending_rows = 0;
  void reserve_for_pending() {
    build_rows.reserve(build_rows.size() + pending_rows);
    build_keys.reserve(build_keys.size() + pending_rows);
  }
  // Appends the oldest pending input; returns whether more remain.
  bool append_pending() {
    if (pending.empty()) {
      return false;
    }
    pending_input& p = pending.front();
    for (std::size_t k = 0; k < p.keys.size(); ++k) {
      build_keys.append_column(k, *p.keys[k], nullptr, p.n);
    }
    build_keys.commit(p.n);
    build_rows.append_live(p.rows);
    pending_rows -= p.n;
    pending.pop_front();
    return !pending.empty();
  }
  void prepare_snapshot() override {
    reserve_for_pending();
    while (append_pending()) {
    }
  }
};

std::vector<operator_ptr> two(operator_ptr a, operator_ptr b) {
  std::vector<operator_ptr> v;
  v.push_back(std::move(a));
  v.push_back(std::move(b));
  return v;
}

bool any_key_null(const std::vector<const column*>& cols, std::size_t row) {
  for (const column* c : cols) {
    if (c->is_null(row)) {
      return true;
    }
  }
  return false;
}

// Rows in [start, end) whose keys are all non-NULL.
void rows_without_null_keys(const std::vector<const column*>& key_cols, std::size_t start, std::size_t end,
                            std::vector<std::uint32_t>& out) {
  out.clear();
  for (std::size_t r = start; r < end; ++r) {
    if (!any_key_null(key_cols, r)) {
      out.push_back(static_cast<std::uint32_t>(r));
    }
  }
}

// Indexing the build side, in steps of at most build_chunk rows, so that build() can yield
// between them (a 2.5M-row build side indexed in one go held the executor for 50-70 ms) and
// load() can rebuild the same index (same slots, same chains) from restored build rows.
//
// A single int64 key over a range not much wider than the rows (8 slots a row) is its own
// slot, key - base, which beats hashing; otherwise rows with no NULL key go into a key table.
// Chains link rows back to front, so each lists its build rows in input order.
class index_builder {
 public:
  index_builder(join_state& st, const std::vector<type_id>& key_types)
      : st_(st), rows_(st.build_keys.size()), key_cols_(st.build_keys.column_ptrs()) {
    slot_.reserve(rows_);  // filled in steps: a 10 MB memset with its page faults is one too
    st_.direct = false;
    direct_candidate_ = key_types.size() == 1 && key_types[0] == type_id::int64;
    phase_ = phase::init_slots;
    if (!direct_candidate_) {
      st_.table.emplace(key_types);
    }
    key_types_ = key_types;
  }

  // Does one step; returns whether more remain. After the last, the index is complete.
  bool step() {
    switch (phase_) {
      case phase::init_slots:
        return init_slots_step();
      case phase::init_links:
        return init_links_step();
      case phase::key_range:
        return key_range_step();
      case phase::assign_direct:
        return assign_direct_step();
      case phase::hash_insert:
        return hash_insert_step();
      case phase::link:
        return link_step();
      case phase::done:
        break;
    }
    return false;
  }

 private:
  enum class phase : std::uint8_t { init_slots, key_range, assign_direct, hash_insert, init_links, link, done };

  std::size_t chunk_end() const { return std::min(rows_, next_ + build_chunk); }

  // Grows `v` towards `size` entries of no_row by one step's worth; returns whether it is there.
  static bool fill_step(std::vector<std::uint32_t>& v, std::size_t size) {
    v.resize(std::min(size, v.size() + fill_chunk), no_row);
    return v.size() == size;
  }

  bool init_slots_step() {
    if (fill_step(slot_, rows_)) {
      phase_ = direct_candidate_ ? phase::key_range : phase::hash_insert;
    }
    return true;
  }

  bool init_links_step() {
    if (fill_step(st_.head, slots_) && fill_step(st_.next, rows_)) {
      next_ = rows_;  // linking goes back to front
      phase_ = phase::link;
    }
    return true;
  }

  bool key_range_step() {
    const column& key = *key_cols_[0];
    const std::int64_t* v = key.ints.data();
    const std::size_t end = chunk_end();
    for (std::size_t r = next_; r < end; ++r) {
      if (!key.is_null(r)) {
        lo_ = std::min(lo_, v[r]);
        hi_ = std::max(hi_, v[r]);
        ++valid_;
      }
    }
    next_ = end;
    if (next_ < rows_) {
      return true;
    }
    next_ = 0;
    const std::uint64_t range = static_cast<std::uint64_t>(hi_) - static_cast<std::uint64_t>(lo_);
    if (valid_ > 0 && range < 8 * static_cast<std::uint64_t>(valid_) + 1024) {
      st_.direct = true;
      st_.direct_base = lo_;
      slots_ = static_cast<std::size_t>(range) + 1;
      phase_ = phase::assign_direct;
    } else {
      st_.table.emplace(key_types_);
      phase_ = phase::hash_insert;
    }
    return true;
  }

  bool assign_direct_step() {
    const column& key = *key_cols_[0];
    const std::int64_t* v = key.ints.data();
    const std::size_t end = chunk_end();
    for (std::size_t r = next_; r < end; ++r) {
      if (!key.is_null(r)) {
        slot_[r] = static_cast<std::uint32_t>(static_cast<std::uint64_t>(v[r]) - static_cast<std::uint64_t>(lo_));
      }
    }
    next_ = end;
    if (next_ >= rows_) {
      start_linking();
    }
    return true;
  }

  // Inserts the next chunk of rows with no NULL key.
  bool hash_insert_step() {
    if (rows_ == 0) {
      start_linking();
      return true;
    }
    std::vector<std::uint32_t> chunk_rows;
    const std::size_t end = chunk_end();
    rows_without_null_keys(key_cols_, next_, end, chunk_rows);
    std::vector<column_ptr> chunk;
    std::vector<const column*> chunk_ptrs;
    for (const column* k : key_cols_) {
      chunk.push_back(keys::take_rows(*k, chunk_rows.data(), chunk_rows.size()));
      chunk_ptrs.push_back(chunk.back().get());
    }
    st_.table->insert(chunk_ptrs, chunk_rows.size(), st_.ids);
    for (std::size_t j = 0; j < chunk_rows.size(); ++j) {
      slot_[chunk_rows[j]] = st_.ids[j];
    }
    next_ = end;
    if (next_ >= rows_) {
      slots_ = st_.table->size();
      start_linking();
    }
    return true;
  }

  void start_linking() {
    st_.head.clear();
    st_.next.clear();
    st_.head.reserve(slots_);
    st_.next.reserve(rows_);
    phase_ = phase::init_links;
  }

  bool link_step() {
    std::uint32_t* head = st_.head.data();
    std::uint32_t* next = st_.next.data();
    const std::size_t begin = next_ > build_chunk ? next_ - build_chunk : 0;
    for (std::size_t r = next_; r-- > begin;) {
      if (slot_[r] != no_row) {
        next[r] = head[slot_[r]];
        head[slot_[r]] = static_cast<std::uint32_t>(r);
      }
    }
    next_ = begin;
    if (next_ > 0) {
      return true;
    }
    st_.built = true;
    phase_ = phase::done;
    return false;
  }

  join_state& st_;
  const std::size_t rows_;
  const std::vector<const column*> key_cols_;
  std::vector<type_id> key_types_;
  std::vector<std::uint32_t> slot_;  // slot of each build row; no_row for rows with a NULL key
  std::size_t slots_ = 0;
  std::size_t next_ = 0;  // the next row the current phase handles
  bool direct_candidate_ = false;
  std::int64_t lo_ = std::numeric_limits<std::int64_t>::max();
  std::int64_t hi_ = std::numeric_limits<std::int64_t>::min();
  std::size_t valid_ = 0;
  phase phase_ = phase::done;
};

// Sets first[i] to the first build row whose key equals probe row i's, or no_row. Plain
// functions, not coroutines, keep the hot loops' variables in registers.
void find_first_matches(join_state& st, const std::vector<const column*>& key_ptrs, std::size_t n) {
  st.first.assign(n, no_row);
  if (st.head.empty()) {
    return;
  }
  std::uint32_t* first = st.first.data();
  const std::uint32_t* head = st.head.data();
  if (st.direct) {
    const column& key = *key_ptrs[0];
    const std::int64_t* v = key.ints.data();
    const std::uint64_t size = st.head.size();
    const auto base = static_cast<std::uint64_t>(st.direct_base);
    const std::uint8_t* nulls = key.has_nulls() ? key.nulls.data() : nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t off = static_cast<std::uint64_t>(v[i]) - base;
      const bool hit = off < size && (nulls == nullptr || nulls[i] == 0);
      first[i] = hit ? head[off] : no_row;
    }
    return;
  }
  // Rows with a NULL key find nothing: no NULL key was ever inserted.
  st.table->find(key_ptrs, n, st.ids);
  const std::uint32_t* ids = st.ids.data();
  for (std::size_t i = 0; i < n; ++i) {
    first[i] = ids[i] == keys::key_table::absent ? no_row : head[ids[i]];
  }
}

// Lists the next pairs (live probe row, build row) of the current probe batch, at most `limit`,
// advancing the cursor. Returns the number of pairs and sets `repeated` when some probe row
// occurs more than once among them.
std::size_t expand_pairs(join_state& st, std::size_t n, std::size_t limit, bool& repeated) {
  st.out_probe.resize(limit);
  st.out_build.resize(limit);
  std::uint32_t* out_probe = st.out_probe.data();
  std::uint32_t* out_build = st.out_build.data();
  const std::uint32_t* first = st.first.data();
  const std::uint32_t* next = st.next.data();
  std::size_t pos = st.probe_pos;
  std::uint32_t chain = st.chain;
  std::size_t k = 0;
  bool again = false;
  while (pos < n && k < limit) {
    if (chain == no_row) {
      ++pos;
      chain = pos < n ? first[pos] : no_row;
      continue;
    }
    again = again || (k > 0 && out_probe[k - 1] == pos);
    out_probe[k] = static_cast<std::uint32_t>(pos);
    out_build[k] = chain;
    ++k;
    chain = next[chain];
  }
  st.probe_pos = pos;
  st.chain = chain;
  repeated = again;
  return k;
}

// Builds the output of `pairs` pairs listed by expand_pairs.
batch join_output(const join_state& st, const batch& probe, std::size_t pairs, bool repeated, std::size_t probe_width,
                  std::size_t build_width) {
  batch out;
  std::vector<std::uint32_t> phys(pairs);
  const std::uint32_t* live = st.out_probe.data();
  if (probe.has_selection) {
    for (std::size_t j = 0; j < pairs; ++j) {
      phys[j] = probe.selection[live[j]];
    }
  } else {
    std::copy(live, live + pairs, phys.begin());
  }
  if (!repeated && 2 * pairs >= probe.rows) {
    // Each probe row at most once, and most of the batch: share the probe columns and select
    // the matched rows (build columns get the probe batch's row count).
    out.rows = probe.rows;
    out.columns = probe.columns;
    for (std::size_t c = 0; c < build_width; ++c) {
      out.columns.push_back(st.build_rows.gather_at(c, st.out_build.data(), phys.data(), pairs, probe.rows));
    }
    if (pairs < probe.rows) {
      out.has_selection = true;
      out.selection = std::move(phys);
    }
    return out;
  }
  out.rows = pairs;
  for (std::size_t c = 0; c < probe_width; ++c) {
    out.columns.push_back(keys::take_rows(*probe.columns[c], phys.data(), pairs));
  }
  for (std::size_t c = 0; c < build_width; ++c) {
    out.columns.push_back(st.build_rows.gather(c, st.out_build.data(), pairs));
  }
  return out;
}

// hash_join v1: [tag, 1, kind, 3 built, 4 first build row, 5 build row count, 6 build rows
// (columns of rows [first build row, build row count)), 7 their build keys (same rows), 8 probe
// batch (nil, or [rows, columns, selection bin of uint32 or nil]), 9 first match of each live
// probe row (bin of uint32), 10 probe_pos, 11 chain, 12 probe_done]. The index (head, next, key
// table) is not packed: load() rebuilds it from the build keys exactly as build() did, so the
// chains come out identical. The build side only grows until built, so a delta carries the
// build rows added since the committed snapshot (none once built) and the probe cursor.
constexpr std::string_view join_tag = "hash_join";
constexpr std::uint32_t join_version = 1;

snapshot_kind join_state::save(state_packer& out, snapshot_kind requested) const {
  const bool delta = requested == snapshot_kind::delta && changes.delta_possible();
  changes.saving(build_rows.size());
  const std::size_t from = delta ? changes.committed_size() : 0;
  const snapshot_kind kind = delta ? snapshot_kind::delta : snapshot_kind::full;
  pack_header(out, join_tag, join_version, kind, 10);
  out.pack(built);
  out.pack_uint64(from);
  out.pack_uint64(build_rows.size());
  pack_columns(out, build_rows.column_ptrs(), from, build_rows.size());
  pack_columns(out, build_keys.column_ptrs(), from, build_keys.size());
  if (probe) {
    out.pack_array(3);
    out.pack_uint64(probe->rows);
    out.pack_array(static_cast<std::uint32_t>(probe->columns.size()));
    for (const column_ptr& c : probe->columns) {
      pack_column(out, *c, 0, probe->rows);
    }
    if (probe->has_selection) {
      pack_values(out, probe->selection);
    } else {
      out.pack_nil();
    }
    pack_values(out, first);
  } else {
    out.pack_nil();
    pack_values(out, static_cast<const std::uint32_t*>(nullptr), 0);
  }
  out.pack_uint64(probe ? probe_pos : 0);
  out.pack_uint64(probe ? chain : no_row);
  out.pack(probe_done);
  return kind;
}

// The probe cursor of a snapshot (fields 8 to 12); `count` build rows exist when it applies.
probe_cursor read_probe_cursor(const section_reader& sec, bool now_built, std::size_t count,
                               const std::vector<type_id>& probe_types) {
  const value_reader probe_value = sec.field(8, "probe batch");
  std::optional<batch> new_probe;
  std::size_t live = 0;
  if (!probe_value.is_nil()) {
    if (!now_built) {
      probe_value.fail("nil (no probing before the build side is built)");
    }
    probe_value.expect_array(3);
    batch b;
    const std::uint64_t rows = probe_value.at(0, "rows").as_uint(no_row - 1);
    b.rows = static_cast<std::size_t>(rows);
    const value_reader cols = probe_value.at(1, "columns");
    cols.expect_array(probe_types.size());
    for (std::size_t c = 0; c < probe_types.size(); ++c) {
      const value_reader col = cols.at(c, "column");
      auto decoded = std::make_shared<column>(unpack_column(col, probe_types[c], string_storage::own));
      if (decoded->size() != b.rows) {
        col.invalid("column of " + std::to_string(decoded->size()) + " rows in a batch of " + std::to_string(rows));
      }
      b.columns.push_back(std::move(decoded));
    }
    const value_reader sel = probe_value.at(2, "selection");
    if (!sel.is_nil()) {
      b.has_selection = true;
      unpack_values(sel, b.selection, value_count<std::uint32_t>(sel, b.rows));
      for (std::size_t j = 0; j < b.selection.size(); ++j) {
        if (b.selection[j] >= b.rows || (j > 0 && b.selection[j] <= b.selection[j - 1])) {
          sel.invalid("selection must ascend below " + std::to_string(rows));
        }
      }
    }
    live = b.live_rows();
    new_probe = std::move(b);
  }
  const value_reader first_value = sec.field(9, "first matches");
  std::vector<std::uint32_t> new_first;
  unpack_values(first_value, new_first, live);
  for (std::uint32_t r : new_first) {
    if (r != no_row && r >= count) {
      first_value.invalid("build row " + std::to_string(r) + " of " + std::to_string(count));
    }
  }
  const value_reader pos_value = sec.field(10, "probe_pos");
  const std::size_t pos = static_cast<std::size_t>(pos_value.as_uint());
  if (new_probe ? pos >= live : pos != 0) {
    pos_value.invalid("probe_pos " + std::to_string(pos) + " with " + std::to_string(live) + " live probe rows");
  }
  const value_reader chain_value = sec.field(11, "chain");
  const std::uint64_t c = chain_value.as_uint(no_row);
  if (c != no_row && c >= count) {
    chain_value.invalid("build row " + std::to_string(c) + " of " + std::to_string(count));
  }
  const bool done = sec.field(12, "probe_done").as_bool();
  probe_cursor cursor;
  cursor.probe = std::move(new_probe);
  cursor.first = std::move(new_first);
  cursor.pos = pos;
  cursor.chain = static_cast<std::uint32_t>(c);
  cursor.done = done;
  return cursor;
}

void join_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, join_tag, join_version, kind);
  sec.expect_fields(10);
  if (kind == snapshot_kind::full) {
    build_rows = keys::row_buffer(build_rows.types(), build_rows.mode());
    build_keys = keys::row_buffer(build_keys.types(), build_keys.mode());
    pending.clear();
    pending_rows = 0;
    built = false;
    direct = false;
    direct_base = 0;
    table.reset();
    head.clear();
    next.clear();
    probe.reset();
    first.clear();
    probe_pos = 0;
    chain = no_row;
    probe_done = false;
  }
  const value_reader built_value = sec.field(3, "built");
  const bool now_built = built_value.as_bool();
  if (built && !now_built) {
    built_value.invalid("the build side is built already");
  }
  const value_reader from_value = sec.field(4, "first build row");
  if (from_value.as_uint() != build_rows.size()) {
    from_value.invalid("build rows start at " + std::to_string(from_value.as_uint()) + ", the state holds " +
                       std::to_string(build_rows.size()));
  }
  const value_reader count_value = sec.field(5, "build row count");
  const std::size_t count = static_cast<std::size_t>(count_value.as_uint(no_row - 1));
  if (count < build_rows.size() || (built && count != build_rows.size())) {
    count_value.invalid("the build side only grows until built");
  }
  const std::size_t added = count - build_rows.size();
  const value_reader rows_value = sec.field(6, "build rows");
  std::vector<column> new_rows;
  if (unpack_columns(rows_value, build_rows.types(), string_storage::own, new_rows) != added &&
      build_rows.width() > 0) {
    rows_value.invalid("expected " + std::to_string(added) + " rows");
  }
  const value_reader keys_value = sec.field(7, "build keys");
  std::vector<column> new_keys;
  if (unpack_columns(keys_value, build_keys.types(), string_storage::own, new_keys) != added) {
    keys_value.invalid("expected keys of " + std::to_string(added) + " rows");
  }

  probe_cursor cursor = read_probe_cursor(sec, now_built, count, probe_types);

  build_rows.append_columns(std::move(new_rows), added);
  build_keys.append_columns(std::move(new_keys), added);
  if (now_built && !built) {
    std::vector<type_id> key_types = build_keys.types();
    index_builder index(*this, key_types);
    while (index.step()) {
    }
  }
  set_probe_cursor(std::move(cursor));
  changes.restored(build_rows.size());
}

void join_state::set_probe_cursor(probe_cursor cursor) {
  probe = std::move(cursor.probe);
  first = std::move(cursor.first);
  probe_pos = cursor.pos;
  chain = cursor.chain;
  probe_done = cursor.done;
}

bool join_state::rollback_unfinished(const msgpack::object* in, snapshot_kind kind) {
  if (!built) {
    return false;
  }
  if (in == nullptr) {
    set_probe_cursor(probe_cursor{});
    changes = change_tracker{};
    return true;
  }
  const section_reader sec(*in, join_tag, join_version, kind);
  sec.expect_fields(10);
  const bool then_built = sec.field(3, "built").as_bool();
  const value_reader count_value = sec.field(5, "build row count");
  const std::size_t count = static_cast<std::size_t>(count_value.as_uint(no_row - 1));
  if (count > build_rows.size() || (then_built && count != build_rows.size())) {
    count_value.invalid("the snapshot has " + std::to_string(count) + " build rows, the built side " +
                        std::to_string(build_rows.size()));
  }
  set_probe_cursor(read_probe_cursor(sec, then_built, count, probe_types));
  changes.restored(count);
  return true;
}

std::uint64_t join_state::snapshot_size_hint() const {
  std::uint64_t bytes = 4 * first.size();
  for (const pending_input& p : pending) {
    for (const column_ptr& c : p.rows.columns) {
      bytes += column_bytes(*c);
    }
  }
  for (const column* c : build_rows.column_ptrs()) {
    bytes += column_bytes(*c);
  }
  for (const column* c : build_keys.column_ptrs()) {
    bytes += column_bytes(*c);
  }
  if (probe) {
    for (const column_ptr& c : probe->columns) {
      bytes += column_bytes(*c);
    }
    bytes += 4 * probe->selection.size();
  }
  return bytes;
}

}  // namespace

hash_join_operator::hash_join_operator(const plan_detail::bound_node& node, operator_ptr probe, operator_ptr build)
    : physical_operator(node.id, node.path, node.output, two(std::move(probe), std::move(build))),
      probe_keys_(node.probe_keys),
      build_keys_(node.build_keys) {
  if (probe_keys_.empty() || probe_keys_.size() != build_keys_.size()) {
    throw plan_error(node.path, "hash_join needs the same number (at least one) of probe and build keys");
  }
  for (std::size_t i = 0; i < probe_keys_.size(); ++i) {
    if (probe_keys_[i].type != build_keys_[i].type) {
      throw plan_error(node.path + ".probe_keys[" + std::to_string(i) + "]",
                       "probe key is " + std::string(type_name(probe_keys_[i].type)) + ", build key is " +
                           std::string(type_name(build_keys_[i].type)));
    }
    key_types_.push_back(build_keys_[i].type);
  }
  probe_width_ = child(0).output_schema().size();
  build_types_ = types_of(child(1).output_schema());
}

std::unique_ptr<operator_state> hash_join_operator::make_state(execution_context&) const {
  return std::make_unique<join_state>(build_types_, key_types_, types_of(child(0).output_schema()));
}

boost::asio::awaitable<void> hash_join_operator::build(execution_context& ctx) const {
  auto& st = ctx.state<join_state>(id());
  while (std::optional<batch> in = co_await child(1).next(ctx)) {
    join_state::pending_input p;
    p.n = in->live_rows();
    for (const auto& key : build_keys_) {
      p.keys.push_back(evaluate(key, *in));
    }
    p.rows = std::move(*in);
    st.pending_rows += p.n;
    st.pending.push_back(std::move(p));
  }
  st.reserve_for_pending();
  while (st.append_pending()) {
    co_await ctx.yield_if_due();
  }

  index_builder index(st, key_types_);
  while (index.step()) {
    co_await ctx.yield_if_due();
  }
  // No build key can match: the join is empty, and the probe side need not run at all.
  st.probe_done = st.head.empty();
}

boost::asio::awaitable<std::optional<batch>> hash_join_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<join_state>(id());
  if (!st.built) {
    co_await build(ctx);
  }
  const std::size_t limit = ctx.batch_rows();
  while (!st.probe_done) {
    if (!st.probe) {
      std::optional<batch> in = co_await child(0).next(ctx);
      if (!in) {
        st.probe_done = true;
        break;
      }
      const std::size_t n = in->live_rows();
      std::vector<column_ptr> key_cols;
      std::vector<const column*> key_ptrs;
      if (!st.head.empty()) {
        for (const auto& k : probe_keys_) {
          key_cols.push_back(evaluate(k, *in));
          key_ptrs.push_back(key_cols.back().get());
        }
      }
      find_first_matches(st, key_ptrs, n);
      st.probe = std::move(in);
      st.probe_pos = 0;
      st.chain = n > 0 ? st.first[0] : no_row;
    }

    // Expand the next pairs of the current probe batch, at most `limit` of them.
    const batch& probe = *st.probe;
    const std::size_t n = probe.live_rows();
    bool repeated = false;
    const std::size_t pairs = expand_pairs(st, n, limit, repeated);
    batch out;
    if (pairs > 0) {
      out = join_output(st, probe, pairs, repeated, probe_width_, build_types_.size());
    }
    if (st.probe_pos >= n) {
      st.probe.reset();
    }
    if (pairs > 0) {
      co_return out;
    }
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
