#pragma once
/// Writes a header and then the live rows of batches as CSV into a temp file beside `out`;
/// finish() flushes, fsyncs and renames it onto `out`, so `out` either does not exist or holds
/// the whole result. An unfinished writer removes its temp file, or keeps it (keep_temp) for a
/// later writer to resume from a point whose bytes it made durable with flush() and sync().

#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string_view>

#include <ftq/batch.hpp>
#include <ftq/types.hpp>

namespace ftq::csv {

struct writer_options {
  // Bytes buffered before a write() call; larger means fewer syscalls, more memory.
  std::size_t buffer_bytes = std::size_t{4} << 20;
  // The file rows go to until finish(); empty: "<out>.tmp-<pid>", which no other process reuses.
  // A stable name lets a later process resume the file.
  std::filesystem::path temp_path;
  // Whether a writer that does not finish (aborted, failed, destroyed) keeps its temp file, for a
  // later writer to resume from, instead of removing it. Kept files are the caller's to remove.
  bool keep_temp = false;
};

/// A point of a writer's output: the first `bytes` bytes of the temp file (header included) hold
/// exactly `rows` rows.
struct resume_point {
  std::uint64_t bytes = 0;
  std::uint64_t rows = 0;
};

/// Whether `s` must be quoted to read back as itself: it contains ',', '"', CR or LF, starts or
/// ends with a space, or is empty (an unquoted empty field reads back as NULL).
bool needs_quotes(std::string_view s) noexcept;

class csv_writer {
 public:
  /// Creates the temp file (truncating one left over) and buffers the header built from `s`'s
  /// names. Throws ftq::io_error.
  csv_writer(std::filesystem::path out, schema s, writer_options options = {});
  /// Reopens the temp file another writer left, drops what it holds after `at.bytes` and continues
  /// there with `at.rows` rows counted. Throws ftq::io_error: with ENOENT when the file is missing,
  /// with errc::io_failed when it holds fewer than `at.bytes` bytes; the file is left as it was.
  csv_writer(std::filesystem::path out, schema s, resume_point at, writer_options options = {});
  /// Closes the temp file and removes it unless finish() succeeded or options.keep_temp.
  ~csv_writer();
  csv_writer(const csv_writer&) = delete;
  csv_writer& operator=(const csv_writer&) = delete;

  /// Appends the live rows of `b`, whose columns match the schema. Throws ftq::io_error (and after
  /// one, every later call throws it again).
  void write(const batch& b);
  /// Hands the buffered bytes to the kernel: a process killed afterwards leaves them in the file.
  /// Throws ftq::io_error.
  void flush();
  /// Makes the bytes flush() handed over durable (fdatasync; the first time also the directory
  /// entry of the file), so they survive a power loss. Blocks; call it from any one thread while
  /// nothing else uses the writer. Throws ftq::io_error.
  void sync();
  /// Goes back to an earlier point of this writer's own output (at.bytes <= bytes_written()):
  /// what follows it is dropped, from the buffer or the file. Throws ftq::io_error.
  void rewind(resume_point at);
  /// Flushes, fsyncs, renames the temp file onto the output path and fsyncs its directory:
  /// afterwards the result is on disk. Throws ftq::io_error (and then aborts).
  void finish();
  /// Stops writing and closes the temp file, removing it unless options.keep_temp; buffered bytes
  /// are dropped. Never throws.
  void abort() noexcept;

  std::uint64_t rows_written() const noexcept { return rows_; }
  /// Bytes written so far, header included (buffered bytes count).
  std::uint64_t bytes_written() const noexcept { return bytes_flushed_ + used_; }
  /// Bytes handed to the kernel so far.
  std::uint64_t bytes_flushed() const noexcept { return bytes_flushed_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::filesystem::path& path() const noexcept { return out_; }

 private:
  void put_header();
  void check_usable(const char* doing) const;
  void write_all(const char* data, std::size_t n);
  void put_string(std::string_view s);
  [[noreturn]] void fail(const char* doing);

  std::filesystem::path out_;
  std::filesystem::path temp_;
  schema schema_;
  bool keep_temp_ = false;
  int fd_ = -1;
  bool finished_ = false;
  bool aborted_ = false;
  bool dir_synced_ = false;  // the temp file's directory entry is durable
  std::exception_ptr failure_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  std::uint64_t bytes_flushed_ = 0;
  std::uint64_t rows_ = 0;
};

}  // namespace ftq::csv
