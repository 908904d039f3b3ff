#include "support/bound_plan_builders.hpp"

#include <utility>

namespace ftq::test {

using plan_detail::bound_expr;
using plan_detail::bound_node;

bound_expr column_ref(std::size_t index, type_id t) {
  bound_expr e;
  e.op = expr_op::column;
  e.type = t;
  e.column = index;
  return e;
}

bound_expr lit_i(std::int64_t v) {
  bound_expr e;
  e.type = type_id::int64;
  e.value = v;
  return e;
}

bound_expr lit_d(double v) {
  bound_expr e;
  e.type = type_id::float64;
  e.value = v;
  return e;
}

bound_expr lit_s(std::string v) {
  bound_expr e;
  e.type = type_id::string;
  e.value = std::move(v);
  return e;
}

bound_expr lit_null(type_id t) {
  bound_expr e;
  e.type = t;
  return e;
}

bound_expr expr_node(expr_op op, type_id t, std::vector<bound_expr> args) {
  bound_expr e;
  e.op = op;
  e.type = t;
  e.args = std::move(args);
  return e;
}

bound_expr expr_pred(expr_op op, std::vector<bound_expr> args) {
  return expr_node(op, type_id::boolean, std::move(args));
}

bound_node table_scan_node(const table_ptr& t, std::size_t id) {
  bound_node n;
  n.kind = node_kind::table_scan;
  n.id = id;
  n.output = t->schema();
  n.table = t;
  for (std::size_t c = 0; c < t->schema().size(); ++c) {
    n.table_columns.push_back(c);
  }
  return n;
}

}  // namespace ftq::test
