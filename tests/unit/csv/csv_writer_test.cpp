#include "csv/csv_writer.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "csv/csv_reader.hpp"

#include "support/operator_harness.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using ftq::batch;
using ftq::column;
using ftq::schema;
using ftq::type_id;
using ftq::csv::csv_writer;

namespace {

using namespace ftq::test;

}  // namespace

TEST_CASE("needs_quotes is true exactly for text that would not read back as itself") {
  using ftq::csv::needs_quotes;
  for (const char* s : {"", "a,b", "say \"hi\"", "two\nlines", "cr\r", " lead", "trail "}) {
    CAPTURE(s);
    CHECK(needs_quotes(s));
  }
  for (const char* s : {"plain", "in ner", "1-URGENT", "4-NOT SPECIFIED", "\t"}) {
    CAPTURE(s);
    CHECK_FALSE(needs_quotes(s));
  }
}

TEST_CASE("rows print ints plainly, doubles round-trip, strings quoted only when needed, NULL empty") {
  temp_dir dir;
  const schema s({{"i", type_id::int64}, {"d", type_id::float64}, {"s", type_id::string}});
  auto i = ints({1, -5, 0, INT64_MIN});
  auto d = doubles({625120.0, 0.1 + 0.2, 0, -INFINITY});
  auto str = strings({"plain", "a,b", "", "say \"hi\""});
  i->set_null(2);
  d->set_null(2);
  str->set_null(3);
  csv_writer w(dir.path() / "out.csv", s);
  w.write(make_batch({i, d, str}));
  w.finish();
  CHECK(read_file(dir.path() / "out.csv") ==
        "i,d,s\n"
        "1,625120,plain\n"
        "-5,0.30000000000000004,\"a,b\"\n"
        ",,\"\"\n"
        "-9223372036854775808,-inf,\n");
  CHECK(w.rows_written() == 4);
  CHECK(w.bytes_written() == read_file(dir.path() / "out.csv").size());
}

TEST_CASE("only the rows of the selection vector are written") {
  temp_dir dir;
  const schema s({{"i", type_id::int64}});
  batch b = make_batch({ints({10, 11, 12, 13})});
  b.has_selection = true;
  b.selection = {1, 3};
  csv_writer w(dir.path() / "sel.csv", s);
  w.write(b);
  w.finish();
  CHECK(read_file(dir.path() / "sel.csv") == "i\n11\n13\n");
  CHECK(w.rows_written() == 2);
}

TEST_CASE("header names are quoted like values") {
  temp_dir dir;
  csv_writer w(dir.path() / "h.csv", schema({{"a,b", type_id::int64}, {"sum(x)", type_id::float64}}));
  w.finish();
  CHECK(read_file(dir.path() / "h.csv") == "\"a,b\",sum(x)\n");
}

TEST_CASE("the result appears only at finish; before that only the temp file exists") {
  temp_dir dir;
  const fs::path out = dir.path() / "result.csv";
  csv_writer w(out, schema({{"i", type_id::int64}}));
  CHECK(w.temp_path() == fs::path(out.string() + ".tmp-" + std::to_string(::getpid())));
  w.write(make_batch({ints({1, 2, 3})}));
  CHECK_FALSE(fs::exists(out));
  CHECK(fs::exists(w.temp_path()));
  w.finish();
  CHECK(fs::exists(out));
  CHECK_FALSE(fs::exists(w.temp_path()));
  CHECK(dir.entries() == 1);
}

TEST_CASE("finish replaces an existing result in one step") {
  temp_dir dir;
  const fs::path out = dir.path() / "result.csv";
  std::ofstream(out) << "old\n";
  csv_writer w(out, schema({{"i", type_id::int64}}));
  w.write(make_batch({ints({7})}));
  CHECK(read_file(out) == "old\n");
  w.finish();
  CHECK(read_file(out) == "i\n7\n");
}

TEST_CASE("an unfinished writer leaves neither the result nor its temp file") {
  temp_dir dir;
  const fs::path out = dir.path() / "result.csv";
  {
    csv_writer w(out, schema({{"i", type_id::int64}}));
    w.write(make_batch({ints({1})}));
  }
  CHECK(dir.entries() == 0);
  csv_writer aborted(out, schema({{"i", type_id::int64}}));
  aborted.abort();
  CHECK(dir.entries() == 0);
  CHECK_THROWS_AS(aborted.write(make_batch({ints({1})})), ftq::error);
}

TEST_CASE("a result in a missing directory is an io_error at creation") {
  CHECK_THROWS_AS(csv_writer("/nonexistent/ftq/out.csv", schema({{"i", type_id::int64}})), ftq::io_error);
}

TEST_CASE("a write error (disk full) is an io_error and removes the temp file") {
  if (!fs::exists("/dev/full")) {
    return;
  }
  // /dev/full fails every write with ENOSPC; writing "onto" it exercises the error path.
  temp_dir dir;
  {
    const fs::path out = dir.path() / "full.csv";
    fs::create_symlink("/dev/full", fs::path(out.string() + ".tmp-" + std::to_string(::getpid())));
    ftq::csv::writer_options small;
    small.buffer_bytes = 4096;
    csv_writer w(out, schema({{"s", type_id::string}}), small);
    const std::string big(10000, 'x');
    try {
      w.write(make_batch({strings({big})}));
      w.finish();
      FAIL("no error writing to /dev/full");
    } catch (const ftq::io_error& e) {
      CHECK(e.code() == std::errc::no_space_on_device);
    }
    CHECK_FALSE(fs::exists(out));
    CHECK(dir.entries() == 0);
  }
}

TEST_CASE("values survive a write and a read exactly") {
  temp_dir dir;
  const schema s({{"i", type_id::int64}, {"d", type_id::float64}, {"s", type_id::string}});
  const std::vector<double> ds = {0.1 + 0.2, 1e300,         -0.0,
                                  625120.0,  5e-324,        1.7976931348623157e308,
                                  -1.5e-7,   123456789.123, 9007199254740993.0,
                                  1e16,      1e15 + 0.5,    883925179.4400036,
                                  INFINITY,  -INFINITY,     2.5e-5,
                                  0.0};
  const std::vector<std::string> ss = {
      "plain", "a,b", "say \"hi\"", "two\nlines", "crlf\r\n", " lead", "trail ", "",
      "\"",    ",",   "\"\"",       "x\ry",       "ünï",      "",      "tab\t",  std::string(9000, '"')};
  const std::vector<std::int64_t> is = {0, -1, 1, INT64_MIN, INT64_MAX, 42, 625120, -7, 8, 9, 10, 11, 12, 13, 14, 15};
  auto i = ints(is);
  auto d = doubles(ds);
  auto str = std::make_shared<column>(type_id::string);
  for (const auto& x : ss) {
    str->strings.push_back(x);
  }
  str->set_null(13);
  ftq::csv::writer_options small;
  small.buffer_bytes = 4096;  // the long string does not fit: it takes the write-through path
  csv_writer w(dir.path() / "rt.csv", s, small);
  w.write(make_batch({i, d, str}));
  w.finish();

  ftq::csv::csv_reader r(dir.path() / "rt.csv", s, {0, 1, 2});
  auto b = r.next();
  REQUIRE(b);
  REQUIRE(b->rows == ss.size());
  CHECK(b->columns[0]->ints == is);
  for (std::size_t k = 0; k < ds.size(); ++k) {
    CAPTURE(k);
    CHECK(std::bit_cast<std::uint64_t>(b->columns[1]->doubles[k]) == std::bit_cast<std::uint64_t>(ds[k]));
  }
  for (std::size_t k = 0; k < ss.size(); ++k) {
    CAPTURE(k);
    CHECK(b->columns[2]->is_null(k) == (k == 13));
    if (k != 13) {
      CHECK(b->columns[2]->strings[k] == ss[k]);
    }
  }
  CHECK_FALSE(r.next());
}

TEST_CASE("NaN survives a round trip as NaN") {
  temp_dir dir;
  const schema s({{"d", type_id::float64}});
  csv_writer w(dir.path() / "nan.csv", s);
  w.write(make_batch({doubles({std::numeric_limits<double>::quiet_NaN()})}));
  w.finish();
  ftq::csv::csv_reader r(dir.path() / "nan.csv", s, {0});
  CHECK(std::isnan(r.next()->columns[0]->doubles[0]));
}

TEST_CASE("many batches through a small buffer produce the same file as one batch") {
  temp_dir dir;
  const schema s({{"i", type_id::int64}, {"s", type_id::string}});
  std::vector<std::int64_t> all;
  std::vector<std::string> text;
  for (int k = 0; k < 5000; ++k) {
    all.push_back(k * 7919);
    text.push_back(k % 3 == 0 ? "q\"" : "v");
    text.back().append(std::to_string(k));
  }
  auto one_batch = [&](std::size_t from, std::size_t to) {
    auto i = ints(std::vector<std::int64_t>(all.begin() + static_cast<std::ptrdiff_t>(from),
                                            all.begin() + static_cast<std::ptrdiff_t>(to)));
    auto str = std::make_shared<column>(type_id::string);
    for (std::size_t k = from; k < to; ++k) {
      str->strings.push_back(text[k]);
    }
    return make_batch({i, str});
  };
  csv_writer big(dir.path() / "big.csv", s);
  big.write(one_batch(0, all.size()));
  big.finish();
  ftq::csv::writer_options small;
  small.buffer_bytes = 4096;
  csv_writer chunked(dir.path() / "chunked.csv", s, small);
  for (std::size_t from = 0; from < all.size(); from += 333) {
    chunked.write(one_batch(from, std::min(all.size(), from + 333)));
  }
  chunked.finish();
  CHECK(read_file(dir.path() / "big.csv") == read_file(dir.path() / "chunked.csv"));
  CHECK(chunked.bytes_written() == fs::file_size(dir.path() / "big.csv"));
}
