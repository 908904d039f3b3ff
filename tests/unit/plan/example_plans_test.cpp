// Proves the plans under examples/plans are faithful translations of the oracle's SQL: each one
// parses, binds, produces the SQL's column names, and equals the same plan written with the
// C++ builder.
#include <ftq/plan.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "plan/binder.hpp"

#include "support/table_schemas.hpp"
#include "support/temp_dir.hpp"

namespace {

using namespace ftq;
using ftq::test::lineitem_schema;
using ftq::test::orders_schema;

std::string read_example(const std::string& name) {
  const char* root = std::getenv("FTQ_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "FTQ_SOURCE_ROOT is not set (run through meson test)");
  std::ifstream in(std::filesystem::path(root) / "examples" / "plans" / (name + ".json"));
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// lineitem.csv and orders.csv with their headers, in a fresh directory.
class data_dir {
 public:
  data_dir() : dir_("ftq-example-plans") {
    dir_.write(
        "lineitem.csv",
        "l_orderkey,l_partkey,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,l_shipdate\n");
    dir_.write("orders.csv", "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n");
  }
  plan_detail::bind_context ctx() const { return {dir_.path(), {}, {}}; }

 private:
  ftq::test::temp_dir dir_;
};

std::vector<std::string> output_names(const plan& p) {
  data_dir d;
  auto bound = plan_detail::bind(p, d.ctx());
  std::vector<std::string> names;
  for (const auto& f : bound->output.fields()) {
    names.push_back(f.name);
  }
  return names;
}

void check_example(const std::string& name, const plan& built, const std::vector<std::string>& sql_columns) {
  CAPTURE(name);
  plan parsed = parse_plan(read_example(name));
  CHECK(parsed == built);
  CHECK(parse_plan(to_json(parsed)) == parsed);
  CHECK(output_names(parsed) == sql_columns);
}

expr disc_price() { return col("l_extendedprice") * (lit(1) - col("l_discount")); }

}  // namespace

TEST_CASE("examples/plans/q1.json is Q1: filter, group by flag and status, sort") {
  plan built =
      plan_builder::csv_scan(
          "lineitem.csv", lineitem_schema(),
          {"l_quantity", "l_extendedprice", "l_discount", "l_tax", "l_returnflag", "l_linestatus", "l_shipdate"})
          .filter(col("l_shipdate") <= lit("1998-09-02"))
          .aggregate({col("l_returnflag"), col("l_linestatus")},
                     {sum(col("l_quantity"), "sum_qty"), sum(col("l_extendedprice"), "sum_base_price"),
                      sum(disc_price(), "sum_disc_price"), sum(disc_price() * (lit(1) + col("l_tax")), "sum_charge"),
                      avg(col("l_quantity"), "avg_qty"), avg(col("l_extendedprice"), "avg_price"),
                      avg(col("l_discount"), "avg_disc"), count_star("count_order")})
          .sort({asc(col("l_returnflag")), asc(col("l_linestatus"))})
          .build("q1");
  check_example("q1", built,
                {"l_returnflag", "l_linestatus", "sum_qty", "sum_base_price", "sum_disc_price", "sum_charge", "avg_qty",
                 "avg_price", "avg_disc", "count_order"});
}

TEST_CASE("examples/plans/q6.json is Q6: a four-way conjunction and one sum") {
  plan built = plan_builder::csv_scan("lineitem.csv", lineitem_schema(),
                                      {"l_quantity", "l_extendedprice", "l_discount", "l_shipdate"})
                   .filter(col("l_shipdate") >= lit("1994-01-01") && col("l_shipdate") < lit("1995-01-01") &&
                           between(col("l_discount"), lit(0.05), lit(0.07)) && col("l_quantity") < lit(24))
                   .aggregate({}, {sum(col("l_extendedprice") * col("l_discount"), "revenue")})
                   .build("q6");
  check_example("q6", built, {"revenue"});
}

TEST_CASE("examples/plans/join.json joins lineitem (probe) with orders (build) and groups by priority") {
  plan built = plan_builder::csv_scan("lineitem.csv", lineitem_schema(), {"l_orderkey", "l_extendedprice"})
                   .hash_join(plan_builder::csv_scan("orders.csv", orders_schema(), {"o_orderkey", "o_orderpriority"}),
                              {col("l_orderkey")}, {col("o_orderkey")})
                   .aggregate({col("o_orderpriority")},
                              {count_star("line_count"), sum(col("l_extendedprice"), "sum_extendedprice")})
                   .sort({asc(col("o_orderpriority"))})
                   .build("join");
  check_example("join", built, {"o_orderpriority", "line_count", "sum_extendedprice"});
}

TEST_CASE("examples/plans/topk.json is a top 10 by extendedprice with orderkey, partkey tie breaks") {
  plan built = plan_builder::csv_scan("lineitem.csv", lineitem_schema(),
                                      {"l_orderkey", "l_partkey", "l_quantity", "l_extendedprice"})
                   .top_k({desc(col("l_extendedprice")), asc(col("l_orderkey")), asc(col("l_partkey"))}, 10)
                   .build("topk");
  check_example("topk", built, {"l_orderkey", "l_partkey", "l_quantity", "l_extendedprice"});
}

TEST_CASE("examples/plans/distinct.json counts distinct part keys") {
  plan built = plan_builder::csv_scan("lineitem.csv", lineitem_schema(), {"l_partkey"})
                   .aggregate({}, {count_distinct(col("l_partkey"), "distinct_partkey")})
                   .build("distinct");
  check_example("distinct", built, {"distinct_partkey"});
}
