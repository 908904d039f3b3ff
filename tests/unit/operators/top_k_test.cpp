#include "exec/operators/top_k.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/error.hpp>

#include "exec/operators/sort.hpp"
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

struct key {
  std::size_t column;
  bool descending;
};

// SQL order of two non-NULL cells of one type: numbers numerically, strings bytewise.
int compare_cells(const cell& a, const cell& b) {
  if (const auto* x = std::get_if<std::int64_t>(&a)) {
    const auto y = std::get<std::int64_t>(b);
    return *x < y ? -1 : (*x > y ? 1 : 0);
  }
  if (const auto* x = std::get_if<double>(&a)) {
    const auto y = std::get<double>(b);
    return *x < y ? -1 : (*x > y ? 1 : 0);
  }
  const int c = std::get<std::string>(a).compare(std::get<std::string>(b));
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

// The order sort and top_k promise: by each key in turn, NULLs last either way, ties stable.
std::vector<row> reference_order(std::vector<row> rows, const std::vector<key>& keys) {
  std::stable_sort(rows.begin(), rows.end(), [&](const row& a, const row& b) {
    for (const auto& k : keys) {
      const bool an = std::holds_alternative<std::monostate>(a[k.column]);
      const bool bn = std::holds_alternative<std::monostate>(b[k.column]);
      if (an || bn) {
        if (an && bn) {
          continue;
        }
        return bn;
      }
      const int c = compare_cells(a[k.column], b[k.column]);
      if (c != 0) {
        return k.descending ? c > 0 : c < 0;
      }
    }
    return false;
  });
  return rows;
}

bound_node ordering_node(ftq::node_kind kind, const schema& s, const std::vector<key>& keys) {
  bound_node n;
  n.kind = kind;
  n.id = 0;
  n.path = "plan";
  n.output = s;
  for (const auto& k : keys) {
    n.keys.push_back({column_ref(k.column, s[k.column].type), k.descending});
  }
  return n;
}

// Rows over (i int64, f float64, s string, tag int64) with many ties and NULLs; `tag` is the
// input position, so a wrong tie order shows. Strings share long prefixes.
const schema ifs({{"i", type_id::int64}, {"f", type_id::float64}, {"s", type_id::string}, {"tag", type_id::int64}});

std::vector<row> random_rows(std::size_t n, std::uint32_t seed, bool long_strings) {
  std::mt19937 rng(seed);
  const std::vector<std::string> words = {"", "a", "a\0", "ab", "b", "\xff", "B", "zz"};
  std::vector<row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    row r;
    r.push_back(rng() % 7 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % 9) - 4));
    const double fs[] = {-1.5, -0.0, 0.0, 2.25, 1e300, -1e300, 7.0};
    r.push_back(rng() % 7 == 0 ? null_cell : cell(fs[rng() % 7]));
    std::string str = words[rng() % words.size()];
    if (long_strings && rng() % 2 == 0) {
      str = "common-prefix-" + str + std::to_string(rng() % 3);
    }
    r.push_back(rng() % 7 == 0 ? null_cell : cell(str));
    r.push_back(static_cast<std::int64_t>(i));
    rows.push_back(std::move(r));
  }
  return rows;
}

// Key lists worth checking: each type first, both directions, single and several keys.
const std::vector<std::vector<key>> key_lists = {
    {{0, false}},
    {{0, true}},
    {{1, false}},
    {{1, true}, {0, false}},
    {{2, false}},
    {{2, true}},
    {{2, false}, {1, true}, {0, false}},
    {{0, true}, {2, true}},
    {{3, true}},
};

}  // namespace

namespace {

std::unique_ptr<ftq::exec::top_k_operator> top_k(const schema& s, const std::vector<key>& keys, std::int64_t k,
                                                 std::unique_ptr<ftq::exec::physical_operator> child) {
  bound_node n = ordering_node(ftq::node_kind::top_k, s, keys);
  n.limit = k;
  return std::make_unique<ftq::exec::top_k_operator>(n, std::move(child));
}

std::vector<row> first(std::vector<row> rows, std::size_t k) {
  rows.resize(std::min(rows.size(), k));
  return rows;
}

// A child that must never be asked for a batch.
class untouchable final : public ftq::exec::physical_operator {
 public:
  explicit untouchable(const schema& s) : physical_operator(1, "untouchable", s, {}) {}
  std::string_view name() const noexcept override { return "untouchable"; }

 protected:
  std::unique_ptr<ftq::exec::operator_state> make_state(ftq::exec::execution_context&) const override {
    return std::make_unique<ftq::exec::operator_state>();
  }
  boost::asio::awaitable<std::optional<batch>> produce(ftq::exec::execution_context&) const override {
    throw std::logic_error("top_k with k = 0 pulled its child");
    co_return std::nullopt;
  }
};

}  // namespace

TEST_CASE("top_k over empty input yields no rows") {
  CHECK(run(*top_k(ifs, {{0, false}}, 3, source(1, ifs, {})), 3).rows.empty());
}

TEST_CASE("top_k with k = 0 yields no rows and never pulls its child") {
  CHECK(run(*top_k(ifs, {{0, false}}, 0, std::make_unique<untouchable>(ifs)), 3).rows.empty());
}

TEST_CASE("top_k with k beyond the input returns the whole input in order") {
  const std::vector<row> rows = random_rows(40, 11, true);
  for (const auto& b : batchings) {
    CHECK(run(*top_k(ifs, {{2, true}, {0, false}}, 1000, source(1, ifs, rows, b.per_batch, b.selected)), 3).rows ==
          reference_order(rows, {{2, true}, {0, false}}));
  }
}

TEST_CASE("top_k breaks ties by input order") {
  const schema s({{"k", type_id::int64}, {"tag", type_id::int64}});
  std::vector<row> rows;
  for (std::int64_t i = 0; i < 100; ++i) {
    rows.push_back({i % 4 == 3 ? std::int64_t{1} : std::int64_t{2}, i});
  }
  for (const auto& b : batchings) {
    // 25 rows have key 1; the next 5 are the first five rows with key 2.
    const auto out = run(*top_k(s, {{0, false}}, 30, source(1, s, rows, b.per_batch, b.selected)), 7).rows;
    REQUIRE(out.size() == 30);
    CHECK(out[24] == row{std::int64_t{1}, std::int64_t{99}});
    CHECK(out[25] == row{std::int64_t{2}, std::int64_t{0}});
    CHECK(out[29] == row{std::int64_t{2}, std::int64_t{5}});
    CHECK(out == first(reference_order(rows, {{0, false}}), 30));
  }
}

TEST_CASE("top_k equals sort followed by limit, for many k on random data") {
  for (const bool long_strings : {false, true}) {
    const std::vector<row> rows = random_rows(300, long_strings ? 21 : 22, long_strings);
    for (const auto& keys : key_lists) {
      const std::vector<row> sorted_rows = reference_order(rows, keys);
      const ftq::exec::sort_operator sorter(ordering_node(ftq::node_kind::sort, ifs, keys), source(1, ifs, rows, 7, true));
      REQUIRE(run(sorter, 50).rows == sorted_rows);
      for (const std::int64_t k : {1, 2, 3, 5, 10, 33, 100, 299, 300, 301}) {
        for (const auto& b : {batching{1, false}, batching{7, true}, batching{64, false}}) {
          const auto out = run(*top_k(ifs, keys, k, source(1, ifs, rows, b.per_batch, b.selected)), 7);
          CHECK(out.rows == first(sorted_rows, static_cast<std::size_t>(k)));
          for (std::size_t live : out.live_per_batch) {
            CHECK(live <= 7);
          }
        }
      }
    }
  }
}

TEST_CASE("top_k with a negative k is refused") {
  bound_node n = ordering_node(ftq::node_kind::top_k, ifs, {{0, false}});
  n.limit = -1;
  CHECK_THROWS_AS(ftq::exec::top_k_operator(n, source(1, ifs, {})), ftq::plan_error);
}

TEST_CASE("top_k without keys returns the first k rows in input order") {
  const std::vector<row> rows = random_rows(50, 5, false);
  for (const auto& b : batchings) {
    CHECK(run(*top_k(ifs, {}, 12, source(1, ifs, rows, b.per_batch, b.selected)), 5).rows == first(rows, 12));
  }
}
