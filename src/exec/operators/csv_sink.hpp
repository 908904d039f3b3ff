#pragma once
/// Consumes all of its child's batches and writes them as CSV (header first) to a temp file
/// beside `out`, then fsyncs it and renames it onto `out`, so a reader never sees a partial
/// result. Produces no batches: returns nullopt once the file is in place. On an error or
/// cancellation the temp file is removed and `out` is left untouched.

#include <cstdint>
#include <filesystem>
#include <memory>

#include "csv/csv_writer.hpp"
#include "exec/physical_operator.hpp"

namespace ftq::exec {

struct csv_sink_state : operator_state {
  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  void load(const msgpack::object& in, snapshot_kind kind) override;
  std::uint64_t snapshot_size_hint() const override;

  std::uint64_t rows_written = 0;
  std::uint64_t bytes_written = 0;          // header included
  bool finished = false;                    // the result file is in place
  std::unique_ptr<csv::csv_writer> writer;  // open while rows are being written
};

class csv_sink_operator final : public physical_operator {
 public:
  csv_sink_operator(std::size_t id, std::filesystem::path out, operator_ptr child);

  std::string_view name() const noexcept override { return "csv_sink"; }
  const std::filesystem::path& path() const noexcept { return out_; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::filesystem::path out_;
};

}  // namespace ftq::exec
