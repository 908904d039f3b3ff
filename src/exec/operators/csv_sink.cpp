#include "exec/operators/csv_sink.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <system_error>

#include <ftq/error.hpp>

#include "exec/state/state_section.hpp"

namespace ftq::exec {

// csv_sink v2: [tag, 2, full, 3 rows_written, 4 bytes_written, 5 finished]. bytes_written bytes
// of the partial file hold the header and rows_written rows, durably once sync_snapshot()
// returned; a restore cuts the file back to them and appends from there. Always full.
// v1: the same fields, from before the sink kept a partial file: read the same way (an
// unfinished v1 state resumes only if the file it names is there, which no v1 build left).
namespace {
constexpr std::string_view csv_sink_tag = "csv_sink";
constexpr std::uint32_t csv_sink_version = 2;

[[noreturn]] void unusable_partial(const std::filesystem::path& path, const std::string& why) {
  throw checkpoint_error(errc::checkpoint_corrupt, path.string(),
                         "csv_sink: the partial output " + path.string() + " " + why);
}
}  // namespace

csv_sink_state::csv_sink_state(std::filesystem::path out, std::filesystem::path partial, schema columns)
    : out_(std::move(out)), partial_(std::move(partial)), columns_(std::move(columns)) {}

csv::writer_options csv_sink_state::writer_options() const {
  csv::writer_options o;
  o.temp_path = partial_;
  o.keep_temp = !partial_.empty();
  return o;
}

void csv_sink_state::start() {
  writer.reset();
  writer = std::make_unique<csv::csv_writer>(out_, columns_, writer_options());
  rows_written = 0;
  bytes_written = writer->bytes_written();
}

snapshot_kind csv_sink_state::save(state_packer& out, snapshot_kind) const {
  pack_header(out, csv_sink_tag, csv_sink_version, snapshot_kind::full, 3);
  out.pack_uint64(rows_written);
  out.pack_uint64(bytes_written);
  out.pack(finished);
  return snapshot_kind::full;
}

void csv_sink_state::load(const msgpack::object& in, snapshot_kind kind) {
  const section_reader sec(in, csv_sink_tag, csv_sink_version, kind);
  sec.expect_fields(3);
  const value_reader rows_value = sec.field(3, "rows_written");
  const std::uint64_t rows = rows_value.as_uint();
  const std::uint64_t bytes = sec.field(4, "bytes_written").as_uint();
  const bool done = sec.field(5, "finished").as_bool();
  if (rows > bytes) {
    // Every row ends with a newline.
    rows_value.invalid(std::to_string(rows) + " rows in " + std::to_string(bytes) + " bytes");
  }
  std::uint64_t restored_bytes = bytes;
  if (done) {
    // The result is in place: nothing more to write.
    if (writer) {
      writer->abort();
      writer.reset();
    }
  } else if (writer && bytes <= writer->bytes_written()) {
    // Rolled back in the process that wrote the file: its output up to `bytes` is the same.
    writer->rewind({bytes, rows});
    restored_bytes = writer->bytes_written();  // at 0, the header again
  } else if (bytes == 0) {
    // Not started: produce() starts afresh.
  } else {
    if (writer) {
      writer->abort();
      writer.reset();
    }
    if (partial_.empty()) {
      throw checkpoint_error(errc::checkpoint_corrupt, out_.string(),
                             "csv_sink: cannot resume writing " + out_.string() + " at byte " + std::to_string(bytes) +
                                 ": the sink has no partial output (no resume name)");
    }
    struct stat st {};
    if (::stat(partial_.c_str(), &st) != 0) {
      const std::error_code ec(errno, std::system_category());
      if (ec == std::errc::no_such_file_or_directory) {
        unusable_partial(partial_, "is missing");
      }
      throw io_error(partial_.string(), ec, "stat to resume");
    }
    if (static_cast<std::uint64_t>(st.st_size) < bytes) {
      unusable_partial(partial_, "has " + std::to_string(st.st_size) + " of " + std::to_string(bytes) + " bytes");
    }
    writer = std::make_unique<csv::csv_writer>(out_, columns_, csv::resume_point{bytes, rows}, writer_options());
  }
  rows_written = rows;
  bytes_written = restored_bytes;
  finished = done;
}

std::uint64_t csv_sink_state::snapshot_size_hint() const { return 32; }

void csv_sink_state::prepare_snapshot() {
  // A sink without a partial file is never resumed from disk: in-process rollbacks rewind the
  // buffer too, so it spares the write.
  if (writer && !partial_.empty()) {
    writer->flush();
  }
}

void csv_sink_state::sync_snapshot() {
  if (writer && !partial_.empty()) {
    writer->sync();
  }
}

csv_sink_operator::csv_sink_operator(std::size_t id, std::filesystem::path out, operator_ptr child,
                                     std::string partial_name)
    : physical_operator(id, "output_csv", schema{}, one_child(std::move(child))), out_(std::move(out)) {
  if (!partial_name.empty()) {
    partial_ = partial_path(out_, partial_name);
  }
}

std::filesystem::path csv_sink_operator::partial_path(const std::filesystem::path& out, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    throw error(errc::internal,
                "csv_sink: resume name '" + name + "' for " + out.string() + " must be non-empty, without '/' or NUL");
  }
  std::filesystem::path p = out;
  p += ".partial-" + name;
  return p;
}

std::unique_ptr<operator_state> csv_sink_operator::make_state(execution_context&) const {
  return std::make_unique<csv_sink_state>(out_, partial_, child(0).output_schema());
}

boost::asio::awaitable<std::optional<batch>> csv_sink_operator::produce(execution_context& ctx) const {
  auto& st = ctx.state<csv_sink_state>(id());
  if (st.finished) {
    co_return std::nullopt;
  }
  try {
    if (!st.writer) {
      st.start();
    }
    while (auto b = co_await child(0).next(ctx)) {
      if (!st.writer) {
        st.start();  // a rollback went back to before the first row and dropped the writer
      }
      st.writer->write(*b);
      st.rows_written = st.writer->rows_written();
      st.bytes_written = st.writer->bytes_written();
      ctx.progress().rows_out.store(st.rows_written, std::memory_order_relaxed);
    }
    if (!st.writer) {
      st.start();
    }
    st.writer->finish();
    st.bytes_written = st.writer->bytes_written();
    st.finished = true;
    st.writer.reset();
    ctx.progress().rows_out.store(st.rows_written, std::memory_order_relaxed);
  } catch (...) {
    // The exception ends the query or rolls it back. A plain temp file goes; a partial file stays
    // (with what was flushed) for a restored state to continue.
    if (st.writer) {
      st.writer->abort();
      st.writer.reset();
    }
    throw;
  }
  co_return std::nullopt;
}

}  // namespace ftq::exec
