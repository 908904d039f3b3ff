#include "plan/binder.hpp"

#include <fstream>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <variant>

#include <ftq/error.hpp>

#include "plan/plan_messages.hpp"

namespace ftq::plan_detail {

namespace {

std::string element(const std::string& path, std::string_view field, std::size_t i) {
  return path + "." + std::string(field) + "[" + std::to_string(i) + "]";
}

std::string position(std::string_view field, std::size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

bool is_null_constant(const bound_expr& b) {
  return b.op == expr_op::constant && std::holds_alternative<std::monostate>(b.value);
}

std::string type_label(const bound_expr& b) { return is_null_constant(b) ? "NULL" : std::string(type_name(b.type)); }

// A constant operand takes the type its operation runs in, so the evaluator never converts
// constants per row: 24 compared with a float64 column becomes 24.0, NULL takes the other side's
// type. Non-constant int64 operands of a float64 operation stay int64; the evaluator converts
// them per batch.
void coerce_constant(bound_expr& b, type_id t) {
  if (b.op != expr_op::constant) {
    return;
  }
  if (is_null_constant(b)) {
    b.type = t;
  } else if (t == type_id::float64 && std::holds_alternative<std::int64_t>(b.value)) {
    b.value = static_cast<double>(std::get<std::int64_t>(b.value));
    b.type = type_id::float64;
  }
}

// Numbers compare with numbers, strings with strings; NULL with anything but a predicate.
bool comparable(const bound_expr& a, const bound_expr& b) {
  if (is_null_constant(a) || is_null_constant(b)) {
    const bound_expr& other = is_null_constant(a) ? b : a;
    return is_null_constant(other) || other.type != type_id::boolean;
  }
  if (is_numeric(a.type) && is_numeric(b.type)) {
    return true;
  }
  return a.type == type_id::string && b.type == type_id::string;
}

void require_boolean(const bound_expr& b, const std::string& path) {
  if (is_null_constant(b)) {
    fail(path, "expected a boolean expression, got NULL");
  }
  if (b.type != type_id::boolean) {
    fail(path, "expected a boolean expression, got " + std::string(type_name(b.type)));
  }
}

void require_value(const bound_expr& b, const std::string& path) {
  if (b.type == type_id::boolean) {
    fail(path, "expected a value, got a boolean expression");
  }
}

// Types expressions over one input schema.
class expr_binder {
 public:
  explicit expr_binder(const schema& input) : input_(input) {}

  bound_expr bind(const expr& e, const std::string& path) const {
    switch (e.op) {
      case expr_op::column:
        return bind_column(e, path);
      case expr_op::constant:
        return bind_constant(e);
      case expr_op::add:
      case expr_op::sub:
      case expr_op::mul:
      case expr_op::div:
        return bind_arithmetic(e, path);
      case expr_op::eq:
      case expr_op::ne:
      case expr_op::lt:
      case expr_op::le:
      case expr_op::gt:
      case expr_op::ge:
        check_arity(e, e.args.size() == 2, "2 arguments", path);
        return bind_comparison(e, path);
      case expr_op::between:
        check_arity(e, e.args.size() == 3, "3 arguments", path);
        return bind_comparison(e, path);
      case expr_op::in:
        check_arity(e, e.args.size() >= 2, "at least 2 arguments", path);
        for (std::size_t i = 1; i < e.args.size(); ++i) {
          if (e.args[i].op != expr_op::constant) {
            fail(element(path, "args", i), "'in' takes constants after its first argument");
          }
        }
        return bind_comparison(e, path);
      case expr_op::and_:
      case expr_op::or_:
        check_arity(e, e.args.size() >= 2, "at least 2 arguments", path);
        return bind_logic(e, path);
      case expr_op::not_:
        check_arity(e, e.args.size() == 1, "1 argument", path);
        return bind_logic(e, path);
    }
    fail(path, "unknown expression operator");
  }

 private:
  static void check_arity(const expr& e, bool ok, std::string_view expected, const std::string& path) {
    if (!ok) {
      fail(path, in_quotes(expr_op_name(e.op)) + " takes " + std::string(expected) + ", got " +
                     std::to_string(e.args.size()));
    }
  }

  bound_expr bind_column(const expr& e, const std::string& path) const {
    auto index = input_.index_of(e.column_name);
    if (!index) {
      fail(path, "unknown column " + in_quotes(e.column_name) + " (columns: " + input_.names_joined() + ")");
    }
    bound_expr b;
    b.op = expr_op::column;
    b.column = *index;
    b.type = input_[*index].type;
    return b;
  }

  static bound_expr bind_constant(const expr& e) {
    bound_expr b;
    b.op = expr_op::constant;
    b.value = e.value;
    b.type = std::visit(
        [](const auto& v) {
          using t = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<t, double>) {
            return type_id::float64;
          } else if constexpr (std::is_same_v<t, std::string>) {
            return type_id::string;
          } else {
            return type_id::int64;  // an integer, or a NULL whose operation has not typed it yet
          }
        },
        e.value);
    return b;
  }

  std::vector<bound_expr> bind_args(const expr& e, const std::string& path) const {
    std::vector<bound_expr> args;
    args.reserve(e.args.size());
    for (std::size_t i = 0; i < e.args.size(); ++i) {
      args.push_back(bind(e.args[i], element(path, "args", i)));
    }
    return args;
  }

  bound_expr bind_arithmetic(const expr& e, const std::string& path) const {
    check_arity(e, e.args.size() == 2, "2 arguments", path);
    bound_expr b;
    b.op = e.op;
    b.args = bind_args(e, path);
    bool any_float = false;
    for (const auto& a : b.args) {
      if (!is_null_constant(a) && !is_numeric(a.type)) {
        fail(path, "type mismatch: cannot apply " + in_quotes(expr_op_name(e.op)) + " to " + type_label(b.args[0]) +
                       " and " + type_label(b.args[1]));
      }
      any_float = any_float || (!is_null_constant(a) && a.type == type_id::float64);
    }
    b.type = any_float || e.op == expr_op::div ? type_id::float64 : type_id::int64;
    for (auto& a : b.args) {
      coerce_constant(a, b.type);
    }
    return b;
  }

  // =, !=, <, <=, >, >=, between and in: every argument is compared with the first typed one.
  bound_expr bind_comparison(const expr& e, const std::string& path) const {
    bound_expr b;
    b.op = e.op;
    b.type = type_id::boolean;
    b.args = bind_args(e, path);
    const bound_expr* reference = &b.args[0];
    for (const auto& a : b.args) {
      if (!is_null_constant(a)) {
        reference = &a;
        break;
      }
    }
    bool any_float = false;
    for (const auto& a : b.args) {
      if (&a != reference && !comparable(*reference, a)) {
        fail(path, "type mismatch: cannot compare " + type_label(*reference) + " with " + type_label(a));
      }
      any_float = any_float || (!is_null_constant(a) && a.type == type_id::float64);
    }
    type_id operation = type_id::int64;
    if (!is_null_constant(*reference)) {
      operation = reference->type == type_id::string ? type_id::string : any_float ? type_id::float64 : type_id::int64;
    }
    for (auto& a : b.args) {
      coerce_constant(a, operation);
    }
    return b;
  }

  bound_expr bind_logic(const expr& e, const std::string& path) const {
    bound_expr b;
    b.op = e.op;
    b.type = type_id::boolean;
    b.args = bind_args(e, path);
    for (std::size_t i = 0; i < b.args.size(); ++i) {
      require_boolean(b.args[i], element(path, "args", i));
    }
    return b;
  }

  const schema& input_;
};

// Output names of one node, to report a duplicate together with where it first appeared.
class name_set {
 public:
  explicit name_set(std::string_view noun) : noun_(noun) {}

  void add(const std::string& name, std::string where, const std::string& path) {
    if (name.empty()) {
      fail(path, "empty " + noun_);
    }
    auto [it, inserted] = seen_.emplace(name, std::move(where));
    if (!inserted) {
      fail(path, "duplicate " + noun_ + " " + in_quotes(name) + " (also " + it->second + ")");
    }
  }

 private:
  std::string noun_;
  std::unordered_map<std::string, std::string> seen_;
};

std::string resolve_file(const std::string& file, const std::filesystem::path& data_dir, const std::string& path) {
  std::filesystem::path resolved(file);
  if (resolved.is_relative()) {
    resolved = data_dir / resolved;
  }
  std::string shown = resolved.string();
  std::error_code ec;
  auto status = std::filesystem::status(resolved, ec);
  if (ec || !std::filesystem::exists(status)) {
    fail(path, "no such file " + in_quotes(shown));
  }
  if (!std::filesystem::is_regular_file(status)) {
    fail(path, "not a regular file " + in_quotes(shown));
  }
  std::ifstream probe(resolved, std::ios::binary);
  if (!probe) {
    fail(path, "cannot read " + in_quotes(shown));
  }
  return shown;
}

class binder {
 public:
  explicit binder(const bind_context& ctx) : ctx_(ctx) {}

  std::unique_ptr<bound_node> bind_node(const plan_node& n, const std::string& path) {
    auto out = std::make_unique<bound_node>();
    out->kind = n.kind;
    out->id = next_id_++;
    out->path = path;
    switch (n.kind) {
      case node_kind::csv_scan:
        expect_inputs(n, path, 0);
        bind_csv_scan(n, *out);
        break;
      case node_kind::table_scan:
        expect_inputs(n, path, 0);
        bind_table_scan(n, *out);
        break;
      case node_kind::hash_join:
        expect_inputs(n, path, 2);
        out->inputs.push_back(bind_node(n.inputs[0], path + ".probe"));
        out->inputs.push_back(bind_node(n.inputs[1], path + ".build"));
        bind_hash_join(n, *out);
        break;
      default:
        expect_inputs(n, path, 1);
        out->inputs.push_back(bind_node(n.inputs[0], path + ".input"));
        bind_unary(n, *out);
        break;
    }
    return out;
  }

 private:
  static void expect_inputs(const plan_node& n, const std::string& path, std::size_t count) {
    if (n.inputs.size() != count) {
      fail(path, std::string(node_kind_name(n.kind)) + " takes " + std::to_string(count) +
                     (count == 1 ? " input" : " inputs") + ", got " + std::to_string(n.inputs.size()));
    }
  }

  // Picks the requested columns of a scan (all when none are named), in the requested order.
  static std::vector<std::size_t> select_columns(const plan_node& n, const schema& available, const std::string& path,
                                                 schema& output) {
    std::vector<std::size_t> indices;
    if (n.columns.empty()) {
      for (std::size_t i = 0; i < available.size(); ++i) {
        indices.push_back(i);
        output.push_back(available[i]);
      }
      return indices;
    }
    name_set names("output name");
    for (std::size_t i = 0; i < n.columns.size(); ++i) {
      std::string cpath = element(path, "columns", i);
      auto index = available.index_of(n.columns[i]);
      if (!index) {
        fail(cpath, "unknown column " + in_quotes(n.columns[i]) + " (columns: " + available.names_joined() + ")");
      }
      names.add(n.columns[i], position("columns", i), cpath);
      indices.push_back(*index);
      output.push_back(available[*index]);
    }
    return indices;
  }

  void bind_csv_scan(const plan_node& n, bound_node& out) const {
    if (n.file_schema.size() == 0) {
      fail(out.path + ".schema", "csv_scan needs at least one column");
    }
    name_set names("column name");
    for (std::size_t i = 0; i < n.file_schema.size(); ++i) {
      const field& f = n.file_schema[i];
      std::string fpath = element(out.path, "schema", i);
      names.add(f.name, position("schema", i), fpath + ".name");
      if (f.type == type_id::boolean) {
        fail(fpath + ".type", "a column cannot be boolean");
      }
    }
    out.file_schema = n.file_schema;
    out.file_columns = select_columns(n, n.file_schema, out.path, out.output);
    out.file = resolve_file(n.path, ctx_.data_dir, out.path + ".path");
  }

  void bind_table_scan(const plan_node& n, bound_node& out) const {
    table_ptr t = ctx_.find_table ? ctx_.find_table(n.table) : nullptr;
    if (!t) {
      std::string known;
      for (const auto& name : ctx_.table_names) {
        known += known.empty() ? "" : ", ";
        known += name;
      }
      fail(out.path + ".table", "unknown table " + in_quotes(n.table) +
                                    (known.empty() ? " (no tables registered)" : " (tables: " + known + ")"));
    }
    // Tables come from embedding code, not from the plan, but later name lookups still need
    // their column names to be unique.
    for (std::size_t i = 0; i < t->schema().size(); ++i) {
      auto first = t->schema().index_of(t->schema()[i].name);
      if (first && *first != i) {
        fail(out.path + ".table",
             "table " + in_quotes(n.table) + " has two columns named " + in_quotes(t->schema()[i].name));
      }
    }
    out.table_columns = select_columns(n, t->schema(), out.path, out.output);
    out.table = std::move(t);
  }

  static void bind_hash_join(const plan_node& n, bound_node& out) {
    const schema& probe = out.inputs[0]->output;
    const schema& build = out.inputs[1]->output;
    if (n.probe_keys.size() != n.build_keys.size()) {
      fail(out.path, "join key count mismatch: " + std::to_string(n.probe_keys.size()) + " probe_keys, " +
                         std::to_string(n.build_keys.size()) + " build_keys");
    }
    if (n.probe_keys.empty()) {
      fail(out.path + ".probe_keys", "hash_join needs at least one key");
    }
    expr_binder on_probe(probe);
    expr_binder on_build(build);
    for (std::size_t i = 0; i < n.probe_keys.size(); ++i) {
      std::string ppath = element(out.path, "probe_keys", i);
      std::string bpath = element(out.path, "build_keys", i);
      bound_expr pk = on_probe.bind(n.probe_keys[i], ppath);
      require_value(pk, ppath);
      bound_expr bk = on_build.bind(n.build_keys[i], bpath);
      require_value(bk, bpath);
      if (is_null_constant(pk) && !is_null_constant(bk)) {
        coerce_constant(pk, bk.type);
      } else if (is_null_constant(bk)) {
        coerce_constant(bk, pk.type);
      }
      if (pk.type != bk.type) {
        fail(bpath, "type mismatch: cannot join " + std::string(type_name(pk.type)) + " with " +
                        std::string(type_name(bk.type)));
      }
      out.probe_keys.push_back(std::move(pk));
      out.build_keys.push_back(std::move(bk));
    }
    for (std::size_t j = 0; j < build.size(); ++j) {
      if (auto i = probe.index_of(build[j].name)) {
        fail(out.path, "duplicate output name " + in_quotes(build[j].name) + " (probe column " + std::to_string(*i) +
                           " and build column " + std::to_string(j) + ")");
      }
    }
    out.output = probe;
    for (const auto& f : build.fields()) {
      out.output.push_back(f);
    }
  }

  static void bind_sort_keys(const plan_node& n, bound_node& out, const expr_binder& on_input) {
    if (n.keys.empty()) {
      fail(out.path + ".keys", std::string(node_kind_name(n.kind)) + " needs at least one key");
    }
    for (std::size_t i = 0; i < n.keys.size(); ++i) {
      std::string kpath = element(out.path, "keys", i) + ".expr";
      bound_sort_key k;
      k.value = on_input.bind(n.keys[i].value, kpath);
      require_value(k.value, kpath);
      k.descending = n.keys[i].descending;
      out.keys.push_back(std::move(k));
    }
  }

  static void check_not_negative(std::int64_t v, const std::string& path) {
    if (v < 0) {
      fail(path, "must be >= 0, got " + std::to_string(v));
    }
  }

  static void bind_project(const plan_node& n, bound_node& out, const expr_binder& on_input) {
    if (n.exprs.empty()) {
      fail(out.path + ".exprs", "project needs at least one expression");
    }
    name_set names("output name");
    for (std::size_t i = 0; i < n.exprs.size(); ++i) {
      std::string epath = element(out.path, "exprs", i);
      bound_expr b = on_input.bind(n.exprs[i].value, epath + ".expr");
      require_value(b, epath + ".expr");
      std::string name = n.exprs[i].as;
      if (name.empty() && n.exprs[i].value.op == expr_op::column) {
        name = n.exprs[i].value.column_name;
      }
      names.add(name, position("exprs", i), epath + ".as");
      out.output.push_back(field{name, b.type});
      out.exprs.push_back(std::move(b));
    }
  }

  static void bind_aggregate(const plan_node& n, bound_node& out, const expr_binder& on_input) {
    if (n.group_by.empty() && n.aggregates.empty()) {
      fail(out.path, "aggregate needs at least one group_by column or aggregate");
    }
    name_set names("output name");
    for (std::size_t i = 0; i < n.group_by.size(); ++i) {
      std::string gpath = element(out.path, "group_by", i);
      if (n.group_by[i].op != expr_op::column) {
        fail(gpath, "group_by takes column references only");
      }
      bound_expr b = on_input.bind(n.group_by[i], gpath);
      names.add(n.group_by[i].column_name, position("group_by", i), gpath);
      out.output.push_back(field{n.group_by[i].column_name, b.type});
      out.group_by.push_back(std::move(b));
    }
    for (std::size_t i = 0; i < n.aggregates.size(); ++i) {
      const aggregate_spec& spec = n.aggregates[i];
      std::string apath = element(out.path, "aggregates", i);
      bound_aggregate a;
      a.fn = spec.fn;
      if (spec.fn == agg_fn::count_star) {
        if (spec.arg) {
          fail(apath + ".arg", "count_star takes no argument");
        }
      } else {
        if (!spec.arg) {
          fail(apath, in_quotes(agg_fn_name(spec.fn)) + " needs an argument");
        }
        bound_expr arg = on_input.bind(*spec.arg, apath + ".arg");
        require_value(arg, apath + ".arg");
        if ((spec.fn == agg_fn::sum || spec.fn == agg_fn::avg) && !is_numeric(arg.type)) {
          fail(apath + ".arg",
               "type mismatch: " + std::string(agg_fn_name(spec.fn)) + " needs a number, got " + type_label(arg));
        }
        a.arg = std::move(arg);
      }
      switch (spec.fn) {
        case agg_fn::sum:
        case agg_fn::min:
        case agg_fn::max:
          a.type = a.arg->type;
          break;
        case agg_fn::avg:
          a.type = type_id::float64;
          break;
        case agg_fn::count:
        case agg_fn::count_star:
        case agg_fn::count_distinct:
          a.type = type_id::int64;
          break;
      }
      names.add(spec.as, position("aggregates", i), apath + ".as");
      out.output.push_back(field{spec.as, a.type});
      out.aggregates.push_back(std::move(a));
    }
  }

  static void bind_unary(const plan_node& n, bound_node& out) {
    const schema& input = out.inputs[0]->output;
    expr_binder on_input(input);
    switch (n.kind) {
      case node_kind::filter: {
        if (!n.predicate) {
          fail(out.path, "filter needs a predicate");
        }
        bound_expr p = on_input.bind(*n.predicate, out.path + ".predicate");
        require_boolean(p, out.path + ".predicate");
        out.predicate = std::move(p);
        out.output = input;
        break;
      }
      case node_kind::project:
        bind_project(n, out, on_input);
        break;
      case node_kind::aggregate:
        bind_aggregate(n, out, on_input);
        break;
      case node_kind::sort:
        bind_sort_keys(n, out, on_input);
        out.output = input;
        break;
      case node_kind::top_k:
        bind_sort_keys(n, out, on_input);
        check_not_negative(n.limit, out.path + ".limit");
        out.limit = n.limit;
        out.output = input;
        break;
      case node_kind::limit:
        check_not_negative(n.limit, out.path + ".limit");
        check_not_negative(n.offset, out.path + ".offset");
        out.limit = n.limit;
        out.offset = n.offset;
        out.output = input;
        break;
      case node_kind::distinct:
        out.output = input;
        break;
      default:
        fail(out.path, "not a unary operator: " + std::string(node_kind_name(n.kind)));
    }
  }

  const bind_context& ctx_;
  std::size_t next_id_ = 0;
};

}  // namespace

std::unique_ptr<bound_node> bind(const plan& p, const bind_context& ctx) {
  binder b(ctx);
  return b.bind_node(p.root, "plan");
}

}  // namespace ftq::plan_detail
