#pragma once
/// Reads a CSV file (RFC 4180, header line required) typed by a schema and produces batches of
/// `batch_rows` rows holding the requested columns; finishes when the file is exhausted. String
/// values are views into the read buffers, which the batches keep alive. Its position between
/// batches (byte offset, line, rows) lets a new reader resume exactly where an old one stopped.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ftq/batch.hpp>
#include <ftq/types.hpp>

namespace ftq::csv {

/// Where the next batch starts. Only meaningful between batches, where it is all a reader needs
/// to resume (the read buffers are a cache of the file, rebuilt from the offset).
struct reader_position {
  std::uint64_t offset = 0;  // byte offset of the next row's first byte
  std::uint64_t line = 1;    // 1-based physical line on which that row starts
  std::uint64_t rows = 0;    // data rows emitted before it

  friend bool operator==(const reader_position&, const reader_position&) = default;
};

struct reader_options {
  // Rows per batch; only the last batch is shorter. Batches never depend on chunk_bytes.
  std::size_t batch_rows = default_batch_rows;
  // Bytes per read() call. The read runs on the query's thread, which an embedding service
  // shares: 1 MiB from the page cache takes about 0.2 ms, 16 MiB (fewer syscalls, no faster
  // overall) stalled other handlers for 3-5 ms. String columns keep whole buffers alive, so
  // smaller chunks also pin less memory. A row longer than half of this grows the buffer.
  std::size_t chunk_bytes = std::size_t{1} << 20;
};

class csv_reader {
 public:
  /// Opens `file` and checks that its header names `file_schema`'s columns in order. Output
  /// column i is file column `columns[i]`; other columns are scanned over, not converted.
  /// Lenient where RFC 4180 is silent on recovery: a '"' inside an unquoted field and a CR not
  /// followed by LF are data; a UTF-8 byte order mark before the header is skipped.
  /// Reading starts at `start` (a position an earlier reader reported), else after the header.
  /// Throws ftq::io_error if the file cannot be read, ftq::csv_error for a bad header.
  csv_reader(std::filesystem::path file, schema file_schema, std::vector<std::size_t> columns,
             reader_options options = {}, std::optional<reader_position> start = std::nullopt);
  ~csv_reader();
  csv_reader(const csv_reader&) = delete;
  csv_reader& operator=(const csv_reader&) = delete;

  /// Produces the next batch (rows > 0), or nullopt once the file is exhausted and on every call
  /// after that. Throws ftq::csv_error (file:line:column) for malformed data.
  std::optional<batch> next();

  /// Position after the last batch returned (before the first one: the start position).
  const reader_position& position() const noexcept;
  /// Size of the file in bytes when it was opened.
  std::uint64_t file_size() const noexcept;
  /// Byte offset of the first data row (just past the header line).
  std::uint64_t data_offset() const noexcept;
  /// The requested columns, in output order.
  const schema& output_schema() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ftq::csv
