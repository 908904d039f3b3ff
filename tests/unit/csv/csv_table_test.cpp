#include <ftq/csv.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ftq/error.hpp>

#include "support/table_schemas.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using ftq::batch;
using ftq::column;
using ftq::schema;
using ftq::type_id;

namespace {

using namespace ftq::test;

const schema orders = orders_schema();

}  // namespace

TEST_CASE("load_csv_table reads every row into batches of batch_rows under the given name") {
  temp_dir dir;
  const fs::path file = dir.path() / "orders.csv";
  {
    std::ofstream out(file, std::ios::binary);
    out << "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n";
    for (int i = 1; i <= 10; ++i) {
      out << i * 32 << ',' << i * 3 + 1 << ",4-NOT SPECIFIED," << i << ".25\n";
    }
  }
  const ftq::table_ptr t = ftq::load_csv_table(file, orders, "orders", 4);
  REQUIRE(t);
  CHECK(t->name() == "orders");
  CHECK(t->schema() == orders);
  CHECK(t->row_count() == 10);
  REQUIRE(t->batches().size() == 3);
  CHECK(t->batches()[0].rows == 4);
  CHECK(t->batches()[2].rows == 2);
  const batch& last = t->batches()[2];
  CHECK(last.columns[0]->ints[1] == 320);
  CHECK(last.columns[1]->ints[1] == 31);
  CHECK(last.columns[2]->strings[1] == "4-NOT SPECIFIED");
  CHECK(last.columns[3]->doubles[1] == 10.25);
}

TEST_CASE("write_csv then load_csv_table gives back the same table, selections applied") {
  temp_dir dir;
  auto key = std::make_shared<column>(type_id::int64);
  auto cust = std::make_shared<column>(type_id::int64);
  auto prio = std::make_shared<column>(type_id::string);
  auto price = std::make_shared<column>(type_id::float64);
  key->ints = {1, 2, 3, 4};
  cust->ints = {10, 20, 30, 40};
  prio->strings = {"1-URGENT", "", "a,\"b\"", "x"};
  price->doubles = {0.1 + 0.2, -0.0, 1e300, 625120};
  cust->set_null(1);
  batch b;
  b.rows = 4;
  b.columns = {key, cust, prio, price};
  batch selected = b;
  selected.has_selection = true;
  selected.selection = {0, 2};
  const fs::path file = dir.path() / "t.csv";
  ftq::write_csv(file, orders, {b, selected});

  const ftq::table_ptr t = ftq::load_csv_table(file, orders, "t");
  REQUIRE(t->row_count() == 6);
  REQUIRE(t->batches().size() == 1);
  const batch& r = t->batches()[0];
  CHECK(r.columns[0]->ints == std::vector<std::int64_t>{1, 2, 3, 4, 1, 3});
  CHECK(r.columns[1]->is_null(1));
  CHECK_FALSE(r.columns[1]->is_null(0));
  CHECK(r.columns[2]->strings[1].empty());
  CHECK_FALSE(r.columns[2]->is_null(1));
  CHECK(r.columns[2]->strings[5] == "a,\"b\"");
  CHECK(r.columns[3]->doubles[0] == 0.1 + 0.2);
  CHECK(std::signbit(r.columns[3]->doubles[1]));
  CHECK(r.columns[3]->doubles[2] == 1e300);
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("4,40,x,625120\n") != std::string::npos);
}

TEST_CASE("write_csv into a missing directory throws io_error and leaves nothing") {
  CHECK_THROWS_AS(ftq::write_csv("/nonexistent/ftq/t.csv", orders, {}), ftq::io_error);
}

TEST_CASE("load_csv_table reports malformed data with file:line:column") {
  temp_dir dir;
  const fs::path file = dir.path() / "bad.csv";
  std::ofstream(file, std::ios::binary) << "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n1,2,x,abc\n";
  try {
    ftq::load_csv_table(file, orders, "bad");
    FAIL("no error");
  } catch (const ftq::csv_error& e) {
    CHECK(std::string(e.what()) == file.string() + ":2:7: column 'o_totalprice' (float64): cannot parse \"abc\"");
  }
}

TEST_CASE("format_double is the shortest round-trip text, plain decimal for ordinary values") {
  CHECK(ftq::format_double(625120.0) == "625120");
  CHECK(ftq::format_double(0.1 + 0.2) == "0.30000000000000004");
  CHECK(ftq::format_double(-0.0) == "-0");
  CHECK(ftq::format_double(1e300) == "1e+300");
  CHECK(ftq::format_double(36091.83697848204) == "36091.83697848204");
  CHECK(ftq::format_double(std::nan("")) == "nan");
  CHECK(ftq::format_double(-INFINITY) == "-inf");
}
