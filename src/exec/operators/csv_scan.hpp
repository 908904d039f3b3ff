#pragma once
/// Reads a CSV file typed by the plan's file schema and produces batches of the plan's columns,
/// ctx.batch_rows() rows each, publishing bytes and rows scanned (and an estimate of the total
/// rows) as query progress. Finishes at the end of the file. Reads on the executor thread.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "csv/csv_reader.hpp"
#include "exec/physical_operator.hpp"
#include "plan/bound_plan.hpp"

namespace ftq::exec {

/// A csv_scan's execution state. `position` is all a restart needs: a reader opened there
/// continues with exactly the batches the old one would have produced.
struct csv_scan_state : operator_state {
  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  std::uint64_t snapshot_size_hint() const override;
  void retract_progress(query_progress& progress) override;

  csv::reader_position position;           // next row to read; rows == 0 and offset == 0: not started
  bool finished = false;                   // the file is exhausted; produce() only returns nullopt
  std::uint64_t rows_total_published = 0;  // this scan's share of progress().rows_total
  std::uint64_t bytes_published = 0;       // this scan's share of progress().bytes_scanned
  // What this query's progress counters hold of the two above (not saved: a restored state
  // has published nothing to the query it is restored into).
  std::uint64_t rows_total_here = 0;
  std::uint64_t bytes_here = 0;
  std::uint64_t bytes_total_here = 0;       // the file's size once added to progress().bytes_total
  std::unique_ptr<csv::csv_reader> reader;  // a cache of the file at `position`, reopened lazily
};

class csv_scan_operator final : public physical_operator {
 public:
  explicit csv_scan_operator(const plan_detail::bound_node& node);

  std::string_view name() const noexcept override { return "csv_scan"; }
  const std::string& file() const noexcept { return file_; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  void open(execution_context& ctx, csv_scan_state& st) const;
  void publish(execution_context& ctx, csv_scan_state& st) const;

  std::string file_;
  schema file_schema_;
  std::vector<std::size_t> columns_;  // file column index of each output column
};

}  // namespace ftq::exec
