#include "csv/csv_writer.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <bit>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
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

namespace {

// Rows 0..n-1 of an (int, string) schema as one batch; the strings stay alive in `text`.
struct numbered_rows {
  std::deque<std::string> text;  // a deque never moves what it holds
  batch rows(std::int64_t from, std::int64_t to) {
    std::vector<std::int64_t> is;
    auto str = std::make_shared<column>(type_id::string);
    for (std::int64_t k = from; k < to; ++k) {
      is.push_back(k);
      text.push_back("row \"" + std::to_string(k) + "\", padded to be a little longer");
      str->strings.push_back(text.back());
    }
    return make_batch({ints(std::move(is)), str});
  }
};

const schema numbered_schema({{"k", type_id::int64}, {"s", type_id::string}});

ftq::csv::writer_options kept(const fs::path& temp) {
  ftq::csv::writer_options o;
  o.buffer_bytes = 4096;
  o.temp_path = temp;
  o.keep_temp = true;
  return o;
}

// The file an uninterrupted writer produces for rows [0, n).
std::string whole_file(const fs::path& dir, std::int64_t n) {
  numbered_rows src;
  const fs::path out = dir / "whole.csv";
  csv_writer w(out, numbered_schema);
  w.write(src.rows(0, n));
  w.finish();
  return read_file_or_fail(out);
}

}  // namespace

TEST_CASE("a kept temp file outlives an unfinished writer, and a resumed writer continues it at a recorded point") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  const fs::path temp = dir / "r.csv.partial";
  const std::string expected = whole_file(dir.path(), 300);
  numbered_rows src;
  ftq::csv::resume_point at;
  {
    csv_writer w(out, numbered_schema, kept(temp));
    CHECK(w.temp_path() == temp);
    w.write(src.rows(0, 120));
    w.flush();
    w.sync();
    at = {w.bytes_written(), w.rows_written()};
    CHECK(at.rows == 120);
    CHECK(w.bytes_flushed() == at.bytes);
    // Rows written after the point, some of them handed to the kernel: a resume drops them.
    w.write(src.rows(120, 200));
    w.flush();
    w.write(src.rows(200, 210));
    CHECK(fs::file_size(temp) > at.bytes);
  }  // destroyed unfinished, as a killed process would leave it
  CHECK(fs::exists(temp));
  CHECK_FALSE(fs::exists(out));
  csv_writer resumed(out, numbered_schema, at, kept(temp));
  CHECK(fs::file_size(temp) == at.bytes);
  CHECK(resumed.rows_written() == 120);
  CHECK(resumed.bytes_written() == at.bytes);
  resumed.write(src.rows(120, 300));
  resumed.finish();
  CHECK(resumed.rows_written() == 300);
  CHECK(read_file_or_fail(out) == expected);
  CHECK_FALSE(fs::exists(temp));
}

TEST_CASE("resuming a missing or short temp file is an io_error naming it, and leaves the file as it was") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  const fs::path temp = dir / "r.csv.partial";
  try {
    csv_writer w(out, numbered_schema, ftq::csv::resume_point{100, 2}, kept(temp));
    FAIL("resumed a missing file");
  } catch (const ftq::io_error& e) {
    CHECK((e.code() == std::errc::no_such_file_or_directory));
    CHECK(e.path() == temp.string());
  }
  write_file(temp, "k,s\n1,a\n");
  try {
    csv_writer w(out, numbered_schema, ftq::csv::resume_point{100, 2}, kept(temp));
    FAIL("resumed a short file");
  } catch (const ftq::io_error& e) {
    CHECK((e.code() == ftq::errc::io_failed));
    CHECK(e.path() == temp.string());
    CHECK(std::string(e.what()).find("resume at byte 100: the file holds 8 bytes") != std::string::npos);
  }
  CHECK(read_file(temp) == "k,s\n1,a\n");
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("resuming at byte 0 writes the header again; a fresh writer truncates a leftover temp file") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  const fs::path temp = dir / "r.csv.partial";
  numbered_rows src;
  write_file(temp, "garbage left by an earlier run\n");
  {
    csv_writer w(out, numbered_schema, ftq::csv::resume_point{0, 0}, kept(temp));
    w.write(src.rows(0, 50));
    w.finish();
  }
  CHECK(read_file_or_fail(out) == whole_file(dir.path(), 50));
  write_file(temp, "garbage left by an earlier run\n");
  {
    csv_writer w(out, numbered_schema, kept(temp));
    w.write(src.rows(0, 50));
    w.finish();
  }
  CHECK(read_file_or_fail(out) == whole_file(dir.path(), 50));
}

TEST_CASE("rewind drops what followed a point, from the buffer or from the file") {
  temp_dir dir;
  const std::string expected = whole_file(dir.path(), 400);
  for (const bool flushed : {false, true}) {
    CAPTURE(flushed);
    numbered_rows src;
    const fs::path out = dir / "r.csv";
    csv_writer w(out, numbered_schema, kept(dir / "r.partial"));
    w.write(src.rows(0, 100));
    const ftq::csv::resume_point at{w.bytes_written(), w.rows_written()};
    w.write(src.rows(100, 250));  // 150 rows of about 45 bytes: past the 4 KiB buffer
    if (flushed) {
      w.flush();
    }
    w.rewind(at);
    CHECK(w.rows_written() == 100);
    CHECK(w.bytes_written() == at.bytes);
    CHECK(fs::file_size(w.temp_path()) <= at.bytes);
    w.write(src.rows(100, 400));
    w.finish();
    CHECK(read_file_or_fail(out) == expected);
  }
  numbered_rows src;
  csv_writer w(dir / "x.csv", numbered_schema);
  w.write(src.rows(0, 3));
  CHECK_THROWS_AS(w.rewind({w.bytes_written() + 1, 3}), ftq::error);
  w.rewind({0, 0});  // back to the header
  w.finish();
  CHECK(read_file_or_fail(dir / "x.csv") == "k,s\n");
}

TEST_CASE("an unfinished writer with keep_temp keeps what it flushed; after an io_error every call throws it") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  numbered_rows src;
  {
    csv_writer w(out, numbered_schema, kept(dir / "r.partial"));
    w.write(src.rows(0, 10));
    w.flush();
    const std::uint64_t flushed = w.bytes_flushed();
    w.write(src.rows(10, 12));
    w.abort();
    CHECK(fs::file_size(dir / "r.partial") == flushed);
    CHECK_THROWS_AS(w.write(src.rows(12, 13)), ftq::error);
  }
  CHECK(fs::exists(dir / "r.partial"));
  if (!fs::exists("/dev/full")) {
    return;
  }
  fs::create_symlink("/dev/full", dir / "full.partial");
  csv_writer w(out, numbered_schema, kept(dir / "full.partial"));
  const auto code_of = [&](const std::function<void()>& f) -> std::error_code {
    try {
      f();
    } catch (const ftq::io_error& e) {
      CHECK(e.path() == (dir / "full.partial").string());
      return e.code();
    }
    return {};
  };
  CHECK((code_of([&] {
           w.write(src.rows(0, 200));
           w.flush();
         }) == std::errc::no_space_on_device));
  CHECK((code_of([&] { w.write(src.rows(0, 1)); }) == std::errc::no_space_on_device));
  CHECK((code_of([&] { w.sync(); }) == std::errc::no_space_on_device));
  CHECK((code_of([&] { w.finish(); }) == std::errc::no_space_on_device));
  CHECK(fs::is_symlink(dir / "full.partial"));  // kept
  CHECK_FALSE(fs::exists(out));
}
