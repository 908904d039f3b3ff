#include "csv/csv_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include <ftq/error.hpp>

#include "csv/number_format.hpp"

namespace ftq::csv {

namespace {

// Every cell but a string fits in this much room: a number and a separator.
constexpr std::size_t max_number_cell = max_number_chars + 1;

}  // namespace

bool needs_quotes(std::string_view s) noexcept {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') {
    return true;
  }
  for (char c : s) {
    if (c == ',' || c == '"' || c == '\n' || c == '\r') {
      return true;
    }
  }
  return false;
}

namespace {

std::filesystem::path temp_name(const std::filesystem::path& out, const writer_options& options) {
  if (!options.temp_path.empty()) {
    return options.temp_path;
  }
  std::filesystem::path temp = out;
  temp += ".tmp-" + std::to_string(::getpid());
  return temp;
}

/// fsyncs the directory holding `file`, so that a creation or rename in it survives a power loss.
void sync_directory_of(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  if (dir.empty()) {
    dir = ".";
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    throw io_error(dir.string(), std::error_code(errno, std::system_category()), "open directory");
  }
  const int rc = ::fsync(dfd);
  const std::error_code ec(errno, std::system_category());
  ::close(dfd);
  if (rc != 0) {
    throw io_error(dir.string(), ec, "fsync directory");
  }
}

}  // namespace

csv_writer::csv_writer(std::filesystem::path out, schema s, writer_options options)
    : out_(std::move(out)), schema_(std::move(s)), keep_temp_(options.keep_temp) {
  temp_ = temp_name(out_, options);
  capacity_ = std::max<std::size_t>(options.buffer_bytes, 4096);
  buffer_.reset(new char[capacity_]);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw io_error(temp_.string(), std::error_code(errno, std::system_category()), "create");
  }
  try {
    put_header();
  } catch (...) {
    abort();
    throw;
  }
}

csv_writer::csv_writer(std::filesystem::path out, schema s, resume_point at, writer_options options)
    : out_(std::move(out)), schema_(std::move(s)), keep_temp_(options.keep_temp) {
  temp_ = temp_name(out_, options);
  capacity_ = std::max<std::size_t>(options.buffer_bytes, 4096);
  buffer_.reset(new char[capacity_]);
  const int fd = ::open(temp_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    throw io_error(temp_.string(), std::error_code(errno, std::system_category()), "open to resume");
  }
  // Closes `fd` and throws; the file keeps what it held, for another attempt.
  const auto give_up = [&](std::error_code ec, const std::string& doing) {
    ::close(fd);
    throw io_error(temp_.string(), ec, doing);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    give_up(std::error_code(errno, std::system_category()), "stat to resume");
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < at.bytes) {
    give_up(make_error_code(errc::io_failed),
            "resume at byte " + std::to_string(at.bytes) + ": the file holds " + std::to_string(size) + " bytes");
  }
  // Bytes after the resume point were written after it was recorded: they are written again.
  if (size > at.bytes && ::ftruncate(fd, static_cast<off_t>(at.bytes)) != 0) {
    give_up(std::error_code(errno, std::system_category()), "truncate to resume");
  }
  if (::lseek(fd, static_cast<off_t>(at.bytes), SEEK_SET) < 0) {
    give_up(std::error_code(errno, std::system_category()), "seek to resume");
  }
  fd_ = fd;
  bytes_flushed_ = at.bytes;
  rows_ = at.rows;
  if (at.bytes == 0) {
    try {
      put_header();
    } catch (...) {
      abort();
      throw;
    }
  }
}

csv_writer::~csv_writer() {
  if (!finished_) {
    abort();
  }
}

void csv_writer::put_header() {
  for (std::size_t c = 0; c < schema_.size(); ++c) {
    put_string(schema_[c].name);
    buffer_[used_++] = c + 1 == schema_.size() ? '\n' : ',';
  }
}

void csv_writer::fail(const char* doing) {
  const std::error_code ec(errno, std::system_category());
  abort();
  failure_ = std::make_exception_ptr(io_error(temp_.string(), ec, doing));
  std::rethrow_exception(failure_);
}

void csv_writer::check_usable(const char* doing) const {
  if (failure_) {
    std::rethrow_exception(failure_);
  }
  if (fd_ < 0) {
    throw error(errc::internal, temp_.string() + ": " + doing + " after finish or abort");
  }
}

void csv_writer::write_all(const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd_, data, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("write");
    }
    data += w;
    n -= static_cast<std::size_t>(w);
    bytes_flushed_ += static_cast<std::uint64_t>(w);
  }
}

void csv_writer::flush() {
  if (used_ == 0) {
    return;
  }
  check_usable("flush");
  const std::size_t n = used_;
  used_ = 0;
  write_all(buffer_.get(), n);
}

void csv_writer::sync() {
  check_usable("sync");
  if (::fdatasync(fd_) != 0) {
    // After a failed fsync the kernel may have dropped the dirty pages: the file cannot be trusted.
    fail("fdatasync");
  }
  if (!dir_synced_) {
    sync_directory_of(temp_);
    dir_synced_ = true;
  }
}

void csv_writer::rewind(resume_point at) {
  check_usable("rewind");
  if (at.bytes > bytes_written()) {
    throw error(errc::internal, temp_.string() + ": rewind to byte " + std::to_string(at.bytes) + " of " +
                                    std::to_string(bytes_written()) + " written");
  }
  if (at.bytes >= bytes_flushed_) {
    used_ = static_cast<std::size_t>(at.bytes - bytes_flushed_);
  } else {
    used_ = 0;
    if (::ftruncate(fd_, static_cast<off_t>(at.bytes)) != 0) {
      fail("truncate");
    }
    if (::lseek(fd_, static_cast<off_t>(at.bytes), SEEK_SET) < 0) {
      fail("seek");
    }
    bytes_flushed_ = at.bytes;
  }
  rows_ = at.rows;
  if (at.bytes == 0) {
    put_header();
  }
}

/// Appends `s`, quoted if needed, and leaves room for at least one byte after it.
void csv_writer::put_string(std::string_view s) {
  const bool quote = needs_quotes(s);
  // Worst case: every byte a quote that doubles, two enclosing quotes, one separator after.
  const std::size_t worst = quote ? 2 * s.size() + 3 : s.size() + 1;
  if (capacity_ - used_ < worst) {
    flush();
    if (capacity_ < worst) {
      // Larger than the whole buffer: write it straight through.
      std::string text;
      if (quote) {
        text.reserve(2 * s.size() + 2);
        text += '"';
        for (char c : s) {
          text += c;
          if (c == '"') {
            text += '"';
          }
        }
        text += '"';
      } else {
        text.assign(s);
      }
      write_all(text.data(), text.size());
      return;
    }
  }
  char* p = buffer_.get() + used_;
  if (quote) {
    *p++ = '"';
    for (char c : s) {
      *p++ = c;
      if (c == '"') {
        *p++ = '"';
      }
    }
    *p++ = '"';
  } else {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  }
  used_ = static_cast<std::size_t>(p - buffer_.get());
}

void csv_writer::write(const batch& b) {
  check_usable("write");
  if (b.columns.size() != schema_.size()) {
    throw error(errc::internal, temp_.string() + ": batch has " + std::to_string(b.columns.size()) +
                                    " columns, the CSV schema " + std::to_string(schema_.size()));
  }
  const std::size_t ncols = b.columns.size();
  const std::size_t live = b.live_rows();
  for (std::size_t i = 0; i < live; ++i) {
    const std::uint32_t r = b.row_at(i);
    for (std::size_t c = 0; c < ncols; ++c) {
      const column& col = *b.columns[c];
      if (capacity_ - used_ < max_number_cell + 1) {
        flush();
      }
      if (!col.is_null(r)) {
        switch (col.type) {
          case type_id::int64:
          case type_id::boolean:
            used_ = static_cast<std::size_t>(write_int64(buffer_.get() + used_, col.ints[r]) - buffer_.get());
            break;
          case type_id::float64:
            used_ = static_cast<std::size_t>(write_double(buffer_.get() + used_, col.doubles[r]) - buffer_.get());
            break;
          case type_id::string:
            put_string(col.strings[r]);
            break;
        }
      }
      // put_string leaves room for one byte after the value.
      buffer_[used_++] = c + 1 == ncols ? '\n' : ',';
    }
  }
  rows_ += live;
}

void csv_writer::finish() {
  if (finished_) {
    return;
  }
  check_usable("finish");
  flush();
  if (::fsync(fd_) != 0) {
    fail("fsync");
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    fail("close");
  }
  if (::rename(temp_.c_str(), out_.c_str()) != 0) {
    const std::error_code ec(errno, std::system_category());
    abort();
    failure_ = std::make_exception_ptr(io_error(out_.string(), ec, "rename " + temp_.string() + " to"));
    std::rethrow_exception(failure_);
  }
  finished_ = true;
  // The rename is durable once the directory is synced.
  sync_directory_of(out_);
}

void csv_writer::abort() noexcept {
  if (finished_ || aborted_) {
    return;
  }
  aborted_ = true;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  used_ = 0;
  if (!keep_temp_) {
    ::unlink(temp_.c_str());
  }
}

}  // namespace ftq::csv
