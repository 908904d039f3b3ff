#include "exec/state/state_section.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "exec/operators/csv_sink.hpp"
#include "exec/operators/memory_sink.hpp"
#include "support/temp_dir.hpp"
#include "unit/state/result_drain.hpp"
#include "unit/state/snapshot_harness.hpp"

// tests/data/state/golden/<name>.v<N>.msgpack: every section of a small plan's states at one
// snapshot, in operator-id order, the named state at id 0; <name>.v<N>.expected: the rows the plan
// produces after resuming from it. They prove that sections written by an older build still
// load and resume. FTQ_REGENERATE_GOLDEN=1 rewrites the current version's files (only when its
// reader changed on purpose; a new format gets a new version and new files instead, and the
// older version's files stay to prove that its reader still works).

namespace {

using namespace ftq::test;
using namespace ftq::test::snap;
using ftq::agg_fn;
namespace fs = std::filesystem;

const bound_expr g_ref = column_ref(0, type_id::int64);
const bound_expr x_ref = column_ref(1, type_id::int64);
const bound_expr y_ref = column_ref(2, type_id::float64);
const bound_expr s_ref = column_ref(3, type_id::string);

struct golden_case {
  std::string name;
  tree_factory make;
  std::size_t batch_rows;
  // where to snapshot, given the number of next() calls of a whole run
  std::function<std::size_t(std::size_t)> point;
  // the state's format versions with golden files, the last one the version this build writes
  std::vector<std::uint32_t> versions = {1};
  // for states that own something outside their section (the CSV sink's partial file): set it
  // up before a resume from `snap`, and check it afterwards
  std::function<void(const snapshot& snap)> before_resume = {};
  std::function<void()> after_resume = {};
};

fs::path golden_dir() { return test_data_dir() / "state" / "golden"; }

std::vector<golden_case> cases(const fs::path& scratch) {
  const ftq::table_ptr t = make_table(mixed_schema(), mixed_rows(80, 12, 21), 9, true);
  const std::vector<agg_spec> every = {{agg_fn::sum, x_ref},           {agg_fn::sum, y_ref},
                                       {agg_fn::count, s_ref},         {agg_fn::count_star, std::nullopt},
                                       {agg_fn::avg, x_ref},           {agg_fn::min, y_ref},
                                       {agg_fn::max, x_ref},           {agg_fn::min, s_ref},
                                       {agg_fn::max, s_ref},           {agg_fn::count_distinct, x_ref},
                                       {agg_fn::count_distinct, s_ref}};
  const schema file_schema({{"k", type_id::int64}, {"s", type_id::string}, {"x", type_id::float64}});
  const auto half = [](std::size_t calls) { return calls / 2; };
  std::vector<golden_case> out;
  out.push_back({"table_scan", [=] { return scan(t, 0); }, 16, half});
  out.push_back({"filter",
                 [=] {
                   return filter_op(0, mixed_schema(), expr_pred(ftq::expr_op::gt, {x_ref, lit_i(0)}), scan(t, 1));
                 },
                 16, half});
  out.push_back({"project",
                 [=] {
                   return project_op(0, {s_ref, expr_node(ftq::expr_op::add, type_id::int64, {x_ref, lit_i(5)}), y_ref},
                                     scan(t, 1));
                 },
                 16, half});
  out.push_back({"limit", [=] { return limit_op(0, mixed_schema(), 30, 4, scan(t, 1)); }, 16, half});
  out.push_back({"hash_aggregate", [=] { return aggregate(0, mixed_schema(), {0}, every, scan(t, 1)); }, 4,
                 [](std::size_t calls) { return calls - 2; }});
  out.push_back(
      {"hash_aggregate_ungrouped", [=] { return aggregate(0, mixed_schema(), {}, every, scan(t, 1)); }, 16, half});
  out.push_back({"hash_join",
                 [=] { return join_op(0, mixed_schema(), mixed_schema(), {0}, {0}, scan(t, 1), scan(t, 2)); }, 16,
                 [](std::size_t calls) { return 2 * calls / 3; }});
  out.push_back({"sort",
                 [=] {
                   return sort_op(0, mixed_schema(), {{s_ref, false}, {y_ref, true}}, scan(t, 1));
                 },
                 16, [](std::size_t calls) { return calls - 3; }});
  out.push_back({"top_k", [=] { return top_k_op(0, mixed_schema(), 10, {{y_ref, true}}, scan(t, 1)); }, 16, half});
  out.push_back({"distinct",
                 [=] {
                   return distinct_op(0, schema({mixed_schema()[0], mixed_schema()[3]}),
                                      project_op(1, {g_ref, s_ref}, scan(t, 2)));
                 },
                 16, half});
  out.push_back({"csv_scan",
                 [=] {
                   bound_node n = node(ftq::node_kind::csv_scan, 0, schema({file_schema[2], file_schema[1]}));
                   n.file = (golden_dir() / "csv_scan.input.csv").string();
                   n.file_schema = file_schema;
                   n.file_columns = {2, 1};
                   return operator_ptr(std::make_unique<ftq::exec::csv_scan_operator>(n));
                 },
                 8, half});
  // The sink's resume reads the partial file its checkpoint names: the first bytes_written bytes of
  // what the uninterrupted run writes.
  const fs::path out_csv = scratch / "out.csv";
  const auto make_sink = [=] {
    return operator_ptr(std::make_unique<ftq::exec::csv_sink_operator>(0, out_csv, scan(t, 1), "golden"));
  };
  const auto whole = std::make_shared<std::string>();
  golden_case sink{"csv_sink", make_sink, 16, half, {1, 2}};
  sink.before_resume = [=](const snapshot& snap) {
    (void)run_with(make_sink, 16, {});
    *whole = read_file_or_fail(out_csv);
    fs::remove(out_csv);
    const msgpack::object_handle h = ftq::exec::unpack_section(snap.at(0).bytes.data(), snap.at(0).bytes.size());
    const std::uint64_t bytes = h.get().via.array.ptr[4].as<std::uint64_t>();
    REQUIRE(bytes <= whole->size());
    write_file(ftq::exec::csv_sink_operator::partial_path(out_csv, "golden"), whole->substr(0, bytes));
  };
  sink.after_resume = [=] { CHECK(read_file_or_fail(out_csv) == *whole); };
  out.push_back(sink);
  out.push_back({"memory_sink",
                 [=] {
                   return operator_ptr(std::make_unique<result_drain>(
                       2, std::make_unique<ftq::exec::memory_sink_operator>(0, scan(t, 1))));
                 },
                 16, half});
  return out;
}

std::string file_name(const golden_case& c, std::uint32_t version, const char* ext) {
  return c.name + ".v" + std::to_string(version) + ext;
}

// `bytes` (one state's section) with its version replaced by `version`.
std::string with_version(const std::string& bytes, std::uint32_t version) {
  const msgpack::object_handle h = ftq::exec::unpack_section(bytes.data(), bytes.size());
  const msgpack::object& o = h.get();
  string_sink sink;
  ftq::exec::state_packer pk(sink);
  pk.pack_array(o.via.array.size);
  for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
    if (i == 1) {
      pk.pack_uint32(version);
    } else {
      pk.pack(o.via.array.ptr[i]);
    }
  }
  return sink.bytes;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing golden file " << p.string() << " (FTQ_REGENERATE_GOLDEN=1 writes it)");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Splits concatenated msgpack values into their bytes.
std::vector<std::string> split_sections(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t off = 0;
  while (off < bytes.size()) {
    const std::size_t start = off;
    (void)msgpack::unpack(bytes.data(), bytes.size(), off);
    out.push_back(bytes.substr(start, off - start));
  }
  return out;
}

struct generated {
  std::string sections;  // concatenated
  std::string expected;  // rows after the snapshot, one per line
};

generated generate(const golden_case& c) {
  const run_log base = run_with(c.make, c.batch_rows, {});
  const run_log log = run_with(c.make, c.batch_rows, {{c.point(base.calls), snapshot_kind::full, true}});
  generated g;
  for (const section& s : log.snaps.at(0).sections) {
    g.sections += s.bytes;
  }
  for (std::size_t i = log.snaps[0].rows_before; i < base.rows.size(); ++i) {
    g.expected += base.rows[i] + "\n";
  }
  return g;
}

}  // namespace

TEST_CASE("golden sections of every state and version load and resume with the expected rows") {
  temp_dir scratch;
  std::size_t loaded = 0;
  for (const golden_case& c : cases(scratch.path())) {
    for (const std::uint32_t version : c.versions) {
      CAPTURE(c.name);
      CAPTURE(version);
      const std::vector<std::string> parts = split_sections(read_all(golden_dir() / file_name(c, version, ".msgpack")));
      snapshot snap;
      for (const std::string& p : parts) {
        snap.push_back({p, snapshot_kind::full});
      }
      const msgpack::object_handle first = ftq::exec::unpack_section(parts.at(0).data(), parts.at(0).size());
      // id 0 is the named state (the aggregate's two files share its tag)
      CHECK(c.name.rfind(first.get().via.array.ptr[0].as<std::string>(), 0) == 0);
      CHECK(first.get().via.array.ptr[1].as<std::uint32_t>() == version);
      if (c.before_resume) {
        c.before_resume(snap);
      }
      const resumed r = resume(c.make, c.batch_rows, {&snap});
      if (c.after_resume) {
        c.after_resume();
      }
      std::string rows;
      for (const std::string& row : r.rows) {
        rows += row + "\n";
      }
      CHECK(rows == read_all(golden_dir() / file_name(c, version, ".expected")));
      // Loading and saving again gives the same bytes: nothing was lost or reinterpreted. An
      // older version saves again as the current one, with the same fields.
      snapshot current = snap;
      current[0].bytes = with_version(snap[0].bytes, c.versions.back());
      CHECK(same_bytes(r.resaved, current));
      // And the resumed rows are the tail of what the plan produces uninterrupted today.
      const run_log base = run_with(c.make, c.batch_rows, {});
      REQUIRE(r.rows.size() <= base.rows.size());
      CHECK(std::equal(r.rows.begin(), r.rows.end(), base.rows.end() - static_cast<std::ptrdiff_t>(r.rows.size())));
      ++loaded;
    }
  }
  CHECK(loaded == 14);
}

TEST_CASE("this build writes the golden sections byte for byte (FTQ_REGENERATE_GOLDEN=1 rewrites them)") {
  temp_dir scratch;
  const char* regen = std::getenv("FTQ_REGENERATE_GOLDEN");
  const bool rewrite = regen != nullptr && std::string(regen) == "1";
  std::size_t checked = 0;
  for (const golden_case& c : cases(scratch.path())) {
    CAPTURE(c.name);
    const generated g = generate(c);
    REQUIRE(!g.sections.empty());
    const std::uint32_t version = c.versions.back();
    if (rewrite) {
      write_file(golden_dir() / file_name(c, version, ".msgpack"), g.sections);
      write_file(golden_dir() / file_name(c, version, ".expected"), g.expected);
      MESSAGE("rewrote " << (golden_dir() / file_name(c, version, ".msgpack")).string());
    }
    // A difference means the layout changed: bump the state's version instead (keeping a reader
    // of the old one), unless the change is deliberate and the version was never released.
    CHECK(g.sections == read_all(golden_dir() / file_name(c, version, ".msgpack")));
    CHECK(g.expected == read_all(golden_dir() / file_name(c, version, ".expected")));
    ++checked;
  }
  CHECK(checked == 13);
}
