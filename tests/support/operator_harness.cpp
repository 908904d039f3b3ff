#include "support/operator_harness.hpp"

#include <algorithm>

#include <ftq/error.hpp>

#include "exec/state/state_section.hpp"
#include "support/run_coro.hpp"

namespace ftq::test {

namespace {

/// The position in the scripted batches is all a test source needs to resume.
struct source_state : exec::operator_state {
  std::size_t next = 0;

  exec::snapshot_kind save(exec::state_packer& out, exec::snapshot_kind) const override {
    exec::pack_header(out, "batch_source", 1, exec::snapshot_kind::full, 1);
    out.pack(static_cast<std::uint64_t>(next));
    return exec::snapshot_kind::full;
  }
  void load(const msgpack::object& in, exec::snapshot_kind kind) override {
    const exec::section_reader r(in, "batch_source", 1, kind);
    r.expect_fields(1);
    next = static_cast<std::size_t>(r.field(exec::first_field, "next").as_uint());
  }
};

void append_cell(column& c, const cell& v, string_arena& arena) {
  const std::size_t i = c.size();
  c.resize(i + 1);
  if (std::holds_alternative<std::monostate>(v)) {
    c.set_null(i);
    return;
  }
  switch (c.type) {
    case type_id::string:
      c.strings[i] = arena.add(std::get<std::string>(v));
      break;
    case type_id::float64:
      c.doubles[i] = std::get<double>(v);
      break;
    default:
      c.ints[i] = std::get<std::int64_t>(v);
      break;
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

}  // namespace

batch_source::batch_source(std::size_t id, schema s, std::vector<batch> batches, std::optional<std::size_t> fail_at,
                           std::string plan_path)
    : physical_operator(id, std::move(plan_path), std::move(s), {}), batches_(std::move(batches)), fail_at_(fail_at) {}

std::unique_ptr<exec::operator_state> batch_source::make_state(exec::execution_context&) const {
  return std::make_unique<source_state>();
}

boost::asio::awaitable<std::optional<batch>> batch_source::produce(exec::execution_context& ctx) const {
  auto& st = ctx.state<source_state>(id());
  if (fail_at_ && st.next == *fail_at_) {
    throw error(errc::internal, "injected failure");
  }
  if (st.next >= batches_.size()) {
    co_return std::nullopt;
  }
  co_return batches_[st.next++];
}

std::vector<batch> make_batches(const schema& s, const std::vector<row>& rows, std::size_t per_batch, bool selected) {
  std::vector<batch> out;
  for (std::size_t start = 0; start < rows.size(); start += per_batch) {
    auto arena = std::make_shared<string_arena>();
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

std::unique_ptr<batch_source> source(std::size_t id, const schema& s, const std::vector<row>& rows,
                                     std::size_t per_batch, bool selected) {
  return std::make_unique<batch_source>(id, s, make_batches(s, rows, per_batch, selected));
}

cell cell_at(const column& c, std::size_t i) {
  if (c.is_null(i)) {
    return null_cell;
  }
  switch (c.type) {
    case type_id::string:
      return std::string(c.strings[i]);
    case type_id::float64:
      return c.doubles[i];
    default:
      return c.ints[i];
  }
}

run_result run_to_end(const exec::physical_operator& op, std::size_t batch_rows) {
  return run_coro([&](auto ex) -> boost::asio::awaitable<run_result> {
    exec::execution_context ctx(ex, batch_rows, 8, nullptr);
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

const std::vector<batching> batchings = {{1, false}, {3, true}, {7, false}, {7, true}, {1000, false}, {1000, true}};

std::string show(const cell& c) {
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

std::shared_ptr<column> ints(std::vector<std::int64_t> values) {
  auto c = std::make_shared<column>(type_id::int64);
  c->ints = std::move(values);
  return c;
}

std::shared_ptr<column> doubles(std::vector<double> values) {
  auto c = std::make_shared<column>(type_id::float64);
  c->doubles = std::move(values);
  return c;
}

std::shared_ptr<column> strings(std::vector<std::string_view> values) {
  auto c = std::make_shared<column>(type_id::string);
  c->strings = std::move(values);
  return c;
}

batch make_batch(std::vector<column_ptr> columns) {
  batch b;
  b.rows = columns.empty() ? 0 : columns[0]->size();
  b.columns = std::move(columns);
  return b;
}

}  // namespace ftq::test
