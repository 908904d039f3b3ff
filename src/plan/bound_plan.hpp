#pragma once
/// Holds a plan after compilation: every column reference resolved to an index into its input's
/// schema, every expression typed, every node's output schema known, files and tables resolved.
/// Operators are built from these nodes and keep what they need of them.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ftq/plan.hpp>
#include <ftq/table.hpp>
#include <ftq/types.hpp>

namespace ftq::plan_detail {

struct bound_expr {
  expr_op op = expr_op::constant;
  type_id type = type_id::int64;  // result type; boolean for predicates
  std::size_t column = 0;         // expr_op::column: index into the input batch
  literal value;                  // expr_op::constant, already of `type` (monostate: NULL)
  std::vector<bound_expr> args;   // arithmetic operands are of `type`'s family: an int64
                                  // operand of a float64 operation is converted per batch
};

struct bound_aggregate {
  agg_fn fn = agg_fn::count_star;
  std::optional<bound_expr> arg;
  type_id type = type_id::int64;  // result type: sum(int64)=int64, avg=float64, count*=int64
};

struct bound_sort_key {
  bound_expr value;
  bool descending = false;
};

struct bound_node {
  node_kind kind = node_kind::table_scan;
  std::size_t id = 0;  // operator id: pre-order position in the tree, root = 0
  std::string path;    // plan path for messages ("plan.input.input")
  schema output;       // what this node produces

  // csv_scan
  std::string file;  // absolute or data-dir-resolved path, exists at bind time
  schema file_schema;
  std::vector<std::size_t> file_columns;  // file column index of each output column
  // table_scan
  table_ptr table;
  std::vector<std::size_t> table_columns;  // table column index of each output column
  // filter
  std::optional<bound_expr> predicate;
  // project
  std::vector<bound_expr> exprs;
  // aggregate
  std::vector<bound_expr> group_by;
  std::vector<bound_aggregate> aggregates;
  // hash_join
  std::vector<bound_expr> probe_keys;
  std::vector<bound_expr> build_keys;
  // sort, top_k
  std::vector<bound_sort_key> keys;
  // top_k, limit
  std::int64_t limit = -1;
  std::int64_t offset = 0;

  std::vector<std::unique_ptr<bound_node>> inputs;
};

}  // namespace ftq::plan_detail
