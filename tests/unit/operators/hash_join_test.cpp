#include "exec/operators/hash_join.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/error.hpp>

#include "support/run_coro.hpp"

namespace {

using ftq::batch;
using ftq::column;
using ftq::schema;
using ftq::type_id;
using ftq::plan_detail::bound_expr;
using ftq::plan_detail::bound_node;

// One value of a test row: NULL, int64, float64 or string.
using cell = std::variant<std::monostate, std::int64_t, double, std::string>;
using row = std::vector<cell>;
const cell null_cell{};

struct source_state : ftq::exec::operator_state {
  std::size_t next = 0;
};

// Hands out prepared batches, one per call, then ends; counts the calls that got a batch.
class batch_source final : public ftq::exec::physical_operator {
 public:
  batch_source(std::size_t id, schema s, std::vector<batch> batches)
      : physical_operator(id, "source", std::move(s), {}), batches_(std::move(batches)) {}
  std::string_view name() const noexcept override { return "batch_source"; }

 protected:
  std::unique_ptr<ftq::exec::operator_state> make_state(ftq::exec::execution_context&) const override {
    return std::make_unique<source_state>();
  }
  boost::asio::awaitable<std::optional<batch>> produce(ftq::exec::execution_context& ctx) const override {
    auto& st = ctx.state<source_state>(id());
    if (st.next >= batches_.size()) {
      co_return std::nullopt;
    }
    co_return batches_[st.next++];
  }

 private:
  std::vector<batch> batches_;
};

void append_cell(column& c, const cell& v, ftq::string_arena& arena) {
  const std::size_t i = c.size();
  c.resize(i + 1);
  if (std::holds_alternative<std::monostate>(v)) {
    c.set_null(i);
    return;
  }
  switch (c.type) {
    case type_id::string: c.strings[i] = arena.add(std::get<std::string>(v)); break;
    case type_id::float64: c.doubles[i] = std::get<double>(v); break;
    default: c.ints[i] = std::get<std::int64_t>(v); break;
  }
}

// A row no test expects to see: every batch with a selection hides one before each live row.
row junk_row(const schema& s, std::size_t k) {
  row r;
  for (const auto& f : s.fields()) {
    if (k % 3 == 0) {
      r.push_back(null_cell);
    } else if (f.type == type_id::string) {
      r.push_back(std::string("junk,\"row\"") + std::to_string(k));
    } else if (f.type == type_id::float64) {
      r.push_back(-1e300);
    } else {
      r.push_back(std::int64_t{-777777});
    }
  }
  return r;
}

// Splits `rows` into batches of `per_batch` rows; `selected` interleaves hidden junk rows.
std::vector<batch> make_batches(const schema& s, const std::vector<row>& rows, std::size_t per_batch,
                                bool selected) {
  std::vector<batch> out;
  for (std::size_t start = 0; start < rows.size(); start += per_batch) {
    auto arena = std::make_shared<ftq::string_arena>();
    std::vector<column> cols;
    for (const auto& f : s.fields()) {
      cols.emplace_back(f.type);
    }
    batch b;
    b.has_selection = selected;
    const std::size_t end = std::min(rows.size(), start + per_batch);
    for (std::size_t r = start; r < end; ++r) {
      if (selected) {
        const row junk = junk_row(s, r);
        for (std::size_t c = 0; c < cols.size(); ++c) {
          append_cell(cols[c], junk[c], *arena);
        }
        b.selection.push_back(static_cast<std::uint32_t>(cols[0].size()));
      }
      for (std::size_t c = 0; c < cols.size(); ++c) {
        append_cell(cols[c], rows[r][c], *arena);
      }
    }
    b.rows = cols.empty() ? 0 : cols[0].size();
    for (auto& c : cols) {
      c.keep_alive(arena);
      if (c.has_nulls()) {
        c.nulls.resize(c.size(), 0);
      }
      b.columns.push_back(std::make_shared<column>(std::move(c)));
    }
    out.push_back(std::move(b));
  }
  return out;
}

cell cell_at(const column& c, std::size_t i) {
  if (c.is_null(i)) {
    return null_cell;
  }
  switch (c.type) {
    case type_id::string: return std::string(c.strings[i]);
    case type_id::float64: return c.doubles[i];
    default: return c.ints[i];
  }
}

struct run_result {
  std::vector<row> rows;
  std::vector<type_id> types;  // of the first batch's columns
  std::vector<std::size_t> live_per_batch;
};

// Runs `op` to the end with `batch_rows` per batch and returns its live rows.
run_result run(const ftq::exec::physical_operator& op, std::size_t batch_rows) {
  return ftq::test::run_coro([&](auto ex) -> boost::asio::awaitable<run_result> {
    ftq::exec::execution_context ctx(ex, batch_rows, 8, nullptr);
    op.init_states(ctx);
    run_result out;
    while (std::optional<batch> b = co_await op.next(ctx)) {
      REQUIRE(b->columns.size() == op.output_schema().size());
      for (std::size_t c = 0; c < b->columns.size(); ++c) {
        REQUIRE(b->columns[c]->size() == b->rows);
        REQUIRE(b->columns[c]->type == op.output_schema()[c].type);
        if (out.types.size() < b->columns.size()) {
          out.types.push_back(b->columns[c]->type);
        }
      }
      out.live_per_batch.push_back(b->live_rows());
      for (std::size_t i = 0; i < b->live_rows(); ++i) {
        row r;
        for (const auto& c : b->columns) {
          r.push_back(cell_at(*c, b->row_at(i)));
        }
        out.rows.push_back(std::move(r));
      }
    }
    co_return out;
  });
}

[[maybe_unused]] bound_expr column_ref(std::size_t index, type_id t) {
  bound_expr e;
  e.op = ftq::expr_op::column;
  e.type = t;
  e.column = index;
  return e;
}

std::unique_ptr<batch_source> source(std::size_t id, const schema& s, const std::vector<row>& rows,
                                     std::size_t per_batch = 1000, bool selected = false) {
  return std::make_unique<batch_source>(id, s, make_batches(s, rows, per_batch, selected));
}

// Every way the tests split their input: batch sizes 1, 3, 7 and one batch, with and without
// selection vectors.
struct batching {
  std::size_t per_batch;
  bool selected;
};
const std::vector<batching> batchings = {{1, false}, {3, true}, {7, false}, {7, true}, {1000, false}, {1000, true}};

[[maybe_unused]] std::string show(const cell& c) {
  if (std::holds_alternative<std::monostate>(c)) {
    return "NULL";
  }
  if (const auto* i = std::get_if<std::int64_t>(&c)) {
    return std::to_string(*i);
  }
  if (const auto* d = std::get_if<double>(&c)) {
    return std::to_string(*d);
  }
  return "'" + std::get<std::string>(c) + "'";
}

std::string show(const std::vector<row>& rows) {
  std::string out;
  for (const auto& r : rows) {
    out += "(";
    for (std::size_t i = 0; i < r.size(); ++i) {
      out += (i > 0 ? ", " : "") + show(r[i]);
    }
    out += ")\n";
  }
  return out;
}

}  // namespace

namespace doctest {
// Prints rows in failed checks instead of "{?}".
template <>
struct StringMaker<std::vector<row>> {
  static String convert(const std::vector<row>& rows) { return show(rows).c_str(); }
};
}  // namespace doctest

namespace {

std::vector<row> sorted(std::vector<row> rows) {
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Joins probe rows (source 1) with build rows (source 2) on the listed key columns.
std::unique_ptr<ftq::exec::hash_join_operator> join(const schema& probe_s, const schema& build_s,
                                                    const std::vector<std::size_t>& probe_keys,
                                                    const std::vector<std::size_t>& build_keys,
                                                    std::unique_ptr<batch_source> probe,
                                                    std::unique_ptr<batch_source> build) {
  bound_node n;
  n.kind = ftq::node_kind::hash_join;
  n.id = 0;
  n.path = "plan";
  std::vector<ftq::field> out = probe_s.fields();
  for (const auto& f : build_s.fields()) {
    out.push_back({"b_" + f.name, f.type});
  }
  n.output = schema(out);
  for (std::size_t k : probe_keys) {
    n.probe_keys.push_back(column_ref(k, probe_s[k].type));
  }
  for (std::size_t k : build_keys) {
    n.build_keys.push_back(column_ref(k, build_s[k].type));
  }
  return std::make_unique<ftq::exec::hash_join_operator>(n, std::move(probe), std::move(build));
}

bool sql_equal(const cell& a, const cell& b) {
  if (std::holds_alternative<std::monostate>(a) || std::holds_alternative<std::monostate>(b)) {
    return false;
  }
  if (const auto* x = std::get_if<double>(&a)) {
    return *x == std::get<double>(b);
  }
  return a == b;
}

std::vector<row> nested_loop_join(const std::vector<row>& probe, const std::vector<row>& build,
                                  const std::vector<std::size_t>& probe_keys,
                                  const std::vector<std::size_t>& build_keys) {
  std::vector<row> out;
  for (const auto& p : probe) {
    for (const auto& b : build) {
      bool match = true;
      for (std::size_t k = 0; k < probe_keys.size(); ++k) {
        match = match && sql_equal(p[probe_keys[k]], b[build_keys[k]]);
      }
      if (match) {
        row r = p;
        r.insert(r.end(), b.begin(), b.end());
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

const schema kv({{"k", type_id::int64}, {"v", type_id::string}});

// Checks the join of `probe` and `build` against a nested-loop join, for every batching of both
// sides and output batch sizes 1, 3 and 7.
void check_join(const schema& ps, const schema& bs, const std::vector<std::size_t>& pk,
                const std::vector<std::size_t>& bk, const std::vector<row>& probe, const std::vector<row>& build) {
  const std::vector<row> expected = sorted(nested_loop_join(probe, build, pk, bk));
  for (const auto& p : batchings) {
    for (const auto& b : batchings) {
      for (std::size_t batch_rows : {1, 3, 7}) {
        const auto op = join(ps, bs, pk, bk, source(1, ps, probe, p.per_batch, p.selected),
                             source(2, bs, build, b.per_batch, b.selected));
        const auto out = run(*op, batch_rows);
        CHECK(sorted(out.rows) == expected);
        for (std::size_t live : out.live_per_batch) {
          CHECK(live <= batch_rows);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("joins each probe row with every build row of an equal key, m x n rows for duplicates") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("p1")}, {std::int64_t{2}, std::string("p2")},
                                  {std::int64_t{1}, std::string("p3")}, {std::int64_t{1}, std::string("p4")}};
  const std::vector<row> build = {{std::int64_t{1}, std::string("b1")}, {std::int64_t{3}, std::string("b2")},
                                  {std::int64_t{1}, std::string("b3")}};
  const auto op = join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build));
  const auto out = run(*op, 100).rows;
  CHECK(out.size() == 6);
  CHECK(sorted(out) == sorted(nested_loop_join(probe, build, {0}, {0})));
  check_join(kv, kv, {0}, {0}, probe, build);
}

TEST_CASE("an empty build or probe side yields no rows") {
  const std::vector<row> some = {{std::int64_t{1}, std::string("a")}};
  CHECK(run(*join(kv, kv, {0}, {0}, source(1, kv, some), source(2, kv, {})), 3).rows.empty());
  CHECK(run(*join(kv, kv, {0}, {0}, source(1, kv, {}), source(2, kv, some)), 3).rows.empty());
  CHECK(run(*join(kv, kv, {0}, {0}, source(1, kv, {}), source(2, kv, {})), 3).rows.empty());
}

TEST_CASE("keys without a partner yield no rows") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("a")}, {std::int64_t{2}, std::string("b")}};
  const std::vector<row> build = {{std::int64_t{3}, std::string("c")}, {std::int64_t{4}, std::string("d")}};
  CHECK(run(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 3).rows.empty());
  CHECK(run(*join(kv, kv, {1}, {1}, source(1, kv, probe), source(2, kv, build)), 3).rows.empty());
}

TEST_CASE("NULL keys never match, not even each other") {
  const std::vector<row> probe = {{null_cell, std::string("a")}, {std::int64_t{0}, null_cell},
                                  {std::int64_t{5}, std::string("")}};
  const std::vector<row> build = {{null_cell, std::string("a")}, {std::int64_t{0}, null_cell},
                                  {std::int64_t{5}, std::string("")}, {null_cell, null_cell}};
  const auto out = run(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 3).rows;
  CHECK(sorted(out) == sorted({{std::int64_t{0}, null_cell, std::int64_t{0}, null_cell},
                               {std::int64_t{5}, std::string(""), std::int64_t{5}, std::string("")}}));
  check_join(kv, kv, {0}, {0}, probe, build);
  check_join(kv, kv, {1}, {1}, probe, build);
  check_join(kv, kv, {0, 1}, {0, 1}, probe, build);
}

TEST_CASE("joins on string keys, short and long") {
  const std::vector<row> probe = {{std::int64_t{1}, std::string("x")},
                                  {std::int64_t{2}, std::string("")},
                                  {std::int64_t{3}, std::string("4-NOT SPECIFIED")},
                                  {std::int64_t{4}, std::string("a key well beyond sixteen bytes")},
                                  {std::int64_t{5}, std::string("a key well beyond sixteen bytes!")},
                                  {std::int64_t{6}, std::string("x\0y", 3)}};
  const std::vector<row> build = {{std::int64_t{10}, std::string("x")},
                                  {std::int64_t{20}, std::string("")},
                                  {std::int64_t{30}, std::string("4-NOT SPECIFIED")},
                                  {std::int64_t{40}, std::string("a key well beyond sixteen bytes")},
                                  {std::int64_t{50}, std::string("x\0z", 3)},
                                  {std::int64_t{60}, std::string("x")}};
  const auto out = run(*join(kv, kv, {1}, {1}, source(1, kv, probe), source(2, kv, build)), 100).rows;
  CHECK(out.size() == 5);
  check_join(kv, kv, {1}, {1}, probe, build);
  // Only short strings on the build side: longer probe strings cannot match.
  const std::vector<row> short_build = {build[0], build[1], build[5]};
  check_join(kv, kv, {1}, {1}, probe, short_build);
}

TEST_CASE("joins on several key columns of mixed types") {
  const schema s({{"i", type_id::int64}, {"t", type_id::string}, {"f", type_id::float64}});
  const std::vector<row> probe = {{std::int64_t{1}, std::string("a"), 0.5},  {std::int64_t{1}, std::string("b"), 0.5},
                                  {std::int64_t{2}, std::string("a"), 0.5},  {std::int64_t{1}, std::string("a"), 1.5},
                                  {std::int64_t{1}, std::string("a"), -0.0}, {std::int64_t{1}, null_cell, 0.5}};
  const std::vector<row> build = {{std::int64_t{1}, std::string("a"), 0.5}, {std::int64_t{1}, std::string("a"), 0.5},
                                  {std::int64_t{2}, std::string("b"), 0.5}, {std::int64_t{1}, std::string("a"), 0.0},
                                  {std::int64_t{1}, null_cell, 0.5}};
  const auto out = run(*join(s, s, {0, 1, 2}, {0, 1, 2}, source(1, s, probe), source(2, s, build)), 100).rows;
  CHECK(out.size() == 3);  // (1, a, 0.5) twice, and -0.0 equals 0.0
  check_join(s, s, {0, 1, 2}, {0, 1, 2}, probe, build);
  check_join(s, s, {2}, {2}, probe, build);
  check_join(s, s, {1, 0}, {1, 0}, probe, build);
}

TEST_CASE("random joins match a nested-loop join, for dense and for sparse int64 keys") {
  std::mt19937_64 rng(5);
  for (const std::int64_t spread : {std::int64_t{1}, std::int64_t{1'000'000'000'000}}) {
    std::vector<row> probe;
    std::vector<row> build;
    for (std::size_t i = 0; i < 60; ++i) {
      const auto key = [&]() -> cell {
        if (rng() % 10 == 0) {
          return null_cell;
        }
        return static_cast<std::int64_t>(rng() % 25) * spread - 7;
      };
      probe.push_back({key(), std::string("p") + std::to_string(i)});
      if (i < 40) {
        build.push_back({key(), std::string("b") + std::to_string(i)});
      }
    }
    check_join(kv, kv, {0}, {0}, probe, build);
  }
}

TEST_CASE("a probe row with many matches is split over batches of at most batch_rows rows") {
  std::vector<row> build;
  for (std::int64_t i = 0; i < 50; ++i) {
    build.push_back({std::int64_t{7}, std::to_string(i)});
  }
  const std::vector<row> probe = {{std::int64_t{7}, std::string("a")}, {std::int64_t{8}, std::string("b")},
                                  {std::int64_t{7}, std::string("c")}};
  const auto out = run(*join(kv, kv, {0}, {0}, source(1, kv, probe), source(2, kv, build)), 16);
  CHECK(out.rows.size() == 100);
  for (std::size_t live : out.live_per_batch) {
    CHECK(live <= 16);
  }
  CHECK(sorted(out.rows) == sorted(nested_loop_join(probe, build, {0}, {0})));
}

TEST_CASE("keys of different types on the two sides are refused") {
  const schema f({{"k", type_id::float64}});
  bound_node n;
  n.kind = ftq::node_kind::hash_join;
  n.path = "plan";
  n.probe_keys = {column_ref(0, type_id::int64)};
  n.build_keys = {column_ref(0, type_id::float64)};
  n.output = schema({{"k", type_id::int64}, {"b_k", type_id::float64}});
  CHECK_THROWS_AS(ftq::exec::hash_join_operator(n, source(1, kv, {}), source(2, f, {})), ftq::plan_error);
  n.build_keys.clear();
  CHECK_THROWS_AS(ftq::exec::hash_join_operator(n, source(1, kv, {}), source(2, f, {})), ftq::plan_error);
}
