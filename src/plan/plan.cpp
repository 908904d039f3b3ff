#include <ftq/plan.hpp>

#include <utility>

namespace ftq {

std::string_view expr_op_name(expr_op op) noexcept {
  switch (op) {
    case expr_op::column:
      return "col";
    case expr_op::constant:
      return "const";
    case expr_op::add:
      return "+";
    case expr_op::sub:
      return "-";
    case expr_op::mul:
      return "*";
    case expr_op::div:
      return "/";
    case expr_op::eq:
      return "=";
    case expr_op::ne:
      return "!=";
    case expr_op::lt:
      return "<";
    case expr_op::le:
      return "<=";
    case expr_op::gt:
      return ">";
    case expr_op::ge:
      return ">=";
    case expr_op::and_:
      return "and";
    case expr_op::or_:
      return "or";
    case expr_op::not_:
      return "not";
    case expr_op::between:
      return "between";
    case expr_op::in:
      return "in";
  }
  return "?";
}

std::string_view node_kind_name(node_kind k) noexcept {
  switch (k) {
    case node_kind::csv_scan:
      return "csv_scan";
    case node_kind::table_scan:
      return "table_scan";
    case node_kind::filter:
      return "filter";
    case node_kind::project:
      return "project";
    case node_kind::aggregate:
      return "aggregate";
    case node_kind::hash_join:
      return "hash_join";
    case node_kind::sort:
      return "sort";
    case node_kind::top_k:
      return "top_k";
    case node_kind::distinct:
      return "distinct";
    case node_kind::limit:
      return "limit";
  }
  return "?";
}

std::string_view agg_fn_name(agg_fn f) noexcept {
  switch (f) {
    case agg_fn::sum:
      return "sum";
    case agg_fn::count:
      return "count";
    case agg_fn::count_star:
      return "count_star";
    case agg_fn::avg:
      return "avg";
    case agg_fn::min:
      return "min";
    case agg_fn::max:
      return "max";
    case agg_fn::count_distinct:
      return "count_distinct";
  }
  return "?";
}

namespace {

expr make_op(expr_op op, std::vector<expr> args) {
  expr e;
  e.op = op;
  e.args = std::move(args);
  return e;
}

expr make_constant(literal v) {
  expr e;
  e.op = expr_op::constant;
  e.value = std::move(v);
  return e;
}

// `a && b && c` parses as (a && b) && c; folding the left operand gives one n-ary node, the shape
// a JSON plan writes ({"op": "and", "args": [a, b, c]}), so builder and JSON plans compare equal
// and long conjunctions do not nest deeper than the JSON reader allows.
expr fold_left(expr_op op, expr a, expr b) {
  if (a.op == op) {
    a.args.push_back(std::move(b));
    return a;
  }
  std::vector<expr> args;
  args.push_back(std::move(a));
  args.push_back(std::move(b));
  return make_op(op, std::move(args));
}

expr binary(expr_op op, expr a, expr b) {
  std::vector<expr> args;
  args.push_back(std::move(a));
  args.push_back(std::move(b));
  return make_op(op, std::move(args));
}

}  // namespace

expr col(std::string name) {
  expr e;
  e.op = expr_op::column;
  e.column_name = std::move(name);
  return e;
}

expr lit(std::int64_t v) { return make_constant(v); }
expr lit(int v) { return make_constant(static_cast<std::int64_t>(v)); }
expr lit(double v) { return make_constant(v); }
expr lit(std::string v) { return make_constant(std::move(v)); }
expr lit(const char* v) { return make_constant(std::string(v)); }
expr null_literal() { return make_constant(std::monostate{}); }

expr operator+(expr a, expr b) { return binary(expr_op::add, std::move(a), std::move(b)); }
expr operator-(expr a, expr b) { return binary(expr_op::sub, std::move(a), std::move(b)); }
expr operator*(expr a, expr b) { return binary(expr_op::mul, std::move(a), std::move(b)); }
expr operator/(expr a, expr b) { return binary(expr_op::div, std::move(a), std::move(b)); }
expr eq(expr a, expr b) { return binary(expr_op::eq, std::move(a), std::move(b)); }
expr ne(expr a, expr b) { return binary(expr_op::ne, std::move(a), std::move(b)); }
expr operator<(expr a, expr b) { return binary(expr_op::lt, std::move(a), std::move(b)); }
expr operator<=(expr a, expr b) { return binary(expr_op::le, std::move(a), std::move(b)); }
expr operator>(expr a, expr b) { return binary(expr_op::gt, std::move(a), std::move(b)); }
expr operator>=(expr a, expr b) { return binary(expr_op::ge, std::move(a), std::move(b)); }
expr operator&&(expr a, expr b) { return fold_left(expr_op::and_, std::move(a), std::move(b)); }
expr operator||(expr a, expr b) { return fold_left(expr_op::or_, std::move(a), std::move(b)); }

expr operator!(expr a) {
  std::vector<expr> args;
  args.push_back(std::move(a));
  return make_op(expr_op::not_, std::move(args));
}

expr between(expr value, expr low, expr high) {
  std::vector<expr> args;
  args.push_back(std::move(value));
  args.push_back(std::move(low));
  args.push_back(std::move(high));
  return make_op(expr_op::between, std::move(args));
}

expr in(expr value, std::vector<expr> constants) {
  std::vector<expr> args;
  args.reserve(constants.size() + 1);
  args.push_back(std::move(value));
  for (auto& c : constants) {
    args.push_back(std::move(c));
  }
  return make_op(expr_op::in, std::move(args));
}

aggregate_spec sum(expr e, std::string as) { return {agg_fn::sum, std::move(e), std::move(as)}; }
aggregate_spec count(expr e, std::string as) { return {agg_fn::count, std::move(e), std::move(as)}; }
aggregate_spec count_star(std::string as) { return {agg_fn::count_star, std::nullopt, std::move(as)}; }
aggregate_spec avg(expr e, std::string as) { return {agg_fn::avg, std::move(e), std::move(as)}; }
aggregate_spec min(expr e, std::string as) { return {agg_fn::min, std::move(e), std::move(as)}; }
aggregate_spec max(expr e, std::string as) { return {agg_fn::max, std::move(e), std::move(as)}; }
aggregate_spec count_distinct(expr e, std::string as) { return {agg_fn::count_distinct, std::move(e), std::move(as)}; }
sort_key asc(expr e) { return {std::move(e), false}; }
sort_key desc(expr e) { return {std::move(e), true}; }

plan_builder plan_builder::csv_scan(std::string path, schema file_schema, std::vector<std::string> columns) {
  plan_node n;
  n.kind = node_kind::csv_scan;
  n.path = std::move(path);
  n.file_schema = std::move(file_schema);
  n.columns = std::move(columns);
  return plan_builder(std::move(n));
}

plan_builder plan_builder::table_scan(std::string table, std::vector<std::string> columns) {
  plan_node n;
  n.kind = node_kind::table_scan;
  n.table = std::move(table);
  n.columns = std::move(columns);
  return plan_builder(std::move(n));
}

plan_builder& plan_builder::wrap(plan_node parent) {
  parent.inputs.insert(parent.inputs.begin(), std::move(node_));
  node_ = std::move(parent);
  return *this;
}

plan_builder& plan_builder::filter(expr predicate) {
  plan_node n;
  n.kind = node_kind::filter;
  n.predicate = std::move(predicate);
  return wrap(std::move(n));
}

plan_builder& plan_builder::project(std::vector<named_expr> exprs) {
  // Same default as the JSON reader: a bare column reference keeps its name.
  for (auto& e : exprs) {
    if (e.as.empty() && e.value.op == expr_op::column) {
      e.as = e.value.column_name;
    }
  }
  plan_node n;
  n.kind = node_kind::project;
  n.exprs = std::move(exprs);
  return wrap(std::move(n));
}

plan_builder& plan_builder::aggregate(std::vector<expr> group_by, std::vector<aggregate_spec> aggregates) {
  plan_node n;
  n.kind = node_kind::aggregate;
  n.group_by = std::move(group_by);
  n.aggregates = std::move(aggregates);
  return wrap(std::move(n));
}

plan_builder& plan_builder::hash_join(plan_builder build, std::vector<expr> probe_keys, std::vector<expr> build_keys) {
  plan_node n;
  n.kind = node_kind::hash_join;
  n.probe_keys = std::move(probe_keys);
  n.build_keys = std::move(build_keys);
  n.inputs.push_back(std::move(build.node_));
  return wrap(std::move(n));
}

plan_builder& plan_builder::sort(std::vector<sort_key> keys) {
  plan_node n;
  n.kind = node_kind::sort;
  n.keys = std::move(keys);
  return wrap(std::move(n));
}

plan_builder& plan_builder::top_k(std::vector<sort_key> keys, std::int64_t k) {
  plan_node n;
  n.kind = node_kind::top_k;
  n.keys = std::move(keys);
  n.limit = k;
  return wrap(std::move(n));
}

plan_builder& plan_builder::distinct() {
  plan_node n;
  n.kind = node_kind::distinct;
  return wrap(std::move(n));
}

plan_builder& plan_builder::limit(std::int64_t limit, std::int64_t offset) {
  plan_node n;
  n.kind = node_kind::limit;
  n.limit = limit;
  n.offset = offset;
  return wrap(std::move(n));
}

plan plan_builder::build(std::string name) const { return plan{std::move(name), node_, {}}; }

}  // namespace ftq
