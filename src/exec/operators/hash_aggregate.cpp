#include "exec/operators/hash_aggregate.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/keys/distinct_values.hpp"
#include "exec/keys/key_table.hpp"
#include "exec/state/change_tracker.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::exec {

namespace {

using plan_detail::bound_expr;
using input_spec = hash_aggregate_operator::input_spec;
using output_spec = hash_aggregate_operator::output_spec;

// Running values of one input, indexed by group id.
struct input_fold {
  std::vector<std::int64_t> nulls;  // NULL inputs seen; non-NULL count = group rows - nulls
  std::vector<std::int64_t> int_sum;
  std::vector<double> double_sum;
  std::vector<std::int64_t> int_min, int_max;
  std::vector<double> double_min, double_max;
  std::vector<std::string> string_min, string_max;
  std::vector<std::uint8_t> string_min_set, string_max_set;
};

// Per-batch scratch of the few-group folds.
struct lane_scratch {
  std::vector<std::int64_t> ints;
  std::vector<double> doubles;
};

struct aggregate_state : operator_state {
  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  void snapshot_committed() override;
  std::uint64_t snapshot_size_hint() const override;

  std::vector<input_spec> inputs;         // the operator's, so that load() can size the folds
  std::optional<keys::key_table> groups;  // absent when ungrouped: one group, id 0
  std::size_t group_count = 0;
  std::vector<std::int64_t> rows;                          // rows per group (COUNT(*))
  std::vector<input_fold> folds;                           // one per input_spec
  std::vector<keys::distinct_values> distinct;             // one per distinct input
  std::vector<std::vector<std::int64_t>> distinct_counts;  // filled once the input is done
  std::vector<std::uint32_t> ids;                          // scratch: group id of each live row
  lane_scratch lanes;                                      // scratch of the few-group folds
  bool input_done = false;
  std::size_t emitted = 0;  // groups produced so far
  // Groups folded into since the last committed snapshot (grouped only; on once checkpointing).
  mutable change_tracker changes;
};

bool same_expr(const bound_expr& a, const bound_expr& b) {
  if (a.op != b.op || a.type != b.type || a.args.size() != b.args.size()) {
    return false;
  }
  if (a.op == expr_op::column && a.column != b.column) {
    return false;
  }
  if (a.op == expr_op::constant && !(a.value == b.value)) {
    return false;
  }
  for (std::size_t i = 0; i < a.args.size(); ++i) {
    if (!same_expr(a.args[i], b.args[i])) {
      return false;
    }
  }
  return true;
}

std::size_t input_index(std::vector<input_spec>& inputs, const bound_expr& e) {
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (same_expr(inputs[i].expr, e)) {
      return i;
    }
  }
  inputs.push_back(input_spec{e, e.type, false, false, false});
  return inputs.size() - 1;
}

// Folds v[i] into acc[group of row i] with `op`, skipping NULL rows. Ungrouped (gid null), the
// running value stays in a register.
template <class T, class Op>
void fold(std::vector<T>& acc, const std::uint32_t* gid, const T* v, const std::uint8_t* nulls, std::size_t n, Op op) {
  T* a = acc.data();
  if (gid == nullptr) {
    T x = a[0];
    if (nulls != nullptr) {
      for (std::size_t i = 0; i < n; ++i) {
        if (nulls[i] == 0) {
          x = op(x, v[i]);
        }
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        x = op(x, v[i]);
      }
    }
    a[0] = x;
    return;
  }
  if (nulls != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      if (nulls[i] == 0) {
        a[gid[i]] = op(a[gid[i]], v[i]);
      }
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      a[gid[i]] = op(a[gid[i]], v[i]);
    }
  }
}

// Few groups: rows of one group follow each other closely, and acc[g] += v through memory makes
// each add wait for the previous one. Four lanes (by row index) per group break that chain;
// the lanes are added up per batch in a fixed order, so results stay deterministic.
constexpr std::size_t lane_count = 4;
constexpr std::size_t lane_max_groups = 64;

template <class T, class Add>
void fold_sum_lanes(std::vector<T>& acc, const std::uint32_t* gid, const T* v, const std::uint8_t* nulls, std::size_t n,
                    std::vector<T>& lanes, Add add) {
  const std::size_t groups = acc.size();
  lanes.assign(groups * lane_count, T{});
  T* l = lanes.data();
  if (nulls != nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      T& slot = l[gid[i] * lane_count + (i & (lane_count - 1))];
      slot = add(slot, nulls[i] != 0 ? T{} : v[i]);
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      T& slot = l[gid[i] * lane_count + (i & (lane_count - 1))];
      slot = add(slot, v[i]);
    }
  }
  T* a = acc.data();
  for (std::size_t g = 0; g < groups; ++g) {
    const T* x = l + g * lane_count;
    a[g] = add(a[g], add(add(x[0], x[1]), add(x[2], x[3])));
  }
}

// Folds string v[i] into acc[group] when it beats the current value (or there is none yet).
template <class Better>
void fold_strings(std::vector<std::string>& acc, std::vector<std::uint8_t>& set, const std::uint32_t* gid,
                  const std::string_view* v, const std::uint8_t* nulls, std::size_t n, Better better) {
  for (std::size_t i = 0; i < n; ++i) {
    if (nulls != nullptr && nulls[i] != 0) {
      continue;
    }
    const std::size_t g = gid == nullptr ? 0 : gid[i];
    if (set[g] == 0 || better(v[i], std::string_view(acc[g]))) {
      acc[g].assign(v[i]);
      set[g] = 1;
    }
  }
}

// Adds and remembers whether any addition overflowed: a SUM that leaves int64 ends the query
// instead of returning a wrapped, wrong total.
struct checked_add_ints {
  bool* overflowed;
  std::int64_t operator()(std::int64_t a, std::int64_t b) const noexcept {
    std::int64_t r;
    *overflowed |= __builtin_add_overflow(a, b, &r);
    return r;
  }
};
constexpr auto add_doubles = [](double a, double b) { return a + b; };
constexpr auto min_of = [](auto a, auto b) { return b < a ? b : a; };
constexpr auto max_of = [](auto a, auto b) { return a < b ? b : a; };

void count_rows(std::vector<std::int64_t>& rows, const std::uint32_t* gid, std::size_t n, lane_scratch& scratch) {
  if (rows.size() <= lane_max_groups) {
    const std::size_t groups = rows.size();
    scratch.ints.assign(groups * lane_count, 0);
    std::int64_t* l = scratch.ints.data();
    for (std::size_t i = 0; i < n; ++i) {
      ++l[gid[i] * lane_count + (i & (lane_count - 1))];
    }
    for (std::size_t g = 0; g < groups; ++g) {
      rows[g] += l[g * lane_count] + l[g * lane_count + 1] + l[g * lane_count + 2] + l[g * lane_count + 3];
    }
    return;
  }
  std::int64_t* r = rows.data();
  for (std::size_t i = 0; i < n; ++i) {
    ++r[gid[i]];
  }
}

void grow_folds(aggregate_state& st, std::size_t n) {
  const std::vector<input_spec>& inputs = st.inputs;
  st.rows.resize(n, 0);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    const input_spec& in = inputs[k];
    input_fold& f = st.folds[k];
    f.nulls.resize(n, 0);
    if (in.type == type_id::float64) {
      if (in.sum) {
        f.double_sum.resize(n, 0.0);
      }
      if (in.min) {
        f.double_min.resize(n, std::numeric_limits<double>::infinity());
      }
      if (in.max) {
        f.double_max.resize(n, -std::numeric_limits<double>::infinity());
      }
    } else if (in.type == type_id::string) {
      if (in.min) {
        f.string_min.resize(n);
        f.string_min_set.resize(n, 0);
      }
      if (in.max) {
        f.string_max.resize(n);
        f.string_max_set.resize(n, 0);
      }
    } else {
      if (in.sum) {
        f.int_sum.resize(n, 0);
      }
      if (in.min) {
        f.int_min.resize(n, std::numeric_limits<std::int64_t>::max());
      }
      if (in.max) {
        f.int_max.resize(n, std::numeric_limits<std::int64_t>::min());
      }
    }
  }
}

// Returns false when an int64 SUM overflowed.
[[nodiscard]] bool fold_input(const input_spec& in, input_fold& f, const column& col, const std::uint32_t* gid,
                              std::size_t n, lane_scratch& scratch) {
  bool overflowed = false;
  const bool lanes = gid != nullptr && f.nulls.size() <= lane_max_groups;
  const std::uint8_t* nulls = col.has_nulls() ? col.nulls.data() : nullptr;
  if (nulls != nullptr) {
    if (gid == nullptr) {
      std::int64_t c = 0;
      for (std::size_t i = 0; i < n; ++i) {
        c += nulls[i] != 0;
      }
      f.nulls[0] += c;
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        f.nulls[gid[i]] += nulls[i] != 0;
      }
    }
  }
  switch (in.type) {
    case type_id::int64:
    case type_id::boolean: {
      const std::int64_t* v = col.ints.data();
      if (in.sum && lanes) {
        fold_sum_lanes(f.int_sum, gid, v, nulls, n, scratch.ints, checked_add_ints{&overflowed});
      } else if (in.sum) {
        fold(f.int_sum, gid, v, nulls, n, checked_add_ints{&overflowed});
      }
      if (in.min) {
        fold(f.int_min, gid, v, nulls, n, min_of);
      }
      if (in.max) {
        fold(f.int_max, gid, v, nulls, n, max_of);
      }
      break;
    }
    case type_id::float64: {
      const double* v = col.doubles.data();
      if (in.sum && lanes) {
        fold_sum_lanes(f.double_sum, gid, v, nulls, n, scratch.doubles, add_doubles);
      } else if (in.sum) {
        fold(f.double_sum, gid, v, nulls, n, add_doubles);
      }
      if (in.min) {
        fold(f.double_min, gid, v, nulls, n, min_of);
      }
      if (in.max) {
        fold(f.double_max, gid, v, nulls, n, max_of);
      }
      break;
    }
    case type_id::string: {
      const std::string_view* v = col.strings.data();
      if (in.min) {
        fold_strings(f.string_min, f.string_min_set, gid, v, nulls, n,
                     [](std::string_view a, std::string_view b) { return a < b; });
      }
      if (in.max) {
        fold_strings(f.string_max, f.string_max_set, gid, v, nulls, n,
                     [](std::string_view a, std::string_view b) { return b < a; });
      }
      break;
    }
  }
  return !overflowed;
}

// Builds the output column of one aggregate for groups [from, to).
column_ptr finish_aggregate(const output_spec& out, const std::vector<input_spec>& inputs, const aggregate_state& st,
                            std::size_t from, std::size_t to) {
  auto col = std::make_shared<column>(out.type);
  const std::size_t n = to - from;
  col->resize(n);
  const auto non_null = [&](std::size_t g) {
    return out.fn == agg_fn::count_star ? st.rows[g] : st.rows[g] - st.folds[out.input].nulls[g];
  };
  switch (out.fn) {
    case agg_fn::count_star:
    case agg_fn::count:
      for (std::size_t j = 0; j < n; ++j) {
        col->ints[j] = non_null(from + j);
      }
      return col;
    case agg_fn::count_distinct: {
      const auto& counts = st.distinct_counts[out.input];
      std::copy(counts.begin() + static_cast<std::ptrdiff_t>(from), counts.begin() + static_cast<std::ptrdiff_t>(to),
                col->ints.begin());
      return col;
    }
    default:
      break;
  }
  const input_spec& in = inputs[out.input];
  const input_fold& f = st.folds[out.input];
  std::shared_ptr<string_arena> arena;
  for (std::size_t j = 0; j < n; ++j) {
    const std::size_t g = from + j;
    const std::int64_t cnt = non_null(g);
    if (cnt == 0) {
      col->set_null(j);  // SUM, AVG, MIN and MAX of no values are NULL
      continue;
    }
    switch (out.fn) {
      case agg_fn::sum:
        if (in.type == type_id::float64) {
          col->doubles[j] = f.double_sum[g];
        } else {
          col->ints[j] = f.int_sum[g];
        }
        break;
      case agg_fn::avg: {
        const double total = in.type == type_id::float64 ? f.double_sum[g] : static_cast<double>(f.int_sum[g]);
        col->doubles[j] = total / static_cast<double>(cnt);
        break;
      }
      case agg_fn::min:
      case agg_fn::max: {
        const bool is_min = out.fn == agg_fn::min;
        switch (in.type) {
          case type_id::float64:
            col->doubles[j] = is_min ? f.double_min[g] : f.double_max[g];
            break;
          case type_id::string:
            if (!arena) {
              arena = std::make_shared<string_arena>();
              col->keep_alive(arena);
            }
            col->strings[j] = arena->add(is_min ? f.string_min[g] : f.string_max[g]);
            break;
          default:
            col->ints[j] = is_min ? f.int_min[g] : f.int_max[g];
            break;
        }
        break;
      }
      default:
        break;
    }
  }
  return col;
}

// --- Snapshots --------------------------------------------------------------------------------
//
// hash_aggregate v1: [tag, 1, kind,
//   3 grouped (bool), 4 group_count, 5 first_group, 6 group keys (columns of groups
//   [first_group, group_count), or nil ungrouped), 7 changed groups (bin of uint32 ids below
//   first_group, ascending), 8 rows per group, 9 folds (one array of 11 per input: nulls, int_sum,
//   double_sum, int_min, int_max, double_min, double_max, string_min, string_max, string_min_set,
//   string_max_set), 10 distinct sets (distinct_values::save), 11 input_done, 12 emitted]
// Per-group vectors hold the values of the changed groups, then of groups [first_group,
// group_count); a vector the aggregates do not use is nil, a string vector is [bytes, lengths].
// A full snapshot has first_group 0 and no changed groups. Ungrouped, the one group is always
// rewritten (first_group 0). distinct_counts is derived: recomputed on load once input_done.
//
// To read a v2 someday: bump state_version, keep a load_v1() for this layout (field positions
// never change meaning within a version), and dispatch on section_reader::version().
constexpr std::string_view state_tag = "hash_aggregate";
constexpr std::uint32_t state_version = 1;
constexpr std::size_t state_fields = 10;
constexpr std::size_t fold_vectors = 11;

// The groups whose per-group values a snapshot carries: changed ones, then [first, end).
struct group_selection {
  const change_tracker* changed = nullptr;  // null: none
  std::size_t changed_count = 0;
  std::size_t first = 0;
  std::size_t end = 0;

  std::size_t count() const noexcept { return changed_count + (end - first); }
  template <class F>
  void for_each(F f) const {
    if (changed != nullptr) {
      changed->for_each_changed(f);
    }
    for (std::size_t g = first; g < end; ++g) {
      f(g);
    }
  }
};

template <class T>
void pack_group_values(state_packer& out, const std::vector<T>& v, const group_selection& sel) {
  if (v.empty()) {
    out.pack_nil();  // not used by any aggregate (or no groups)
    return;
  }
  if (sel.changed_count == 0) {
    pack_values(out, v.data() + sel.first, sel.end - sel.first);
    return;
  }
  bin_writer w(out, sel.count() * sizeof(T), "aggregate values");
  sel.for_each([&](std::size_t g) { w.put(v[g]); });
  w.finish();
}

void pack_group_strings(state_packer& out, const std::vector<std::string>& v, const group_selection& sel) {
  if (v.empty()) {
    out.pack_nil();
    return;
  }
  out.pack_array(2);
  std::uint64_t total = 0;
  sel.for_each([&](std::size_t g) { total += v[g].size(); });
  bin_writer bytes(out, total, "aggregate strings");
  sel.for_each([&](std::size_t g) { bytes.write(v[g].data(), v[g].size()); });
  bytes.finish();
  bin_writer lengths(out, 4 * std::uint64_t{sel.count()}, "aggregate string lengths");
  sel.for_each([&](std::size_t g) { lengths.put(static_cast<std::uint32_t>(v[g].size())); });
  lengths.finish();
}

// Where the i-th value of a snapshot's per-group vector goes.
struct group_targets {
  const std::vector<std::uint32_t>& changed;
  std::size_t first;
  std::size_t end;

  std::size_t count() const noexcept { return changed.size() + (end - first); }
  std::size_t at(std::size_t i) const noexcept {
    return i < changed.size() ? changed[i] : first + (i - changed.size());
  }
};

bool empty_value(const value_reader& in) {
  return in.is_nil() || (in.object().type == msgpack::type::BIN && in.object().via.bin.size == 0);
}

template <class T>
void unpack_group_values(const value_reader& in, std::vector<T>& v, const group_targets& to) {
  if (v.empty()) {
    if (!empty_value(in)) {
      in.fail("nil (no aggregate uses this vector, or there are no groups)");
    }
    return;
  }
  const std::string_view b = in.as_bin();
  if (b.size() != to.count() * sizeof(T)) {
    in.fail("bin of " + std::to_string(to.count()) + " " + std::to_string(sizeof(T)) + "-byte values");
  }
  const char* p = b.data();
  for (std::size_t g : to.changed) {
    std::memcpy(&v[g], p, sizeof(T));
    p += sizeof(T);
  }
  if (to.end > to.first) {
    std::memcpy(v.data() + to.first, p, (to.end - to.first) * sizeof(T));
  }
}

void unpack_group_strings(const value_reader& in, std::vector<std::string>& v, const group_targets& to) {
  if (v.empty()) {
    if (!in.is_nil()) {
      in.fail("nil (no aggregate uses this vector, or there are no groups)");
    }
    return;
  }
  in.expect_array(2);
  unpack_string_values(in.at(0, "bytes"), in.at(1, "lengths"), to.count(),
                       [&](std::size_t i, std::string_view s) { v[to.at(i)].assign(s); });
}

template <class Fold, class F>
void for_each_fold_vector(Fold& f, F fn) {
  fn(0, "nulls", f.nulls);
  fn(1, "int_sum", f.int_sum);
  fn(2, "double_sum", f.double_sum);
  fn(3, "int_min", f.int_min);
  fn(4, "int_max", f.int_max);
  fn(5, "double_min", f.double_min);
  fn(6, "double_max", f.double_max);
  fn(7, "string_min", f.string_min);
  fn(8, "string_max", f.string_max);
  fn(9, "string_min_set", f.string_min_set);
  fn(10, "string_max_set", f.string_max_set);
}

snapshot_kind aggregate_state::save(state_packer& out, snapshot_kind requested) const {
  const bool delta = requested == snapshot_kind::delta && changes.delta_possible();
  const snapshot_kind kind = delta ? snapshot_kind::delta : snapshot_kind::full;
  group_selection sel;
  sel.end = group_count;
  changes.saving(group_count);
  if (delta && groups) {
    sel.first = changes.committed_size();
    sel.changed = &changes;
    sel.changed_count = changes.changed_count();
  }
  pack_header(out, state_tag, state_version, kind, state_fields);
  out.pack(groups.has_value());
  out.pack_uint64(group_count);
  out.pack_uint64(sel.first);
  if (groups) {
    pack_columns(out, groups->stored_ptrs(), sel.first, group_count);
  } else {
    out.pack_nil();
  }
  bin_writer ids(out, 4 * std::uint64_t{sel.changed_count}, "changed groups");
  if (sel.changed != nullptr) {
    sel.changed->for_each_changed([&](std::size_t g) { ids.put(static_cast<std::uint32_t>(g)); });
  }
  ids.finish();
  pack_group_values(out, rows, sel);
  out.pack_array(static_cast<std::uint32_t>(folds.size()));
  for (const input_fold& f : folds) {
    out.pack_array(fold_vectors);
    for_each_fold_vector(f, [&](std::size_t, std::string_view, const auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<std::string>>) {
        pack_group_strings(out, v, sel);
      } else {
        pack_group_values(out, v, sel);
      }
    });
  }
  out.pack_array(static_cast<std::uint32_t>(distinct.size()));
  for (const auto& d : distinct) {
    d.save(out, delta);
  }
  out.pack(input_done);
  out.pack_uint64(emitted);
  return kind;
}

void aggregate_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, state_tag, state_version, kind);
  sec.expect_fields(state_fields);
  const bool delta = kind == snapshot_kind::delta;
  if (!delta) {
    // A full snapshot replaces whatever was restored before it.
    if (groups) {
      std::vector<type_id> types = groups->types();
      groups.emplace(std::move(types));
    }
    group_count = groups ? 0 : 1;
    rows.clear();
    folds.assign(folds.size(), input_fold{});
    for (auto& d : distinct) {
      d.reset();
    }
    distinct_counts.clear();
    input_done = false;
    emitted = 0;
  }
  const value_reader grouped_value = sec.field(3, "grouped");
  if (grouped_value.as_bool() != groups.has_value()) {
    grouped_value.invalid(groups ? "this aggregate is grouped" : "this aggregate is ungrouped");
  }
  const value_reader count_value = sec.field(4, "group_count");
  const std::size_t count = static_cast<std::size_t>(count_value.as_uint(UINT32_MAX));
  const value_reader first_value = sec.field(5, "first_group");
  const std::size_t first = static_cast<std::size_t>(first_value.as_uint(count));
  const value_reader keys_value = sec.field(6, "group keys");
  std::vector<column> keys;
  if (groups) {
    if (first != groups->size()) {
      first_value.invalid("new groups start at " + std::to_string(first) + ", the state has " +
                          std::to_string(groups->size()));
    }
    if (unpack_columns(keys_value, groups->types(), string_storage::own, keys) != count - first) {
      keys_value.invalid("expected keys of " + std::to_string(count - first) + " new groups");
    }
  } else {
    if (count != 1 || first != 0) {
      count_value.invalid("an ungrouped aggregate has one group, rewritten whole");
    }
    if (!keys_value.is_nil()) {
      keys_value.fail("nil");
    }
  }
  const value_reader changed_value = sec.field(7, "changed groups");
  std::vector<std::uint32_t> changed;
  unpack_values(changed_value, changed, value_count<std::uint32_t>(changed_value, first));
  for (std::size_t j = 0; j < changed.size(); ++j) {
    if (changed[j] >= first || (j > 0 && changed[j] <= changed[j - 1])) {
      changed_value.invalid("changed group ids must ascend below " + std::to_string(first));
    }
  }
  if (!delta && !changed.empty()) {
    changed_value.invalid("a full snapshot lists no changed groups");
  }
  const value_reader folds_value = sec.field(9, "folds");
  folds_value.expect_array(folds.size());
  const value_reader distinct_value = sec.field(10, "distinct sets");
  distinct_value.expect_array(distinct.size());
  const bool done = sec.field(11, "input_done").as_bool();
  const value_reader emitted_value = sec.field(12, "emitted");
  const std::size_t emitted_now = static_cast<std::size_t>(emitted_value.as_uint(count));
  if (emitted_now > 0 && !done) {
    emitted_value.invalid("groups were emitted before the input was done");
  }

  if (groups && !groups->restore(std::move(keys))) {
    keys_value.invalid("group keys repeat or do not match the group types");
  }
  group_count = count;
  grow_folds(*this, count);
  const group_targets to{changed, first, count};
  const value_reader rows_value = sec.field(8, "rows");
  unpack_group_values(rows_value, rows, to);
  for (std::size_t k = 0; k < folds.size(); ++k) {
    const value_reader f = folds_value.at(k, "fold");
    f.expect_array(fold_vectors);
    for_each_fold_vector(folds[k], [&](std::size_t i, std::string_view name, auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<std::string>>) {
        unpack_group_strings(f.at(i, name), v, to);
      } else {
        unpack_group_values(f.at(i, name), v, to);
      }
    });
  }
  // Counts the folds keep adding to (and subtract from each other) must be plausible, so a
  // forged state cannot make later batches overflow them: 2^62 rows leaves 2^62 of headroom.
  constexpr std::int64_t max_rows = std::int64_t{1} << 62;
  for (std::size_t g = 0; g < count; ++g) {
    if (rows[g] < 0 || rows[g] > max_rows) {
      rows_value.invalid("group " + std::to_string(g) + " has " + std::to_string(rows[g]) + " rows");
    }
    for (const input_fold& f : folds) {
      if (g < f.nulls.size() && (f.nulls[g] < 0 || f.nulls[g] > rows[g])) {
        folds_value.invalid("group " + std::to_string(g) + " has " + std::to_string(f.nulls[g]) + " NULLs in " +
                            std::to_string(rows[g]) + " rows");
      }
    }
  }
  for (std::size_t k = 0; k < distinct.size(); ++k) {
    distinct[k].load(distinct_value.at(k, "distinct"), delta, count);
  }
  input_done = done;
  emitted = emitted_now;
  distinct_counts.clear();
  if (input_done) {
    for (auto& d : distinct) {
      distinct_counts.push_back(d.counts(group_count));
    }
  }
  changes.restored(group_count);
  for (auto& d : distinct) {
    d.snapshot_restored();
  }
}

void aggregate_state::snapshot_committed() {
  changes.committed();
  for (auto& d : distinct) {
    d.snapshot_committed();
  }
}

std::uint64_t aggregate_state::snapshot_size_hint() const {
  std::uint64_t bytes = 8 * rows.size();
  if (groups) {
    for (const column* c : groups->stored_ptrs()) {
      bytes += column_bytes(*c);
    }
  }
  for (const input_fold& f : folds) {
    for_each_fold_vector(f, [&](std::size_t, std::string_view, const auto& v) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::vector<std::string>>) {
        for (const auto& s : v) {
          bytes += 4 + s.size();
        }
      } else {
        bytes += v.size() * sizeof(v[0]);
      }
    });
  }
  for (const auto& d : distinct) {
    bytes += d.snapshot_size_hint();
  }
  return bytes;
}

}  // namespace

type_id aggregate_result_type(agg_fn fn, type_id arg) {
  switch (fn) {
    case agg_fn::sum:
    case agg_fn::min:
    case agg_fn::max:
      return arg;
    case agg_fn::avg:
      return type_id::float64;
    case agg_fn::count:
    case agg_fn::count_star:
    case agg_fn::count_distinct:
      return type_id::int64;
  }
  return type_id::int64;
}

hash_aggregate_operator::hash_aggregate_operator(const plan_detail::bound_node& node, operator_ptr child)
    : physical_operator(node.id, node.path, node.output, one_child(std::move(child))), group_by_(node.group_by) {
  for (const auto& g : group_by_) {
    group_types_.push_back(g.type);
  }
  for (std::size_t i = 0; i < node.aggregates.size(); ++i) {
    const auto& a = node.aggregates[i];
    output_spec out;
    out.fn = a.fn;
    if (a.fn != agg_fn::count_star) {
      if (!a.arg) {
        throw plan_error(node.path + ".aggregates[" + std::to_string(i) + "]",
                         std::string(agg_fn_name(a.fn)) + " needs an argument");
      }
      const type_id arg_type = a.arg->type;
      const bool numeric = is_numeric(arg_type);
      if ((a.fn == agg_fn::sum || a.fn == agg_fn::avg) && !numeric) {
        throw plan_error(node.path + ".aggregates[" + std::to_string(i) + "]",
                         std::string(agg_fn_name(a.fn)) + " needs a number, got " + std::string(type_name(arg_type)));
      }
      if (a.fn == agg_fn::count_distinct) {
        out.input = input_index(distinct_inputs_, *a.arg);
      } else {
        out.input = input_index(inputs_, *a.arg);
        input_spec& in = inputs_[out.input];
        in.sum = in.sum || a.fn == agg_fn::sum || a.fn == agg_fn::avg;
        in.min = in.min || a.fn == agg_fn::min;
        in.max = in.max || a.fn == agg_fn::max;
      }
    }
    out.type = aggregate_result_type(a.fn, a.arg ? a.arg->type : type_id::int64);
    if (out.type != a.type) {
      throw plan_error(node.path + ".aggregates[" + std::to_string(i) + "]",
                       std::string(agg_fn_name(a.fn)) + " yields " + std::string(type_name(out.type)) +
                           ", the plan says " + std::string(type_name(a.type)));
    }
    outputs_.push_back(out);
  }
}

std::unique_ptr<operator_state> hash_aggregate_operator::make_state(execution_context&) const {
  auto st = std::make_unique<aggregate_state>();
  st->inputs = inputs_;
  if (!group_by_.empty()) {
    st->groups.emplace(group_types_);
  }
  st->folds.resize(inputs_.size());
  for (const auto& in : distinct_inputs_) {
    st->distinct.emplace_back(in.type, !group_by_.empty());
  }
  if (group_by_.empty()) {
    st->group_count = 1;
    grow_folds(*st, 1);
  }
  return st;
}

boost::asio::awaitable<std::optional<batch>> hash_aggregate_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<aggregate_state>(id());
  const bool grouped = !group_by_.empty();
  while (!st.input_done) {
    std::optional<batch> in = co_await child(0).next(ctx);
    if (!in) {
      st.input_done = true;
      for (auto& d : st.distinct) {
        st.distinct_counts.push_back(d.counts(st.group_count));
      }
      break;
    }
    const std::size_t n = in->live_rows();
    const std::uint32_t* gid = nullptr;
    if (grouped) {
      std::vector<column_ptr> key_cols;
      std::vector<const column*> key_ptrs;
      for (const auto& g : group_by_) {
        key_cols.push_back(evaluate(g, *in));
        key_ptrs.push_back(key_cols.back().get());
      }
      st.groups->insert(key_ptrs, n, st.ids);
      if (st.groups->size() > st.group_count) {
        st.group_count = st.groups->size();
        grow_folds(st, st.group_count);
      }
      gid = st.ids.data();
      if (st.changes.on()) {
        // Fewer groups than rows: marking them all beats a pass over the ids (the delta then
        // carries at most a batch's worth of groups).
        if (st.group_count <= n) {
          st.changes.mark_first(st.group_count);
        } else {
          st.changes.mark(gid, n, st.group_count);
        }
      }
      count_rows(st.rows, gid, n, st.lanes);
    } else {
      st.rows[0] += static_cast<std::int64_t>(n);
    }
    for (std::size_t k = 0; k < inputs_.size(); ++k) {
      const column_ptr col = evaluate(inputs_[k].expr, *in);
      if (!fold_input(inputs_[k], st.folds[k], *col, gid, n, st.lanes)) {
        throw std::overflow_error(plan_path() + ": integer overflow in SUM over int64; cast the argument to " +
                                  "float64 (multiply by 1.0) to sum beyond int64");
      }
    }
    for (std::size_t k = 0; k < distinct_inputs_.size(); ++k) {
      const column_ptr col = evaluate(distinct_inputs_[k].expr, *in);
      st.distinct[k].add(*col, gid, n);
    }
  }

  if (st.emitted >= st.group_count) {
    co_return std::nullopt;
  }
  const std::size_t from = st.emitted;
  const std::size_t to = std::min(st.group_count, from + ctx.batch_rows());
  st.emitted = to;
  batch out;
  out.rows = to - from;
  for (std::size_t c = 0; c < group_by_.size(); ++c) {
    out.columns.push_back(st.groups->slice(c, from, to));
  }
  for (const auto& o : outputs_) {
    out.columns.push_back(finish_aggregate(o, inputs_, st, from, to));
  }
  co_return out;
}

}  // namespace ftq::exec
