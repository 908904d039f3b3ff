#include "plan/binder.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include <ftq/error.hpp>

#include "support/table_schemas.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ftq;
using namespace ftq::plan_detail;
using ftq::test::lineitem_schema;
using ftq::test::orders_schema;

// A data directory with small lineitem.csv / orders.csv and a catalog with one table "nation".
class catalog {
 public:
  catalog() : dir_("ftq-binder-test") {
    dir_.write("lineitem.csv",
               "l_orderkey,l_partkey,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,l_shipdate\n"
               "1,2,3.0,4.0,0.05,0.01,N,O,1996-03-13\n");
    dir_.write("orders.csv", "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n1,2,1-URGENT,3.5\n");
    std::filesystem::create_directories(dir_ / "subdir");
    nation_ = std::make_shared<table>("nation", schema({{"n_nationkey", type_id::int64}, {"n_name", type_id::string}}),
                                      std::vector<batch>{});
    ctx_.data_dir = dir_.path();
    ctx_.find_table = [this](std::string_view name) -> table_ptr { return name == "nation" ? nation_ : nullptr; };
    ctx_.table_names = {"nation"};
  }
  catalog(const catalog&) = delete;
  catalog& operator=(const catalog&) = delete;

  const bind_context& ctx() const { return ctx_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  const table_ptr& nation() const { return nation_; }

 private:
  ftq::test::temp_dir dir_;
  table_ptr nation_;
  bind_context ctx_;
};

plan_builder lineitem(std::vector<std::string> columns = {}) {
  return plan_builder::csv_scan("lineitem.csv", lineitem_schema(), std::move(columns));
}

plan_builder orders(std::vector<std::string> columns = {}) {
  return plan_builder::csv_scan("orders.csv", orders_schema(), std::move(columns));
}

std::string bind_error(const plan& p, const bind_context& ctx) {
  try {
    bind(p, ctx);
  } catch (const plan_error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string bind_error(const std::string& json, const bind_context& ctx) { return bind_error(parse_plan(json), ctx); }

// The bound predicate of a filter over lineitem.
bound_expr predicate_of(const catalog& c, expr e) {
  auto b = bind(lineitem().filter(std::move(e)).build("p"), c.ctx());
  return *b->predicate;
}

const char* const all_lineitem_columns =
    "l_orderkey, l_partkey, l_quantity, l_extendedprice, l_discount, l_tax, l_returnflag, l_linestatus, "
    "l_shipdate";

}  // namespace

TEST_CASE("node ids are pre-order with the root 0, and paths follow the JSON nesting") {
  catalog c;
  auto b = bind(lineitem({"l_orderkey", "l_extendedprice"})
                    .hash_join(orders({"o_orderkey", "o_orderpriority"}).filter(col("o_orderkey") > lit(0)),
                               {col("l_orderkey")}, {col("o_orderkey")})
                    .aggregate({col("o_orderpriority")}, {count_star("n")})
                    .sort({asc(col("o_orderpriority"))})
                    .build("j"),
                c.ctx());
  CHECK(b->id == 0);
  CHECK(b->path == "plan");
  const bound_node& agg = *b->inputs[0];
  CHECK(agg.id == 1);
  CHECK(agg.path == "plan.input");
  const bound_node& join = *agg.inputs[0];
  CHECK(join.id == 2);
  CHECK(join.path == "plan.input.input");
  CHECK(join.inputs[0]->id == 3);
  CHECK(join.inputs[0]->path == "plan.input.input.probe");
  CHECK(join.inputs[1]->id == 4);
  CHECK(join.inputs[1]->path == "plan.input.input.build");
  CHECK(join.inputs[1]->inputs[0]->id == 5);
  CHECK(join.inputs[1]->inputs[0]->path == "plan.input.input.build.input");
}

TEST_CASE("a csv_scan resolves its file against the data dir and selects the requested columns") {
  catalog c;
  auto b = bind(lineitem({"l_shipdate", "l_orderkey"}).build("s"), c.ctx());
  CHECK(b->kind == node_kind::csv_scan);
  CHECK(b->file == (c.dir() / "lineitem.csv").string());
  CHECK(b->file_schema == lineitem_schema());
  CHECK(b->file_columns == std::vector<std::size_t>{8, 0});
  CHECK(b->output == schema({{"l_shipdate", type_id::string}, {"l_orderkey", type_id::int64}}));

  auto all = bind(orders().build("s"), c.ctx());
  CHECK(all->file_columns == std::vector<std::size_t>{0, 1, 2, 3});
  CHECK(all->output == orders_schema());

  // An absolute path ignores the data dir.
  auto abs = bind(plan_builder::csv_scan((c.dir() / "orders.csv").string(), orders_schema()).build("a"),
                  bind_context{"/nonexistent", {}, {}});
  CHECK(abs->file == (c.dir() / "orders.csv").string());
}

TEST_CASE("a table_scan finds the registered table and selects its columns") {
  catalog c;
  auto b = bind(plan_builder::table_scan("nation", {"n_name"}).build("t"), c.ctx());
  CHECK(b->table == c.nation());
  CHECK(b->table_columns == std::vector<std::size_t>{1});
  CHECK(b->output == schema({{"n_name", type_id::string}}));
}

TEST_CASE("output schemas: project, aggregate result types, join concatenation, pass-through nodes") {
  catalog c;
  auto p = bind(lineitem()
                    .project({{col("l_orderkey"), ""},
                              {col("l_orderkey") + lit(1), "k1"},
                              {col("l_orderkey") / lit(2), "half"},
                              {col("l_quantity") * col("l_orderkey"), "qk"},
                              {col("l_shipdate"), "day"}})
                    .build("p"),
                c.ctx());
  CHECK(p->output == schema({{"l_orderkey", type_id::int64},
                             {"k1", type_id::int64},
                             {"half", type_id::float64},
                             {"qk", type_id::float64},
                             {"day", type_id::string}}));

  auto a = bind(lineitem()
                    .aggregate({col("l_returnflag")},
                               {sum(col("l_orderkey"), "si"), sum(col("l_quantity"), "sf"),
                                avg(col("l_orderkey"), "av"), min(col("l_shipdate"), "mn"), max(col("l_partkey"), "mx"),
                                count(col("l_tax"), "c"), count_star("cs"), count_distinct(col("l_shipdate"), "cd")})
                    .build("a"),
                c.ctx());
  CHECK(a->output == schema({{"l_returnflag", type_id::string},
                             {"si", type_id::int64},
                             {"sf", type_id::float64},
                             {"av", type_id::float64},
                             {"mn", type_id::string},
                             {"mx", type_id::int64},
                             {"c", type_id::int64},
                             {"cs", type_id::int64},
                             {"cd", type_id::int64}}));
  CHECK(a->group_by.size() == 1);
  CHECK(a->group_by[0].column == 6);
  REQUIRE(a->aggregates.size() == 8);
  CHECK_FALSE(a->aggregates[6].arg.has_value());
  CHECK(a->aggregates[1].arg->column == 2);

  auto j = bind(lineitem({"l_orderkey"})
                    .hash_join(orders({"o_orderkey", "o_totalprice"}), {col("l_orderkey")}, {col("o_orderkey")})
                    .build("j"),
                c.ctx());
  CHECK(j->output ==
        schema({{"l_orderkey", type_id::int64}, {"o_orderkey", type_id::int64}, {"o_totalprice", type_id::float64}}));
  CHECK(j->probe_keys[0].column == 0);
  CHECK(j->build_keys[0].column == 0);

  auto l = bind(lineitem({"l_tax"})
                    .filter(col("l_tax") > lit(0))
                    .sort({desc(col("l_tax"))})
                    .top_k({asc(col("l_tax"))}, 3)
                    .distinct()
                    .limit(5, 2)
                    .build("l"),
                c.ctx());
  CHECK(l->output == schema({{"l_tax", type_id::float64}}));
  CHECK(l->limit == 5);
  CHECK(l->offset == 2);
  CHECK(l->inputs[0]->inputs[0]->limit == 3);
  CHECK(l->inputs[0]->inputs[0]->inputs[0]->keys[0].descending);
}

TEST_CASE("an int constant compared with a float64 column becomes a float64 constant") {
  catalog c;
  bound_expr p = predicate_of(c, col("l_quantity") < lit(24));
  CHECK(p.type == type_id::boolean);
  CHECK(p.args[0].op == expr_op::column);
  CHECK(p.args[0].column == 2);
  CHECK(p.args[0].type == type_id::float64);
  CHECK(p.args[1].type == type_id::float64);
  CHECK(p.args[1].value == literal{24.0});
}

TEST_CASE("a double constant compared with an int64 column stays double, the column stays int64") {
  catalog c;
  bound_expr p = predicate_of(c, col("l_orderkey") < lit(2.5));
  CHECK(p.args[0].type == type_id::int64);
  CHECK(p.args[1].type == type_id::float64);
  CHECK(p.args[1].value == literal{2.5});
  bound_expr q = predicate_of(c, col("l_orderkey") < lit(3));
  CHECK(q.args[1].type == type_id::int64);
  CHECK(q.args[1].value == literal{std::int64_t{3}});
}

TEST_CASE("arithmetic types: float64 if either side is or the op is division, constants converted") {
  catalog c;
  auto b = bind(lineitem()
                    .project({{lit(1) - col("l_discount"), "d"},
                              {col("l_orderkey") / lit(2), "h"},
                              {col("l_orderkey") * lit(2), "m"},
                              {col("l_orderkey") + null_literal(), "n"}})
                    .build("a"),
                c.ctx());
  const bound_expr& d = b->exprs[0];
  CHECK(d.type == type_id::float64);
  CHECK(d.args[0].value == literal{1.0});
  CHECK(d.args[0].type == type_id::float64);
  const bound_expr& h = b->exprs[1];
  CHECK(h.type == type_id::float64);
  CHECK(h.args[0].type == type_id::int64);
  CHECK(h.args[1].value == literal{2.0});
  const bound_expr& m = b->exprs[2];
  CHECK(m.type == type_id::int64);
  CHECK(m.args[1].value == literal{std::int64_t{2}});
  const bound_expr& n = b->exprs[3];
  CHECK(n.type == type_id::int64);
  CHECK(n.args[1].type == type_id::int64);
  CHECK(n.args[1].value == literal{std::monostate{}});
}

TEST_CASE("a NULL constant takes the other side's type; between and in convert their constants") {
  catalog c;
  bound_expr s = predicate_of(c, eq(col("l_shipdate"), null_literal()));
  CHECK(s.args[1].type == type_id::string);
  bound_expr f = predicate_of(c, ne(null_literal(), col("l_tax")));
  CHECK(f.args[0].type == type_id::float64);
  bound_expr b = predicate_of(c, between(col("l_discount"), lit(0), lit(0.07)));
  CHECK(b.args[1].value == literal{0.0});
  CHECK(b.args[1].type == type_id::float64);
  CHECK(b.args[2].value == literal{0.07});
  bound_expr i = predicate_of(c, in(col("l_quantity"), {lit(1), lit(2.5), null_literal()}));
  CHECK(i.args[1].value == literal{1.0});
  CHECK(i.args[3].type == type_id::float64);
  bound_expr l = predicate_of(c, col("l_shipdate") >= lit("1994-01-01") && !eq(col("l_returnflag"), lit("R")));
  CHECK(l.type == type_id::boolean);
  CHECK(l.args[1].op == expr_op::not_);
  CHECK(l.args[1].type == type_id::boolean);
}

TEST_CASE("an unknown column is reported with the path and the input's columns") {
  catalog c;
  CHECK(bind_error(lineitem().filter(col("l_shipdat") <= lit("1998-09-02")).build("x"), c.ctx()) ==
        std::string("plan.predicate.args[0]: unknown column 'l_shipdat' (columns: ") + all_lineitem_columns + ")");
  CHECK(bind_error(lineitem({"l_tax", "l_nope"}).build("x"), c.ctx()) ==
        std::string("plan.columns[1]: unknown column 'l_nope' (columns: ") + all_lineitem_columns + ")");
  CHECK(bind_error(lineitem({"l_tax"}).sort({asc(col("l_orderkey"))}).build("x"), c.ctx()) ==
        "plan.keys[0].expr: unknown column 'l_orderkey' (columns: l_tax)");
}

TEST_CASE("comparisons and arithmetic of incompatible types are type mismatches") {
  catalog c;
  CHECK(bind_error(lineitem().filter(col("l_shipdate") < lit(5)).build("x"), c.ctx()) ==
        "plan.predicate: type mismatch: cannot compare string with int64");
  CHECK(bind_error(lineitem().filter(between(col("l_tax"), lit(0), lit("x"))).build("x"), c.ctx()) ==
        "plan.predicate: type mismatch: cannot compare float64 with string");
  CHECK(bind_error(lineitem().filter(in(col("l_shipdate"), {lit("a"), lit(1)})).build("x"), c.ctx()) ==
        "plan.predicate: type mismatch: cannot compare string with int64");
  CHECK(bind_error(lineitem().project({{col("l_tax") + col("l_shipdate"), "x"}}).build("x"), c.ctx()) ==
        "plan.exprs[0].expr: type mismatch: cannot apply '+' to float64 and string");
  CHECK(bind_error(lineitem().filter(eq(col("l_tax") < lit(1), col("l_tax") > lit(0))).build("x"), c.ctx()) ==
        "plan.predicate: type mismatch: cannot compare boolean with boolean");
  CHECK(bind_error(lineitem().aggregate({}, {sum(col("l_shipdate"), "s")}).build("x"), c.ctx()) ==
        "plan.aggregates[0].arg: type mismatch: sum needs a number, got string");
  CHECK(bind_error(lineitem().aggregate({}, {avg(col("l_returnflag"), "s")}).build("x"), c.ctx()) ==
        "plan.aggregates[0].arg: type mismatch: avg needs a number, got string");
}

TEST_CASE("wrong arity names the expression's path and the counts") {
  catalog c;
  auto with_args = [](expr_op op, std::vector<expr> args) {
    expr e;
    e.op = op;
    e.args = std::move(args);
    return lineitem().filter(std::move(e)).limit(1).build("x");
  };
  CHECK(bind_error(with_args(expr_op::between, {col("l_tax"), lit(1)}), c.ctx()) ==
        "plan.input.predicate: 'between' takes 3 arguments, got 2");
  CHECK(bind_error(with_args(expr_op::and_, {col("l_tax") < lit(1)}), c.ctx()) ==
        "plan.input.predicate: 'and' takes at least 2 arguments, got 1");
  CHECK(bind_error(with_args(expr_op::not_, {}), c.ctx()) == "plan.input.predicate: 'not' takes 1 argument, got 0");
  CHECK(bind_error(with_args(expr_op::lt, {col("l_tax"), lit(1), lit(2)}), c.ctx()) ==
        "plan.input.predicate: '<' takes 2 arguments, got 3");
  CHECK(bind_error(with_args(expr_op::in, {col("l_tax")}), c.ctx()) ==
        "plan.input.predicate: 'in' takes at least 2 arguments, got 1");
  CHECK(bind_error(with_args(expr_op::in, {col("l_tax"), lit(1), col("l_discount")}), c.ctx()) ==
        "plan.input.predicate.args[2]: 'in' takes constants after its first argument");
  // Parsed JSON reaches the same check.
  CHECK(bind_error(std::string(R"({"plan": {"op": "filter", "predicate": {"op": "*", "args": [{"col": "l_tax"}]},
      "input": {"op": "csv_scan", "path": "lineitem.csv", "schema": [{"name": "l_tax", "type": "float64"}]}}})"),
                   c.ctx()) == "plan.predicate: '*' takes 2 arguments, got 1");
}

TEST_CASE("a missing file, a directory and a relative path are reported with the resolved path") {
  catalog c;
  CHECK(bind_error(plan_builder::csv_scan("lineitem.csv", lineitem_schema()).limit(1).build("x"),
                   bind_context{c.dir() / "nope", {}, {}}) ==
        "plan.input.path: no such file '" + (c.dir() / "nope" / "lineitem.csv").string() + "'");
  CHECK(bind_error(plan_builder::csv_scan("subdir", lineitem_schema()).build("x"), c.ctx()) ==
        "plan.path: not a regular file '" + (c.dir() / "subdir").string() + "'");
}

TEST_CASE("an unknown table is reported with the registered tables") {
  catalog c;
  CHECK(bind_error(plan_builder::table_scan("nations").distinct().build("x"), c.ctx()) ==
        "plan.input.table: unknown table 'nations' (tables: nation)");
  CHECK(bind_error(plan_builder::table_scan("nation").build("x"), bind_context{}) ==
        "plan.table: unknown table 'nation' (no tables registered)");
}

TEST_CASE("duplicate output names are reported naming both positions") {
  catalog c;
  CHECK(bind_error(
            lineitem().project({{col("l_tax"), "x"}, {col("l_orderkey"), ""}, {col("l_discount"), "x"}}).build("x"),
            c.ctx()) == "plan.exprs[2].as: duplicate output name 'x' (also exprs[0])");
  CHECK(bind_error(lineitem().aggregate({col("l_returnflag")}, {count_star("l_returnflag")}).build("x"), c.ctx()) ==
        "plan.aggregates[0].as: duplicate output name 'l_returnflag' (also group_by[0])");
  CHECK(bind_error(lineitem({"l_tax", "l_tax"}).build("x"), c.ctx()) ==
        "plan.columns[1]: duplicate output name 'l_tax' (also columns[0])");
  CHECK(bind_error(
            plan_builder::csv_scan("orders.csv", schema({{"a", type_id::int64}, {"a", type_id::string}})).build("x"),
            c.ctx()) == "plan.schema[1].name: duplicate column name 'a' (also schema[0])");
  CHECK(bind_error(lineitem({"l_orderkey", "l_tax"})
                       .hash_join(lineitem({"l_partkey", "l_tax"}), {col("l_orderkey")}, {col("l_partkey")})
                       .build("x"),
                   c.ctx()) == "plan: duplicate output name 'l_tax' (probe column 1 and build column 1)");
  CHECK(bind_error(lineitem().project({{col("l_tax") * lit(2), ""}}).build("x"), c.ctx()) ==
        "plan.exprs[0].as: empty output name");
}

TEST_CASE("hash_join keys: counts must match and be at least one, types must be equal") {
  catalog c;
  CHECK(
      bind_error(lineitem().hash_join(orders(), {col("l_orderkey"), col("l_partkey")}, {col("o_orderkey")}).build("x"),
                 c.ctx()) == "plan: join key count mismatch: 2 probe_keys, 1 build_keys");
  CHECK(bind_error(lineitem().hash_join(orders(), {}, {}).build("x"), c.ctx()) ==
        "plan.probe_keys: hash_join needs at least one key");
  CHECK(bind_error(lineitem().hash_join(orders(), {col("l_orderkey")}, {col("o_orderpriority")}).build("x"), c.ctx()) ==
        "plan.build_keys[0]: type mismatch: cannot join int64 with string");
  CHECK(bind_error(lineitem().hash_join(orders(), {col("l_orderkey")}, {col("o_totalprice")}).build("x"), c.ctx()) ==
        "plan.build_keys[0]: type mismatch: cannot join int64 with float64");
  CHECK(bind_error(lineitem().hash_join(orders(), {col("l_orderkey")}, {col("l_orderkey")}).build("x"), c.ctx()) ==
        "plan.build_keys[0]: unknown column 'l_orderkey' (columns: o_orderkey, o_custkey, o_orderpriority, "
        "o_totalprice)");
}

TEST_CASE("negative limits and offsets are rejected") {
  catalog c;
  CHECK(bind_error(lineitem().limit(-1).build("x"), c.ctx()) == "plan.limit: must be >= 0, got -1");
  CHECK(bind_error(lineitem().limit(1, -3).build("x"), c.ctx()) == "plan.offset: must be >= 0, got -3");
  CHECK(bind_error(lineitem().top_k({asc(col("l_tax"))}, -2).build("x"), c.ctx()) ==
        "plan.limit: must be >= 0, got -2");
  CHECK(bind_error(lineitem().limit(0).build("x"), c.ctx()) == "(no error)");
}

TEST_CASE("a boolean where a value is expected, and a value where a predicate is expected, are rejected") {
  catalog c;
  CHECK(bind_error(lineitem().project({{col("l_tax") < lit(1), "b"}}).build("x"), c.ctx()) ==
        "plan.exprs[0].expr: expected a value, got a boolean expression");
  CHECK(bind_error(lineitem().sort({asc(col("l_tax") < lit(1))}).build("x"), c.ctx()) ==
        "plan.keys[0].expr: expected a value, got a boolean expression");
  CHECK(bind_error(lineitem().aggregate({}, {count(col("l_tax") < lit(1), "n")}).build("x"), c.ctx()) ==
        "plan.aggregates[0].arg: expected a value, got a boolean expression");
  CHECK(bind_error(lineitem().filter(col("l_tax")).build("x"), c.ctx()) ==
        "plan.predicate: expected a boolean expression, got float64");
  CHECK(bind_error(lineitem().filter(null_literal()).build("x"), c.ctx()) ==
        "plan.predicate: expected a boolean expression, got NULL");
  CHECK(bind_error(lineitem().filter((col("l_tax") < lit(1)) && col("l_discount")).build("x"), c.ctx()) ==
        "plan.predicate.args[1]: expected a boolean expression, got float64");
}

TEST_CASE("aggregate shape errors: group_by of an expression, missing argument, empty aggregate") {
  catalog c;
  CHECK(bind_error(lineitem().aggregate({col("l_tax") + lit(1)}, {count_star("n")}).build("x"), c.ctx()) ==
        "plan.group_by[0]: group_by takes column references only");
  CHECK(bind_error(lineitem().aggregate({}, {aggregate_spec{agg_fn::sum, std::nullopt, "s"}}).build("x"), c.ctx()) ==
        "plan.aggregates[0]: 'sum' needs an argument");
  CHECK(bind_error(lineitem().aggregate({}, {aggregate_spec{agg_fn::count_star, col("l_tax"), "s"}}).build("x"),
                   c.ctx()) == "plan.aggregates[0].arg: count_star takes no argument");
  CHECK(bind_error(lineitem().aggregate({}, {}).build("x"), c.ctx()) ==
        "plan: aggregate needs at least one group_by column or aggregate");
  CHECK(bind_error(lineitem().sort({}).build("x"), c.ctx()) == "plan.keys: sort needs at least one key");
  CHECK(bind_error(lineitem().project({}).build("x"), c.ctx()) == "plan.exprs: project needs at least one expression");
}

TEST_CASE("the error carries the path and the message separately, with the plan_invalid code") {
  catalog c;
  try {
    bind(lineitem().filter(col("zz") < lit(1)).build("x"), c.ctx());
    FAIL("bind accepted an unknown column");
  } catch (const plan_error& e) {
    CHECK(e.path() == "plan.predicate.args[0]");
    CHECK(e.message().rfind("unknown column 'zz'", 0) == 0);
    CHECK(e.code() == make_error_code(errc::plan_invalid));
  }
}

TEST_CASE("a registered table with two columns of one name is rejected") {
  auto twice =
      std::make_shared<table>("twice", schema({{"a", type_id::int64}, {"a", type_id::string}}), std::vector<batch>{});
  bind_context ctx;
  ctx.find_table = [&](std::string_view) -> table_ptr { return twice; };
  CHECK(bind_error(plan_builder::table_scan("twice").build("x"), ctx) ==
        "plan.table: table 'twice' has two columns named 'a'");
}
