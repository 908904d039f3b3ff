#include "exec/operators/hash_aggregate.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include <ftq/error.hpp>

#include "exec/expression.hpp"
#include "exec/keys/distinct_values.hpp"
#include "exec/keys/key_table.hpp"

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

type_id result_type(agg_fn fn, type_id arg) {
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

void grow_folds(aggregate_state& st, const std::vector<input_spec>& inputs, std::size_t n) {
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

}  // namespace

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
    out.type = result_type(a.fn, a.arg ? a.arg->type : type_id::int64);
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
  if (!group_by_.empty()) {
    st->groups.emplace(group_types_);
  }
  st->folds.resize(inputs_.size());
  for (const auto& in : distinct_inputs_) {
    st->distinct.emplace_back(in.type, !group_by_.empty());
  }
  if (group_by_.empty()) {
    st->group_count = 1;
    grow_folds(*st, inputs_, 1);
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
        grow_folds(st, inputs_, st.group_count);
      }
      gid = st.ids.data();
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
