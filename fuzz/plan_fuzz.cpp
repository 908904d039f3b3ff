// Feeds arbitrary bytes to the plan reader, binds whatever parses against a fixed catalog, checks
// the bound tree's invariants, and checks that writing a parsed plan and reading it back gives the
// same plan. ftq::plan_error is the expected outcome for bad input; any other exception, a crash,
// a sanitizer report or a failed check (abort) is a finding.

#include <ftq/plan.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include <ftq/error.hpp>
#include <ftq/table.hpp>

#include "plan/binder.hpp"

namespace {

using namespace ftq;
using plan_detail::bound_expr;
using plan_detail::bound_node;

[[noreturn]] void finding(const std::string& what, const std::string& detail = {}) {
  std::fprintf(stderr, "plan_fuzz: %s\n%s\n", what.c_str(), detail.c_str());
  std::abort();
}

// A data directory with the two example files and one registered in-memory table.
class catalog {
 public:
  catalog() {
    char pattern[] = "/tmp/ftq-plan-fuzz-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      finding("cannot create the temp data dir");
    }
    dir_ = pattern;
    std::ofstream(dir_ / "lineitem.csv")
        << "l_orderkey,l_partkey,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,l_shipdate\n"
        << "1,2,3.0,4.0,0.05,0.01,N,O,1996-03-13\n";
    std::ofstream(dir_ / "orders.csv") << "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n1,2,1-URGENT,3.5\n";
    nation_ = std::make_shared<table>(
        "nation", schema({{"n_nationkey", type_id::int64}, {"n_name", type_id::string}, {"n_rate", type_id::float64}}),
        std::vector<batch>{});
    ctx_.data_dir = dir_;
    ctx_.find_table = [this](std::string_view name) -> table_ptr { return name == "nation" ? nation_ : nullptr; };
    ctx_.table_names = {"nation"};
  }
  ~catalog() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  const plan_detail::bind_context& ctx() const { return ctx_; }

 private:
  std::filesystem::path dir_;
  table_ptr nation_;
  plan_detail::bind_context ctx_;
};

// ---- bound tree invariants ----

void check(bool ok, const bound_node& n, const char* what) {
  if (!ok) {
    finding(std::string("bound tree invariant broken at ") + n.path + ": " + what);
  }
}

void check_expr(const bound_expr& e, const schema& input, const bound_node& n) {
  switch (e.op) {
    case expr_op::column:
      check(e.column < input.size(), n, "column index out of range");
      check(e.type == input[e.column].type, n, "column type differs from the input schema");
      break;
    case expr_op::constant:
      check(std::visit(
                [&](const auto& v) {
                  using t = std::decay_t<decltype(v)>;
                  if constexpr (std::is_same_v<t, std::monostate>) {
                    return true;
                  } else if constexpr (std::is_same_v<t, std::int64_t>) {
                    return e.type == type_id::int64;
                  } else if constexpr (std::is_same_v<t, double>) {
                    return e.type == type_id::float64;
                  } else {
                    return e.type == type_id::string;
                  }
                },
                e.value),
            n, "constant value does not match its type");
      break;
    case expr_op::add:
    case expr_op::sub:
    case expr_op::mul:
    case expr_op::div:
      check(e.args.size() == 2, n, "arithmetic arity");
      check(is_numeric(e.type), n, "arithmetic result not numeric");
      for (const auto& a : e.args) {
        check(is_numeric(a.type), n, "arithmetic operand not numeric");
        check(!(a.op == expr_op::constant && a.type != e.type), n, "constant operand not of the operation type");
      }
      break;
    case expr_op::and_:
    case expr_op::or_:
    case expr_op::not_:
      check(e.type == type_id::boolean, n, "logic result not boolean");
      check(e.op == expr_op::not_ ? e.args.size() == 1 : e.args.size() >= 2, n, "logic arity");
      for (const auto& a : e.args) {
        check(a.type == type_id::boolean, n, "logic operand not boolean");
      }
      break;
    default: {  // comparisons, between, in
      check(e.type == type_id::boolean, n, "comparison result not boolean");
      check(e.args.size() >= 2, n, "comparison arity");
      bool strings = false;
      bool floats = false;
      for (const auto& a : e.args) {
        check(a.type != type_id::boolean, n, "comparison operand boolean");
        strings = strings || a.type == type_id::string;
        floats = floats || a.type == type_id::float64;
      }
      for (const auto& a : e.args) {
        check(!strings || a.type == type_id::string, n, "string compared with a number");
        check(!(floats && a.op == expr_op::constant && a.type == type_id::int64), n,
              "int64 constant left in a float64 comparison");
      }
      break;
    }
  }
  for (const auto& a : e.args) {
    check_expr(a, input, n);
  }
}

void check_node(const bound_node& n, std::size_t& next_id) {
  check(n.id == next_id++, n, "ids are not pre-order");
  for (const auto& in : n.inputs) {
    check(in != nullptr, n, "null input");
    check_node(*in, next_id);
  }
  const schema empty;
  const schema& input = n.inputs.empty() ? empty : n.inputs[0]->output;
  for (std::size_t i = 0; i < n.output.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      check(n.output[i].name != n.output[j].name, n, "duplicate output name");
    }
    check(n.output[i].type != type_id::boolean, n, "boolean output column");
  }
  switch (n.kind) {
    case node_kind::csv_scan:
      check(n.file_columns.size() == n.output.size(), n, "file_columns size");
      for (std::size_t i = 0; i < n.file_columns.size(); ++i) {
        check(n.file_columns[i] < n.file_schema.size() && n.file_schema[n.file_columns[i]] == n.output[i], n,
              "file column does not match the output");
      }
      check(std::filesystem::is_regular_file(n.file), n, "file is not a regular file");
      break;
    case node_kind::table_scan:
      check(n.table != nullptr, n, "no table");
      check(n.table_columns.size() == n.output.size(), n, "table_columns size");
      for (std::size_t i = 0; i < n.table_columns.size(); ++i) {
        check(n.table_columns[i] < n.table->schema().size() && n.table->schema()[n.table_columns[i]] == n.output[i], n,
              "table column does not match the output");
      }
      break;
    case node_kind::filter:
      check(n.predicate.has_value() && n.predicate->type == type_id::boolean, n, "predicate not boolean");
      check_expr(*n.predicate, input, n);
      check(n.output == input, n, "filter changes the schema");
      break;
    case node_kind::project:
      check(n.exprs.size() == n.output.size(), n, "project output size");
      for (std::size_t i = 0; i < n.exprs.size(); ++i) {
        check_expr(n.exprs[i], input, n);
        check(n.exprs[i].type == n.output[i].type, n, "project output type");
      }
      break;
    case node_kind::aggregate:
      check(n.group_by.size() + n.aggregates.size() == n.output.size(), n, "aggregate output size");
      for (std::size_t i = 0; i < n.group_by.size(); ++i) {
        check(n.group_by[i].op == expr_op::column, n, "group_by not a column");
        check_expr(n.group_by[i], input, n);
      }
      for (std::size_t i = 0; i < n.aggregates.size(); ++i) {
        const auto& a = n.aggregates[i];
        check(a.arg.has_value() == (a.fn != agg_fn::count_star), n, "aggregate argument presence");
        if (a.arg) {
          check_expr(*a.arg, input, n);
        }
        check(a.type == n.output[n.group_by.size() + i].type, n, "aggregate output type");
      }
      break;
    case node_kind::hash_join: {
      check(n.inputs.size() == 2, n, "join inputs");
      const schema& build = n.inputs[1]->output;
      check(n.output.size() == input.size() + build.size(), n, "join output size");
      check(!n.probe_keys.empty() && n.probe_keys.size() == n.build_keys.size(), n, "join key counts");
      for (std::size_t i = 0; i < n.probe_keys.size(); ++i) {
        check_expr(n.probe_keys[i], input, n);
        check_expr(n.build_keys[i], build, n);
        check(n.probe_keys[i].type == n.build_keys[i].type, n, "join key types differ");
      }
      break;
    }
    case node_kind::sort:
    case node_kind::top_k:
      check(!n.keys.empty(), n, "no sort keys");
      for (const auto& k : n.keys) {
        check_expr(k.value, input, n);
      }
      check(n.kind == node_kind::sort || n.limit >= 0, n, "negative top_k limit");
      check(n.output == input, n, "sort changes the schema");
      break;
    case node_kind::limit:
      check(n.limit >= 0 && n.offset >= 0, n, "negative limit or offset");
      check(n.output == input, n, "limit changes the schema");
      break;
    case node_kind::distinct:
      check(n.output == input, n, "distinct changes the schema");
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const catalog cat;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  plan p;
  try {
    p = parse_plan(text);
  } catch (const plan_error&) {
    return 0;
  }
  try {
    auto bound = plan_detail::bind(p, cat.ctx());
    std::size_t next_id = 0;
    check_node(*bound, next_id);
  } catch (const plan_error&) {
    // Rejected plans are fine; the round trip below must hold for them too.
  }
  std::string json = to_json(p);
  plan back;
  try {
    back = parse_plan(json);
  } catch (const plan_error& e) {
    finding(std::string("to_json output does not parse: ") + e.what(), json);
  }
  if (!(back == p)) {
    finding("parse_plan(to_json(p)) != p", json);
  }
  if (to_json(back) != json) {
    finding("to_json is not deterministic", json);
  }
  return 0;
}
