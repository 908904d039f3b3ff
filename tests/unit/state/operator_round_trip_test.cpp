#include "exec/state/state_section.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "exec/operators/csv_sink.hpp"
#include "exec/operators/memory_sink.hpp"
#include "support/aggregate_inputs.hpp"
#include "support/temp_dir.hpp"
#include "unit/state/result_drain.hpp"
#include "unit/state/snapshot_harness.hpp"

// Every operator: snapshot at every next() call of a small plan (and along chains of a full
// snapshot plus deltas), restore into a fresh tree, continue, and compare with the
// uninterrupted run.

namespace {

using namespace ftq::test;
using namespace ftq::test::snap;
using ftq::agg_fn;
using ftq::expr_op;
using ftq::table_ptr;

// every_aggregate, plus COUNT(DISTINCT) of the float64 column, whose distinct values are saved too.
const std::vector<agg_spec> round_trip_aggregates = [] {
  std::vector<agg_spec> aggs = every_aggregate;
  aggs.push_back({agg_fn::count_distinct, y_ref});
  return aggs;
}();

void check_tree(const tree_factory& make, std::size_t batch_rows, bool expect_deltas) {
  const round_trip_stats stats = check_round_trips(make, batch_rows);
  CHECK(stats.restores > stats.calls / 4);
  if (expect_deltas) {
    CHECK(stats.delta_sections > 0);
  }
}

}  // namespace

TEST_CASE("table_scan resumes at the next table batch") {
  for (const bool selected : {false, true}) {
    const table_ptr t = make_table(mixed_schema(), mixed_rows(60, 5, 1), 7, selected);
    check_tree([t] { return scan(t, 0); }, 16, false);
  }
}

TEST_CASE("filter and project keep nothing between batches and resume with their child") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(90, 5, 2), 8, true);
  check_tree(
      [t] {
        return filter_op(0, mixed_schema(), expr_pred(expr_op::gt, {x_ref, lit_i(0)}), scan(t, 1));
      },
      16, false);
  check_tree(
      [t] {
        return project_op(0, {s_ref, expr_node(expr_op::add, type_id::int64, {x_ref, lit_i(5)}), y_ref}, scan(t, 1));
      },
      16, false);
}

TEST_CASE("limit resumes with the rows it skipped and passed counted") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(90, 5, 3), 6, true);
  check_tree([t] { return limit_op(0, mixed_schema(), 25, 7, scan(t, 1)); }, 16, false);
  check_tree([t] { return limit_op(0, mixed_schema(), -1, 40, scan(t, 1)); }, 16, false);
}

TEST_CASE("hash_aggregate resumes grouped folds of every aggregate, mid-input and mid-output") {
  const std::vector<row> rows = mixed_rows(400, 150, 4);
  for (const std::size_t per_batch : {std::size_t{9}, std::size_t{64}}) {
    CAPTURE(per_batch);
    const table_ptr t = make_table(mixed_schema(), rows, per_batch, per_batch == 9);
    // int64 key, many groups: the output takes several batches of 16
    check_tree([t] { return aggregate(0, mixed_schema(), {0}, round_trip_aggregates, scan(t, 1)); }, 16, true);
    // string key and a two-column key (byte-packed: long strings)
    check_tree([t] { return aggregate(0, mixed_schema(), {3}, round_trip_aggregates, scan(t, 1)); }, 32, true);
    check_tree([t] { return aggregate(0, mixed_schema(), {3, 2}, round_trip_aggregates, scan(t, 1)); }, 64, true);
  }
}

TEST_CASE("hash_aggregate resumes ungrouped folds, COUNT(DISTINCT) in bitmap and table mode") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(300, 4, 5), 11, true);
  check_tree([t] { return aggregate(0, mixed_schema(), {}, round_trip_aggregates, scan(t, 1)); }, 16, true);
  const schema vs({{"v", type_id::int64}});
  // Values whose range widens batch after batch (the bitmap is re-based), then leaves the
  // bitmap's reach (it spills into the table) and goes on in table mode.
  std::vector<row> widening;
  for (std::int64_t i = 0; i < 400; ++i) {
    const std::int64_t v = i < 250 ? i * i % 9000 - 4 * i * i : (std::int64_t{1} << 40) * (i % 3) + i % 17;
    widening.push_back({i % 13 == 0 ? null_cell : cell(v)});
  }
  const table_ptr w = make_table(vs, widening, 10, false);
  const std::vector<agg_spec> aggs = {{agg_fn::count_distinct, column_ref(0, type_id::int64)},
                                      {agg_fn::count_star, std::nullopt}};
  check_tree([=] { return aggregate(0, vs, {}, aggs, scan(w, 1)); }, 16, true);
}

TEST_CASE("hash_join resumes while building and mid-probe, with chains crossing batch boundaries") {
  const schema probe_s({{"k", type_id::int64}, {"p", type_id::string}});
  const schema build_s({{"k", type_id::int64}, {"b", type_id::float64}, {"bs", type_id::string}});
  std::vector<row> probe_rows;
  for (std::int64_t i = 0; i < 60; ++i) {
    probe_rows.push_back({i % 9 == 0 ? null_cell : cell(i % 12), cell("p" + std::to_string(i))});
  }
  std::vector<row> build_rows;
  for (std::int64_t i = 0; i < 90; ++i) {
    // key 3 has 40 rows: its matches take more than one output batch
    const cell k = i % 17 == 0 ? null_cell : cell(i < 40 ? std::int64_t{3} : i % 10);
    build_rows.push_back(
        {k, cell(static_cast<double>(i) / 4.0), i % 5 == 0 ? null_cell : cell("b" + std::to_string(i))});
  }
  for (const bool selected : {false, true}) {
    const table_ptr pt = make_table(probe_s, probe_rows, 7, selected);
    const table_ptr bt = make_table(build_s, build_rows, 8, selected);
    // single int64 key: direct slots
    check_tree([=] { return join_op(0, probe_s, build_s, {0}, {0}, scan(pt, 1), scan(bt, 2)); }, 16, true);
  }
  // string keys and a two-column key: the key table
  const schema sp({{"s", type_id::string}, {"n", type_id::int64}});
  std::vector<row> sprobe;
  std::vector<row> sbuild;
  for (std::int64_t i = 0; i < 50; ++i) {
    sprobe.push_back({i % 8 == 0 ? null_cell : cell("key" + std::to_string(i % 6)), cell(i % 3)});
    sbuild.push_back({cell("key" + std::to_string(i % 4)), i % 7 == 0 ? null_cell : cell(i % 3)});
  }
  const table_ptr a = make_table(sp, sprobe, 6, true);
  const table_ptr b = make_table(sp, sbuild, 9, false);
  check_tree([=] { return join_op(0, sp, sp, {0}, {0}, scan(a, 1), scan(b, 2)); }, 16, true);
  check_tree([=] { return join_op(0, sp, sp, {0, 1}, {0, 1}, scan(a, 1), scan(b, 2)); }, 8, true);
}

TEST_CASE("sort resumes while buffering and mid-output, with computed keys") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(200, 9, 6), 9, true);
  const std::vector<sort_key> keys = {
      {g_ref, false}, {expr_node(expr_op::mul, type_id::int64, {x_ref, lit_i(-1)}), true}, {s_ref, false}};
  check_tree([=] { return sort_op(0, mixed_schema(), keys, scan(t, 1)); }, 16, true);
  check_tree([=] { return sort_op(0, mixed_schema(), {{y_ref, true}}, scan(t, 1)); }, 64, true);
}

TEST_CASE("top_k resumes between compactions and mid-output") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(240, 9, 7), 10, true);
  const std::vector<sort_key> keys = {{y_ref, true}, {s_ref, false}};
  // k small: compactions during the input; k large: the output takes several batches
  check_tree([=] { return top_k_op(0, mixed_schema(), 5, keys, scan(t, 1)); }, 16, true);
  check_tree([=] { return top_k_op(0, mixed_schema(), 70, keys, scan(t, 1)); }, 16, true);
  check_tree(
      [=] {
        return top_k_op(0, mixed_schema(), 30, {{expr_node(expr_op::add, type_id::int64, {x_ref, g_ref}), false}},
                        scan(t, 1));
      },
      8, true);
  check_tree([=] { return top_k_op(0, mixed_schema(), 12, {}, scan(t, 1)); }, 8, false);
}

TEST_CASE("distinct resumes with the rows it has seen") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(300, 6, 8), 12, true);
  const schema gs({{"g", type_id::int64}, {"s", type_id::string}});
  check_tree([=] { return distinct_op(0, gs, project_op(1, {g_ref, s_ref}, scan(t, 2))); }, 16, true);
  check_tree([=] { return distinct_op(0, mixed_schema(), scan(t, 1)); }, 16, true);
}

TEST_CASE("a plan of several blocking operators resumes at every point") {
  const table_ptr t = make_table(mixed_schema(), mixed_rows(250, 40, 9), 13, true);
  check_tree(
      [=] {
        operator_ptr agg =
            aggregate(2, mixed_schema(), {0, 3}, {{agg_fn::sum, x_ref}, {agg_fn::count_star, std::nullopt}},
                      filter_op(3, mixed_schema(), expr_pred(expr_op::ne, {y_ref, lit_d(0.5)}), scan(t, 4)));
        const schema out(
            {{"g", type_id::int64}, {"s", type_id::string}, {"a0", type_id::int64}, {"a1", type_id::int64}});
        return limit_op(0, out, 30, 3, sort_op(1, out, {{column_ref(2, type_id::int64), true}}, std::move(agg)));
      },
      8, true);
}

TEST_CASE("csv_scan resumes reading the file at its saved position") {
  temp_dir dir;
  const std::filesystem::path file = dir / "t.csv";
  {
    std::ofstream out(file, std::ios::binary);
    out << "k,s,x\n";
    for (int i = 0; i < 150; ++i) {
      out << i << ",\"s," << i % 7 << "\"," << i % 10 << ".25\n";
    }
  }
  const schema fs({{"k", type_id::int64}, {"s", type_id::string}, {"x", type_id::float64}});
  const auto csv = [&](std::size_t id) {
    bound_node n = node(ftq::node_kind::csv_scan, id, schema({fs[2], fs[1]}));
    n.file = file.string();
    n.file_schema = fs;
    n.file_columns = {2, 1};
    return operator_ptr(std::make_unique<ftq::exec::csv_scan_operator>(n));
  };
  check_tree([&] { return csv(0); }, 16, false);
  check_tree([&] { return distinct_op(0, schema({fs[1]}), project_op(1, {column_ref(1, type_id::string)}, csv(2))); },
             16, true);
}

TEST_CASE("csv_sink resumes its partial file from a snapshot at every next() call") {
  temp_dir dir;
  const table_ptr t = make_table(mixed_schema(), mixed_rows(100, 5, 10), 10, false);
  const std::filesystem::path out = dir / "out.csv";
  const std::filesystem::path partial = ftq::exec::csv_sink_operator::partial_path(out, "rt");
  const auto make = [&] {
    return operator_ptr(std::make_unique<ftq::exec::csv_sink_operator>(0, out, scan(t, 1), "rt"));
  };
  const run_log base = run_with(make, 16, {});
  REQUIRE(base.calls > 3);
  const std::string whole = read_file_or_fail(out);
  for (std::size_t p = 0; p < base.calls; ++p) {
    CAPTURE(p);
    const run_log log = run_with(make, 16, {{p, snapshot_kind::full, true}});
    REQUIRE(log.snaps.size() == 1);
    const section& sink = log.snaps[0].sections[0];
    const msgpack::object_handle h = ftq::exec::unpack_section(sink.bytes.data(), sink.bytes.size());
    const std::uint64_t bytes = h.get().via.array.ptr[4].as<std::uint64_t>();
    REQUIRE(bytes <= whole.size());
    // As a process killed after the snapshot leaves things: no result, and a partial file holding
    // the snapshot's bytes and some written after it.
    std::filesystem::remove(out);
    write_file(partial, whole.substr(0, bytes) + "bytes written after the snapshot\n");
    const resumed r = resume(make, 16, {&log.snaps[0].sections});
    CHECK(r.rows.empty());
    CHECK(same_bytes(r.resaved, log.reference));
    CHECK(read_file_or_fail(out) == whole);
    CHECK_FALSE(std::filesystem::exists(partial));
  }
  // The counters themselves: the sink's section after the run names its rows.
  const run_log end = run_with(make, 16, {{base.calls - 1, snapshot_kind::full, true}});
  const msgpack::object_handle h =
      ftq::exec::unpack_section(end.snaps[0].sections[0].bytes.data(), end.snaps[0].sections[0].bytes.size());
  CHECK(h.get().via.array.ptr[3].as<std::uint64_t>() == 100);
}

TEST_CASE("memory_sink resumes its result, full and along delta chains, at every next() call") {
  const std::vector<row> rows = mixed_rows(150, 7, 14);
  for (const bool selected : {false, true}) {
    CAPTURE(selected);
    const table_ptr t = make_table(mixed_schema(), rows, 7, selected);
    check_tree(
        [t] {
          return operator_ptr(
              std::make_unique<result_drain>(2, std::make_unique<ftq::exec::memory_sink_operator>(0, scan(t, 1))));
        },
        16, true);
  }
}
