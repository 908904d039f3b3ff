#pragma once
/// Consumes all of its child's batches and writes them as CSV (header first) to a temp file
/// beside `out`, then fsyncs it and renames it onto `out`, so a reader never sees a partial or
/// duplicated result. Produces no batches: returns nullopt once the file is in place. Without a
/// resume name the temp file is "<out>.tmp-<pid>", removed on an error or cancellation; with one
/// it is "<out>.partial-<name>", kept then, and a sink whose state loads a checkpoint continues it
/// from the bytes that checkpoint recorded (after a crash, or rolled back in the same process).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "csv/csv_writer.hpp"
#include "exec/physical_operator.hpp"

namespace ftq::exec {

struct csv_sink_state : operator_state {
  /// `partial` is the resumable temp file, or empty for a sink that cannot resume.
  csv_sink_state(std::filesystem::path out, std::filesystem::path partial, schema columns);

  snapshot_kind save(state_packer& out, snapshot_kind requested) const override;
  /// Restores the counters and, unless finished, reopens the partial file and cuts it back to
  /// bytes_written (rewinds the open writer instead when rolling back in the same process).
  /// Throws checkpoint_error(checkpoint_corrupt) when the file is missing or shorter, so that a
  /// restore falls back to an older checkpoint or, failing all, to a fresh run.
  void load(const msgpack::object& in, snapshot_kind kind) override;
  std::uint64_t snapshot_size_hint() const override;
  /// Hands the buffered rows to the kernel (resumable sinks only).
  void prepare_snapshot() override;
  /// fdatasyncs the partial file, so that the bytes save() records survive a crash.
  void sync_snapshot() override;

  /// Creates the temp file afresh (truncating a partial file left by an earlier run).
  void start();

  std::uint64_t rows_written = 0;
  std::uint64_t bytes_written = 0;          // header included; on disk after sync_snapshot()
  bool finished = false;                    // the result file is in place
  std::unique_ptr<csv::csv_writer> writer;  // open while rows are being written

 private:
  csv::writer_options writer_options() const;

  std::filesystem::path out_;
  std::filesystem::path partial_;
  schema columns_;
};

class csv_sink_operator final : public physical_operator {
 public:
  /// `partial_name` (no '/'; the engine passes the query's checkpoint id) makes the sink
  /// resumable; empty: not. Throws ftq::error(errc::internal) for a name with a '/'.
  csv_sink_operator(std::size_t id, std::filesystem::path out, operator_ptr child, std::string partial_name = {});

  /// "<out>.partial-<name>": the file a resumable sink writes before it renames it onto `out`;
  /// a run that discards its checkpoints (--fresh) should remove it too.
  static std::filesystem::path partial_path(const std::filesystem::path& out, const std::string& name);

  std::string_view name() const noexcept override { return "csv_sink"; }
  const std::filesystem::path& path() const noexcept { return out_; }
  /// The resumable temp file, or empty.
  const std::filesystem::path& partial() const noexcept { return partial_; }

 protected:
  std::unique_ptr<operator_state> make_state(execution_context& ctx) const override;
  boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const override;

 private:
  std::filesystem::path out_;
  std::filesystem::path partial_;
};

}  // namespace ftq::exec
