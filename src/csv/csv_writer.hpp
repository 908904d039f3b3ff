#pragma once
/// Writes a header and then the live rows of batches as CSV into `<out>.tmp-<pid>`; finish()
/// flushes, fsyncs and renames it onto `out`, so `out` either does not exist or holds the whole
/// result. A writer destroyed or aborted before finish() removes its temp file.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include <ftq/batch.hpp>
#include <ftq/types.hpp>

namespace ftq::csv {

struct writer_options {
  // Bytes buffered before a write() call; larger means fewer syscalls, more memory.
  std::size_t buffer_bytes = std::size_t{4} << 20;
};

/// Whether `s` must be quoted to read back as itself: it contains ',', '"', CR or LF, starts or
/// ends with a space, or is empty (an unquoted empty field reads back as NULL).
bool needs_quotes(std::string_view s) noexcept;

class csv_writer {
 public:
  /// Creates the temp file and buffers the header built from `s`'s names. Throws ftq::io_error.
  csv_writer(std::filesystem::path out, schema s, writer_options options = {});
  /// Removes the temp file unless finish() succeeded.
  ~csv_writer();
  csv_writer(const csv_writer&) = delete;
  csv_writer& operator=(const csv_writer&) = delete;

  /// Appends the live rows of `b`, whose columns match the schema. Throws ftq::io_error.
  void write(const batch& b);
  /// Flushes, fsyncs, renames the temp file onto the output path and fsyncs its directory:
  /// afterwards the result is on disk. Throws ftq::io_error (and then removes the temp file).
  void finish();
  /// Drops what was written and removes the temp file; never throws.
  void abort() noexcept;

  std::uint64_t rows_written() const noexcept { return rows_; }
  /// Bytes written so far, header included (buffered bytes count).
  std::uint64_t bytes_written() const noexcept { return bytes_flushed_ + used_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::filesystem::path& path() const noexcept { return out_; }

 private:
  void flush();
  void write_all(const char* data, std::size_t n);
  void put_string(std::string_view s);
  [[noreturn]] void fail(const char* doing);

  std::filesystem::path out_;
  std::filesystem::path temp_;
  schema schema_;
  int fd_ = -1;
  bool finished_ = false;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::uint64_t bytes_flushed_ = 0;
  std::uint64_t rows_ = 0;
};

}  // namespace ftq::csv
