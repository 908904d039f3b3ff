#pragma once
/// Describes a query plan: a tree of operator nodes with expressions, as a plain value. Plans are
/// read from JSON (`parse_plan`, format in docs/plan-format.md), written back (`to_json`), or
/// built in C++ with `plan_builder`; the two produce equal `plan` values. Nothing here checks
/// column names or types: the engine does that when it compiles the plan, naming the plan path.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ftq/types.hpp>

namespace ftq {

enum class expr_op {
  column,
  constant,  // leaves
  add,
  sub,
  mul,
  div,  // arithmetic; `/` always yields float64, x/0 yields NULL
  eq,
  ne,
  lt,
  le,
  gt,
  ge,  // comparisons (numbers with numbers, strings with strings)
  and_,
  or_,
  not_,     // boolean logic, SQL three-valued
  between,  // args: value, low, high (both inclusive)
  in,       // args: value, then one or more constants
};

/// The JSON spelling of an operator: "col", "const", "+", "<=", "and", "between", "in", ...
std::string_view expr_op_name(expr_op op) noexcept;

/// A constant: NULL, an integer, a double or a string.
using literal = std::variant<std::monostate, std::int64_t, double, std::string>;

struct expr {
  expr_op op = expr_op::constant;
  std::string column_name;  // for expr_op::column
  literal value;            // for expr_op::constant
  std::vector<expr> args;   // for every other operator

  friend bool operator==(const expr&, const expr&) = default;
};

// Expression builders: col("x") * (lit(1) - col("d")) <= lit(5) and so on. Equality is
// eq()/ne(), since `==` on two exprs compares the expressions themselves.
expr col(std::string name);
expr lit(std::int64_t v);
expr lit(int v);
expr lit(double v);
expr lit(std::string v);
expr lit(const char* v);
expr null_literal();
expr operator+(expr a, expr b);
expr operator-(expr a, expr b);
expr operator*(expr a, expr b);
expr operator/(expr a, expr b);
expr eq(expr a, expr b);
expr ne(expr a, expr b);
expr operator<(expr a, expr b);
expr operator<=(expr a, expr b);
expr operator>(expr a, expr b);
expr operator>=(expr a, expr b);
expr operator&&(expr a, expr b);
expr operator||(expr a, expr b);
expr operator!(expr a);
expr between(expr value, expr low, expr high);
expr in(expr value, std::vector<expr> constants);

enum class node_kind { csv_scan, table_scan, filter, project, aggregate, hash_join, sort, top_k, distinct, limit };
std::string_view node_kind_name(node_kind k) noexcept;

enum class agg_fn { sum, count, count_star, avg, min, max, count_distinct };
std::string_view agg_fn_name(agg_fn f) noexcept;

struct named_expr {
  expr value;
  std::string as;
  friend bool operator==(const named_expr&, const named_expr&) = default;
};

struct aggregate_spec {
  agg_fn fn = agg_fn::count_star;
  std::optional<expr> arg;  // absent only for count_star
  std::string as;
  friend bool operator==(const aggregate_spec&, const aggregate_spec&) = default;
};

struct sort_key {
  expr value;
  bool descending = false;  // NULLs sort last in either direction
  friend bool operator==(const sort_key&, const sort_key&) = default;
};

/// One operator of the plan. Only the fields of its `kind` are meaningful (see the table in
/// docs/plan-format.md); the others stay empty. `inputs` holds one child for unary operators,
/// none for scans, and {probe, build} for hash_join.
struct plan_node {
  node_kind kind = node_kind::table_scan;
  std::string path;                        // csv_scan: file, relative paths resolve against the data dir
  schema file_schema;                      // csv_scan: every column of the file, in file order
  std::vector<std::string> columns;        // csv_scan, table_scan: columns to produce (empty: all)
  std::string table;                       // table_scan: name registered with the engine
  std::optional<expr> predicate;           // filter
  std::vector<named_expr> exprs;           // project
  std::vector<expr> group_by;              // aggregate: column references
  std::vector<aggregate_spec> aggregates;  // aggregate
  std::vector<expr> probe_keys;            // hash_join: keys on inputs[0]
  std::vector<expr> build_keys;            // hash_join: keys on inputs[1]
  std::vector<sort_key> keys;              // sort, top_k
  std::int64_t limit = -1;                 // top_k, limit
  std::int64_t offset = 0;                 // limit
  std::vector<plan_node> inputs;

  friend bool operator==(const plan_node&, const plan_node&) = default;
};

struct plan {
  std::string name;
  plan_node root;
  /// The plan's recovery policy in recovery_policy::parse's form
  /// ("transient=retry:refresh_token,operator_fault=restart_pipeline,attempts=3"); it may only
  /// name handlers the embedding program registered (a plan never carries code). Empty: the
  /// engine's policy. query_options::recovery overrides it.
  std::string recovery;
  friend bool operator==(const plan&, const plan&) = default;
};

/// Parses a JSON plan. Throws ftq::plan_error naming the JSON path of the first problem
/// ("plan.input.keys[0].order: expected \"asc\" or \"desc\"").
plan parse_plan(std::string_view json);
/// Writes `p` as JSON that parse_plan reads back to an equal plan.
std::string to_json(const plan& p);

/// Builds plans in C++: scans start a chain, each method wraps the chain in one more operator.
class plan_builder {
 public:
  static plan_builder csv_scan(std::string path, schema file_schema, std::vector<std::string> columns = {});
  static plan_builder table_scan(std::string table, std::vector<std::string> columns = {});

  plan_builder& filter(expr predicate);
  plan_builder& project(std::vector<named_expr> exprs);
  plan_builder& aggregate(std::vector<expr> group_by, std::vector<aggregate_spec> aggregates);
  /// This chain is the probe side, `build` the side whose hash table is built.
  plan_builder& hash_join(plan_builder build, std::vector<expr> probe_keys, std::vector<expr> build_keys);
  plan_builder& sort(std::vector<sort_key> keys);
  plan_builder& top_k(std::vector<sort_key> keys, std::int64_t k);
  plan_builder& distinct();
  plan_builder& limit(std::int64_t limit, std::int64_t offset = 0);

  plan build(std::string name) const;
  const plan_node& node() const noexcept { return node_; }

 private:
  explicit plan_builder(plan_node n) : node_(std::move(n)) {}
  plan_builder& wrap(plan_node parent);
  plan_node node_;
};

// Aggregate and sort-key builders.
aggregate_spec sum(expr e, std::string as);
aggregate_spec count(expr e, std::string as);
aggregate_spec count_star(std::string as);
aggregate_spec avg(expr e, std::string as);
aggregate_spec min(expr e, std::string as);
aggregate_spec max(expr e, std::string as);
aggregate_spec count_distinct(expr e, std::string as);
sort_key asc(expr e);
sort_key desc(expr e);

}  // namespace ftq
