#include <ftq/plan.hpp>

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include <doctest/doctest.h>

#include <ftq/error.hpp>

namespace {

using namespace ftq;

std::string parse_error(std::string_view json) {
  try {
    parse_plan(json);
  } catch (const plan_error& e) {
    return e.what();
  }
  return "(no error)";
}

// A plan node JSON around `node` so a test can write only the part it is about.
std::string with_plan(const std::string& node) { return R"({"name": "t", "plan": )" + node + "}"; }

const char* const scan_json = R"({"op": "table_scan", "table": "t"})";

schema small_schema() { return schema({{"a", type_id::int64}, {"b", type_id::float64}, {"s", type_id::string}}); }

// Every node kind and every expression kind, built in C++.
plan everything_plan() {
  auto build = plan_builder::table_scan("other", {"k", "v"});
  return plan_builder::csv_scan("data/x.csv", small_schema(), {"a", "b", "s"})
      .filter((col("a") + lit(1) - col("a") * lit(2) / lit(3) >= lit(0.5)) && ne(col("s"), lit("x")) &&
              (!(col("b") < null_literal()) || between(col("a"), lit(1), lit(9))) &&
              in(col("s"), {lit("p"), lit("q")}) && eq(col("a"), lit(1)) && col("a") <= lit(2) && col("a") > lit(-3))
      .project({{col("a"), ""}, {col("b") * lit(2.0), "b2"}, {col("s"), "s"}})
      .hash_join(std::move(build), {col("a")}, {col("k")})
      .aggregate({col("s")}, {sum(col("a"), "sa"), count(col("b2"), "cb"), count_star("n"), avg(col("v"), "av"),
                              min(col("s"), "mn"), max(col("a"), "mx"), count_distinct(col("k"), "dk")})
      .sort({asc(col("s")), desc(col("n"))})
      .top_k({desc(col("sa"))}, 5)
      .distinct()
      .limit(10, 3)
      .build("everything");
}

}  // namespace

TEST_CASE("to_json output parses back to an equal plan for every node and expression kind") {
  plan p = everything_plan();
  std::string json = to_json(p);
  CHECK(parse_plan(json) == p);
  // Writing is deterministic: the same plan gives the same text.
  CHECK(to_json(parse_plan(json)) == json);
}

TEST_CASE("constants keep their kind and exact value through a round trip") {
  for (double d :
       {24.0, 0.1, 0.05, -0.0, 1e300, 5e-324, 123456789.125, 1e23, -2.5e-7, std::numeric_limits<double>::max(),
        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()}) {
    plan p = plan_builder::table_scan("t").filter(col("x") < lit(d)).build("d");
    plan back = parse_plan(to_json(p));
    CAPTURE(d);
    REQUIRE(std::holds_alternative<double>(back.root.predicate->args[1].value));
    CHECK(std::get<double>(back.root.predicate->args[1].value) == d);
    CHECK(std::signbit(std::get<double>(back.root.predicate->args[1].value)) == std::signbit(d));
  }
  for (std::int64_t i : {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(),
                         std::numeric_limits<std::int64_t>::max()}) {
    plan p = plan_builder::table_scan("t").filter(col("x") < lit(i)).build("i");
    CHECK(parse_plan(to_json(p)) == p);
  }
  for (std::string s : {std::string("quote \" and \\ backslash"), std::string("line\nbreak\ttab"),
                        std::string("\x01 control"), std::string("caf\xc3\xa9 \xe2\x82\xac")}) {
    plan p = plan_builder::table_scan("t").filter(eq(col("x"), lit(s))).build(s);
    CHECK(parse_plan(to_json(p)) == p);
  }
  plan n = plan_builder::table_scan("t").filter(eq(col("x"), null_literal())).build("n");
  CHECK(parse_plan(to_json(n)) == n);
}

TEST_CASE("to_json writes an integer-valued double with a fraction so it stays a double") {
  plan p = plan_builder::table_scan("t").filter(col("x") < lit(24.0)).build("q");
  std::string json = to_json(p);
  CHECK(json.find("24.0") != std::string::npos);
  CHECK(json.find("\"const\": 24}") == std::string::npos);
}

TEST_CASE("to_json refuses a NaN constant, which JSON cannot carry") {
  plan p = plan_builder::table_scan("t").filter(col("x") < lit(std::nan(""))).build("q");
  CHECK_THROWS_AS(to_json(p), plan_error);
}

TEST_CASE("a JSON integer reads as int64, a number with fraction or exponent as double") {
  auto constant = [](const std::string& c) {
    plan p = parse_plan(with_plan(R"({"op": "filter", "predicate": {"op": "<", "args": [{"col": "x"}, {"const": )" + c +
                                  R"(}]}, "input": )" + scan_json + "}"));
    return p.root.predicate->args[1].value;
  };
  CHECK(constant("5") == literal{std::int64_t{5}});
  CHECK(constant("-7") == literal{std::int64_t{-7}});
  CHECK(constant("5.0") == literal{5.0});
  CHECK(constant("5e0") == literal{5.0});
  CHECK(constant("\"1994-01-01\"") == literal{std::string("1994-01-01")});
  CHECK(constant("null") == literal{std::monostate{}});
}

TEST_CASE("defaults: project names a bare column after it, sort order is asc, limit offset is 0, name is optional") {
  plan p = parse_plan(R"({"plan": {"op": "limit", "limit": 4, "input":
      {"op": "sort", "keys": [{"expr": {"col": "a"}}], "input":
      {"op": "project", "exprs": [{"expr": {"col": "a"}}], "input": {"op": "table_scan", "table": "t"}}}}})");
  CHECK(p.name.empty());
  CHECK(p.root.offset == 0);
  CHECK(p.root.limit == 4);
  CHECK_FALSE(p.root.inputs[0].keys[0].descending);
  CHECK(p.root.inputs[0].inputs[0].exprs[0].as == "a");
}

TEST_CASE("the type aliases bigint, double and varchar read as int64, float64 and string") {
  plan p = parse_plan(with_plan(R"({"op": "csv_scan", "path": "x.csv", "schema": [
      {"name": "a", "type": "bigint"}, {"name": "b", "type": "double"}, {"name": "c", "type": "varchar"}]})"));
  CHECK(p.root.file_schema == schema({{"a", type_id::int64}, {"b", type_id::float64}, {"c", type_id::string}}));
}

TEST_CASE("an unknown node operator is rejected with the list of operators") {
  CHECK(parse_error(with_plan(R"({"op": "limit", "limit": 1, "input": {"op": "fliter"}})")) ==
        "plan.input.op: unknown operator 'fliter' (expected one of csv_scan, table_scan, filter, project, "
        "aggregate, hash_join, sort, top_k, distinct, limit)");
}

TEST_CASE("an unknown expression operator is rejected with the list of operators") {
  CHECK(parse_error(with_plan(std::string(R"({"op": "filter", "predicate": {"op": "xor", "args": []}, "input": )") +
                              scan_json + "}")) ==
        "plan.predicate.op: unknown operator 'xor' (expected one of + - * / = != < <= > >= and or not between in)");
}

TEST_CASE("an unknown field is rejected naming the field and what the node takes") {
  CHECK(parse_error(with_plan(std::string(R"({"op": "filter", "predicat": {"col": "a"}, "input": )") + scan_json +
                              "}")) == "plan: unknown field 'predicat' (filter takes op, predicate, input)");
  CHECK(parse_error(
            with_plan(std::string(R"({"op": "sort", "keys": [{"expr": {"col": "a"}, "ordr": "asc"}], "input": )") +
                      scan_json + "}")) == "plan.keys[0]: unknown field 'ordr' (a sort key takes expr, order)");
  CHECK(parse_error(R"({"name": "x", "plna": {}})") ==
        "plan: unknown field 'plna' (the top level takes name, plan, recovery)");
  CHECK(parse_error(with_plan(std::string(R"({"op": "filter", "predicate": {"col": "a", "args": []}, "input": )") +
                              scan_json + "}")) ==
        "plan.predicate: unknown field 'args' (a column reference takes col)");
}

TEST_CASE("a missing required field is rejected naming the field") {
  CHECK(parse_error(with_plan(R"({"op": "filter", "predicate": {"col": "a"}})")) == "plan: missing field 'input'");
  CHECK(parse_error(R"({"name": "x"})") == "plan: missing field 'plan'");
  CHECK(parse_error(with_plan(std::string(R"({"op": "top_k", "keys": [], "input": )") + scan_json + "}")) ==
        "plan: missing field 'limit'");
  CHECK(parse_error(with_plan(
            std::string(R"({"op": "aggregate", "group_by": [], "aggregates": [{"fn": "sum", "as": "s"}], "input": )") +
            scan_json + "}")) == "plan.aggregates[0]: missing field 'arg'");
  CHECK(parse_error(with_plan(std::string(R"({"op": "project", "exprs": [{"expr": {"const": 1}}], "input": )") +
                              scan_json + "}")) ==
        "plan.exprs[0]: missing field 'as' (only a bare column reference may leave it out)");
}

TEST_CASE("wrong JSON types are rejected naming the expected and the actual kind") {
  CHECK(parse_error(with_plan(std::string(R"({"op": "limit", "limit": "10", "input": )") + scan_json + "}")) ==
        "plan.limit: expected an integer, got string");
  CHECK(parse_error(with_plan(std::string(R"({"op": "limit", "limit": 10.5, "input": )") + scan_json + "}")) ==
        "plan.limit: expected an integer, got number");
  CHECK(parse_error(with_plan(std::string(R"({"op": "limit", "limit": 18446744073709551615, "input": )") + scan_json +
                              "}")) == "plan.limit: integer out of range: 18446744073709551615");
  CHECK(parse_error(
            with_plan(std::string(R"({"op": "sort", "keys": [{"expr": {"col": "a"}, "order": "up"}], "input": )") +
                      scan_json + "}")) == "plan.keys[0].order: expected \"asc\" or \"desc\", got \"up\"");
  CHECK(parse_error(with_plan(R"({"op": "csv_scan", "path": "x.csv", "schema": [{"name": "a", "type": "int64"},
      {"name": "b", "type": "int64"}, {"name": "c", "type": "int64"}, {"name": "d", "type": "int"}]})")) ==
        "plan.schema[3].type: unknown type 'int' (expected int64, float64, string, bigint, double or varchar)");
  CHECK(parse_error(with_plan(std::string(R"({"op": "filter", "predicate": {"op": "and", "args": {}}, "input": )") +
                              scan_json + "}")) == "plan.predicate.args: expected an array, got object");
  CHECK(parse_error(with_plan(
            std::string(
                R"({"op": "filter", "predicate": {"op": "=", "args": [{"col": "a"}, {"const": true}]}, "input": )") +
            scan_json + "}")) == "plan.predicate.args[1].const: expected a number, a string or null, got boolean");
  CHECK(parse_error(with_plan(
            std::string(R"({"op": "filter", "predicate": {"op": "=", "args": [{"col": 3}, {"const": 1}]}, "input": )") +
            scan_json + "}")) == "plan.predicate.args[0].col: expected a string, got integer");
  CHECK(parse_error(
            with_plan(std::string(R"({"op": "filter", "predicate": {"value": 1}, "input": )") + scan_json + "}")) ==
        "plan.predicate: expected an expression: an object with \"col\", \"const\" or \"op\"");
  CHECK(parse_error(with_plan(R"([1, 2])")) == "plan: expected an object, got array");
  CHECK(parse_error(R"([])") == "plan: expected an object with \"name\" and \"plan\", got array");
  CHECK(parse_error(R"({"name": 7, "plan": {}})") == "name: expected a string, got integer");
}

TEST_CASE("an unknown aggregate function and count_star with an argument are rejected") {
  CHECK(
      parse_error(with_plan(
          std::string(
              R"({"op": "aggregate", "group_by": [], "aggregates": [{"fn": "median", "arg": {"col": "a"}, "as": "m"}], "input": )") +
          scan_json + "}")) ==
      "plan.aggregates[0].fn: unknown aggregate function 'median' (expected one of sum, count, count_star, avg, "
      "min, max, count_distinct)");
  CHECK(
      parse_error(with_plan(
          std::string(
              R"({"op": "aggregate", "group_by": [], "aggregates": [{"fn": "count_star", "arg": {"col": "a"}, "as": "n"}], "input": )") +
          scan_json + "}")) == "plan.aggregates[0].arg: count_star takes no argument");
}

TEST_CASE("invalid JSON syntax is reported with the line and column of the offending byte") {
  CHECK(parse_error("{\n  \"name\": \"x\",\n  \"plan\": {\"op\" 1}\n}") ==
        "plan: invalid JSON at line 3 column 17: syntax error");
  CHECK(parse_error("{\"name\": \"x\",\n \"plan\": {") == "plan: invalid JSON at line 2 column 11: incomplete JSON");
  CHECK(parse_error("{\"plan\": {\"op\": \"distinct\"}}\n  x") == "plan: invalid JSON at line 2 column 3: extra data");
  CHECK(parse_error("") == "plan: invalid JSON at line 1 column 1: incomplete JSON");
}

TEST_CASE("nesting deeper than the reader allows is a syntax error, not a crash") {
  std::string deep(300, '[');
  CHECK(parse_error(deep).rfind("plan: invalid JSON at line 1 column 257: ", 0) == 0);
}

TEST_CASE("the builder folds chained && into one n-ary and, as JSON writes it") {
  expr e = col("a") < lit(1) && col("b") < lit(2) && col("c") < lit(3);
  CHECK(e.op == expr_op::and_);
  CHECK(e.args.size() == 3);
  expr o = col("a") < lit(1) || col("b") < lit(2) || col("c") < lit(3);
  CHECK(o.args.size() == 3);
  // Explicit grouping on the right stays nested.
  expr r = col("a") < lit(1) && (col("b") < lit(2) && col("c") < lit(3));
  CHECK(r.args.size() == 2);
  CHECK(r.args[1].op == expr_op::and_);
}

TEST_CASE("builder and JSON produce equal plans for every node kind") {
  std::string json = R"({"name": "b", "plan": {"op": "limit", "limit": 3, "offset": 1, "input":
    {"op": "distinct", "input":
    {"op": "top_k", "keys": [{"expr": {"col": "a"}, "order": "desc"}], "limit": 2, "input":
    {"op": "sort", "keys": [{"expr": {"col": "a"}, "order": "asc"}], "input":
    {"op": "aggregate", "group_by": [{"col": "a"}], "aggregates": [{"fn": "count_star", "as": "n"}], "input":
    {"op": "hash_join", "probe_keys": [{"col": "a"}], "build_keys": [{"col": "k"}],
      "probe": {"op": "project", "exprs": [{"expr": {"col": "a"}}, {"expr": {"op": "/", "args": [{"col": "a"}, {"const": 2}]}, "as": "h"}], "input":
        {"op": "filter", "predicate": {"op": "not", "args": [{"op": "in", "args": [{"col": "a"}, {"const": 1}, {"const": 2}]}]}, "input":
        {"op": "csv_scan", "path": "x.csv", "schema": [{"name": "a", "type": "int64"}], "columns": ["a"]}}},
      "build": {"op": "table_scan", "table": "t", "columns": ["k"]}}}}}}}})";
  plan built = plan_builder::csv_scan("x.csv", schema({{"a", type_id::int64}}), {"a"})
                   .filter(!in(col("a"), {lit(1), lit(2)}))
                   .project({{col("a"), ""}, {col("a") / lit(2), "h"}})
                   .hash_join(plan_builder::table_scan("t", {"k"}), {col("a")}, {col("k")})
                   .aggregate({col("a")}, {count_star("n")})
                   .sort({asc(col("a"))})
                   .top_k({desc(col("a"))}, 2)
                   .distinct()
                   .limit(3, 1)
                   .build("b");
  CHECK(parse_plan(json) == built);
}

TEST_CASE("name functions give the JSON spellings") {
  CHECK(expr_op_name(expr_op::ne) == "!=");
  CHECK(expr_op_name(expr_op::and_) == "and");
  CHECK(expr_op_name(expr_op::column) == "col");
  CHECK(node_kind_name(node_kind::top_k) == "top_k");
  CHECK(agg_fn_name(agg_fn::count_distinct) == "count_distinct");
}

TEST_CASE("a key repeated within one object is an error, not a silent overwrite") {
  CHECK(parse_error("{\"plan\": {\"op\": \"limit\", \"limit\": 1, \"limit\": 2}}") ==
        "plan: invalid JSON at line 1 column 44: duplicate key 'limit'");
  CHECK(parse_error("{\"\": 1, \"\": 2}") == "plan: invalid JSON at line 1 column 10: duplicate key ''");
  // The same key in different objects is fine.
  CHECK(parse_error(
            with_plan(std::string(R"({"op": "limit", "limit": 1, "input": {"op": "limit", "limit": 2, "input": )") +
                      scan_json + "}}")) == "(no error)");
}

TEST_CASE("doubles read exactly as std::from_chars rounds them, long digit strings included") {
  // Boost.JSON 1.81 reads this one ulp off; the plan reader must not.
  for (const char* text : {"92233720357.68459", "92233720357.6845807", "0.07", "2.2250738585072014e-308",
                           "4.9406564584124654e-324", "1.7976931348623157e308", "123456789012345678901234567890.5"}) {
    plan p = parse_plan(with_plan(
        std::string(
            R"({"op": "limit", "limit": 1, "input": {"op": "filter", "predicate": {"op": "<", "args": [{"col": "x"}, {"const": )") +
        text + R"(}]}, "input": )" + scan_json + "}}"));
    double expected = 0;
    std::string_view sv(text);
    std::from_chars(sv.data(), sv.data() + sv.size(), expected);
    CAPTURE(text);
    CHECK(std::get<double>(p.root.inputs[0].predicate->args[1].value) == expected);
    CHECK(parse_plan(to_json(p)) == p);
  }
}

TEST_CASE("eq and ne build comparisons, while == compares expressions") {
  expr e = eq(col("a"), lit(1));
  CHECK(e.op == expr_op::eq);
  CHECK(e.args.size() == 2);
  CHECK(ne(col("a"), lit(1)).op == expr_op::ne);
  CHECK(e == eq(col("a"), lit(1)));
  CHECK_FALSE(e == eq(col("a"), lit(2)));
  CHECK_FALSE(e == ne(col("a"), lit(1)));
}

TEST_CASE("a plan's recovery policy is text naming handlers, kept through a round trip") {
  const plan p = parse_plan(R"({"name": "t", "plan": {"op": "table_scan", "table": "t"},
                                "recovery": "transient=retry:refresh_token,attempts=3"})");
  CHECK(p.recovery == "transient=retry:refresh_token,attempts=3");
  CHECK(parse_plan(to_json(p)) == p);
  // Without one, the JSON has no key (so plans without it hash as before).
  plan bare = p;
  bare.recovery.clear();
  CHECK(to_json(bare).find("recovery") == std::string::npos);
  CHECK(parse_error(R"({"name": "t", "plan": {"op": "table_scan", "table": "t"}, "recovery": 3})").find("recovery") !=
        std::string::npos);
}
