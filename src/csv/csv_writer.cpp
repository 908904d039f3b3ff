#include "csv/csv_writer.hpp"

#include <fcntl.h>
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

csv_writer::csv_writer(std::filesystem::path out, schema s, writer_options options)
    : out_(std::move(out)), schema_(std::move(s)) {
  temp_ = out_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  capacity_ = std::max<std::size_t>(options.buffer_bytes, 4096);
  buffer_.reset(new char[capacity_]);
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw io_error(temp_.string(), std::error_code(errno, std::system_category()), "create");
  }
  for (std::size_t c = 0; c < schema_.size(); ++c) {
    put_string(schema_[c].name);
    buffer_[used_++] = c + 1 == schema_.size() ? '\n' : ',';
  }
}

csv_writer::~csv_writer() {
  if (!finished_) {
    abort();
  }
}

void csv_writer::fail(const char* doing) {
  const std::error_code ec(errno, std::system_category());
  abort();
  throw io_error(temp_.string(), ec, doing);
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
  if (used_ > 0) {
    const std::size_t n = used_;
    used_ = 0;
    write_all(buffer_.get(), n);
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
  if (fd_ < 0) {
    throw error(errc::internal, temp_.string() + ": write after finish or abort");
  }
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
  if (fd_ < 0) {
    throw error(errc::internal, temp_.string() + ": finish after abort");
  }
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
    throw io_error(out_.string(), ec, "rename " + temp_.string() + " to");
  }
  finished_ = true;
  // The rename is durable once the directory is synced.
  std::filesystem::path dir = out_.parent_path();
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

void csv_writer::abort() noexcept {
  if (finished_) {
    return;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  used_ = 0;
  ::unlink(temp_.c_str());
}

}  // namespace ftq::csv
