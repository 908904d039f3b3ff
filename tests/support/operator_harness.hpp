#pragma once
/// Feeds operators prepared batches and collects what they produce: a test-only source
/// operator, row/cell values that read back any column, column and batch builders, and a
/// runner that drives an operator to its end on a fresh io_context.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/awaitable.hpp>

#include <ftq/batch.hpp>
#include <ftq/column.hpp>
#include <ftq/types.hpp>

#include "exec/execution_context.hpp"
#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::test {

// The engine names harness users spell most; `using namespace ftq::test` brings them along.
using ftq::batch;
using ftq::column;
using ftq::expr_op;
using ftq::schema;
using ftq::type_id;
using ftq::plan_detail::bound_expr;
using ftq::plan_detail::bound_node;

/// One value of a test row: NULL, int64, float64 or string.
using cell = std::variant<std::monostate, std::int64_t, double, std::string>;
using row = std::vector<cell>;
inline const cell null_cell{};

/// Hands out prepared batches, one per call, then ends. With `fail_at`, throws
/// ftq::error(errc::internal) instead of producing batch number `fail_at`.
class batch_source final : public exec::physical_operator {
 public:
  batch_source(std::size_t id, schema s, std::vector<batch> batches, std::optional<std::size_t> fail_at = std::nullopt,
               std::string plan_path = "source");
  std::string_view name() const noexcept override { return "batch_source"; }

 protected:
  std::unique_ptr<exec::operator_state> make_state(exec::execution_context&) const override;
  boost::asio::awaitable<std::optional<batch>> produce(exec::execution_context& ctx) const override;

 private:
  std::vector<batch> batches_;
  std::optional<std::size_t> fail_at_;
};

/// Splits `rows` into batches of `per_batch` rows; `selected` hides a junk row (NULLs,
/// quotes, extreme values) before every live row behind a selection vector.
std::vector<batch> make_batches(const schema& s, const std::vector<row>& rows, std::size_t per_batch, bool selected);

/// A batch_source over `rows` split as make_batches does.
std::unique_ptr<batch_source> source(std::size_t id, const schema& s, const std::vector<row>& rows,
                                     std::size_t per_batch = 1000, bool selected = false);

/// Row `i` of `c` as a cell (NULL as monostate).
cell cell_at(const column& c, std::size_t i);

struct run_result {
  std::vector<row> rows;
  std::vector<type_id> types;  // of the first batch's columns
  std::vector<std::size_t> live_per_batch;
};

/// Runs `op` to its end with `batch_rows` per batch, checking every batch against the output
/// schema, and returns its live rows.
run_result run_to_end(const exec::physical_operator& op, std::size_t batch_rows);

/// One way to split test input: rows per batch, and whether junk rows hide behind a selection.
struct batching {
  std::size_t per_batch;
  bool selected;
};
/// Batch sizes 1, 3, 7 and one batch, with and without selection vectors.
extern const std::vector<batching> batchings;

/// NULL, a number, or a quoted string.
std::string show(const cell& c);
/// One parenthesised line per row.
std::string show(const std::vector<row>& rows);

/// Columns without NULLs (strings are views: the caller keeps the text alive).
std::shared_ptr<column> ints(std::vector<std::int64_t> values);
std::shared_ptr<column> doubles(std::vector<double> values);
std::shared_ptr<column> strings(std::vector<std::string_view> values);
/// A batch of `columns`, its row count taken from the first.
batch make_batch(std::vector<column_ptr> columns);

}  // namespace ftq::test

namespace doctest {
// Prints rows in failed checks instead of "{?}".
template <>
struct StringMaker<std::vector<ftq::test::row>> {
  static String convert(const std::vector<ftq::test::row>& rows) { return ftq::test::show(rows).c_str(); }
};
}  // namespace doctest
