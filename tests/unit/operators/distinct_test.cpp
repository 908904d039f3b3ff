#include "exec/operators/distinct.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

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

std::unique_ptr<ftq::exec::distinct_operator> distinct(const schema& s, std::unique_ptr<batch_source> child) {
  bound_node n;
  n.kind = ftq::node_kind::distinct;
  n.id = 0;
  n.path = "plan";
  n.output = s;
  return std::make_unique<ftq::exec::distinct_operator>(n, std::move(child));
}

// Distinct rows in first-seen order; NULL equals NULL and -0.0 equals 0.0.
std::vector<row> first_seen(const std::vector<row>& rows) {
  std::vector<row> out;
  std::set<row> seen;
  for (const auto& r : rows) {
    row normal = r;
    for (auto& c : normal) {
      if (const auto* d = std::get_if<double>(&c); d != nullptr && *d == 0.0) {
        c = 0.0;
      }
    }
    if (seen.insert(normal).second) {
      out.push_back(r);
    }
  }
  return out;
}

const schema mixed({{"i", type_id::int64}, {"s", type_id::string}, {"f", type_id::float64}});

}  // namespace

TEST_CASE("distinct over empty input yields no rows") {
  CHECK(run(*distinct(mixed, source(1, mixed, {})), 3).rows.empty());
}

TEST_CASE("distinct keeps each row once, in first-seen order, with NULLs equal to each other") {
  const schema s({{"s", type_id::string}, {"i", type_id::int64}});
  const std::vector<row> rows = {{std::string("a,b"), std::int64_t{1}},
                                 {std::string("\"quoted\""), std::int64_t{1}},
                                 {null_cell, std::int64_t{1}},
                                 {std::string("a,b"), std::int64_t{1}},
                                 {std::string(""), null_cell},
                                 {null_cell, std::int64_t{1}},
                                 {std::string("a"), std::int64_t{1}},
                                 {std::string(""), null_cell},
                                 {null_cell, null_cell},
                                 {std::string("\"quoted\""), std::int64_t{2}},
                                 {null_cell, null_cell}};
  const std::vector<row> expected = {{std::string("a,b"), std::int64_t{1}},
                                     {std::string("\"quoted\""), std::int64_t{1}},
                                     {null_cell, std::int64_t{1}},
                                     {std::string(""), null_cell},
                                     {std::string("a"), std::int64_t{1}},
                                     {null_cell, null_cell},
                                     {std::string("\"quoted\""), std::int64_t{2}}};
  for (const auto& b : batchings) {
    CHECK(run(*distinct(s, source(1, s, rows, b.per_batch, b.selected)), 3).rows == expected);
  }
}

TEST_CASE("distinct treats -0.0 and 0.0 as one value") {
  const schema s({{"f", type_id::float64}});
  CHECK(run(*distinct(s, source(1, s, {{-0.0}, {0.0}, {1.0}, {-0.0}})), 3).rows == std::vector<row>{{-0.0}, {1.0}});
}

TEST_CASE("random rows come out distinct in first-seen order, however they are batched") {
  std::mt19937 rng(17);
  std::vector<row> rows;
  for (std::size_t i = 0; i < 500; ++i) {
    const std::size_t len = rng() % (2 + i / 20);  // strings get longer as the input goes on
    rows.push_back({rng() % 6 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % 4)),
                    rng() % 6 == 0 ? null_cell : cell(std::string(len, static_cast<char>('a' + rng() % 2))),
                    rng() % 6 == 0 ? null_cell : cell(static_cast<double>(rng() % 3) - 1.0)});
  }
  const std::vector<row> expected = first_seen(rows);
  for (const auto& b : batchings) {
    CHECK(run(*distinct(mixed, source(1, mixed, rows, b.per_batch, b.selected)), 3).rows == expected);
  }
  const schema one({{"i", type_id::int64}});
  std::vector<row> ints;
  for (const auto& r : rows) {
    ints.push_back({r[0]});
  }
  CHECK(run(*distinct(one, source(1, one, ints, 7, true)), 3).rows == first_seen(ints));
}
