#include "csv/csv_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <ftq/error.hpp>

#include "csv/number_format.hpp"

namespace ftq::csv {

namespace {

// Bytes after the data of every buffer; the first holds a '\n' sentinel, so the field scan needs
// no bounds check: it stops at the sentinel, and the row loop then asks whether it was real.
// The scan reads 16 bytes at a time, so at least 16 more must be readable.
constexpr std::size_t buffer_padding = 64;
// First read for the header line; doubled until the line fits.
constexpr std::size_t header_read_bytes = 64 * 1024;
// Longest value quoted in an error message.
constexpr std::size_t max_shown_bytes = 64;

struct read_buffer {
  std::unique_ptr<char[]> bytes;
  std::size_t capacity = 0;  // usable bytes, padding not included

  explicit read_buffer(std::size_t cap) : bytes(new char[cap + buffer_padding]), capacity(cap) {}
};

/// One field's raw bytes, quotes included. begin == end is an unquoted empty field: NULL.
struct field_span {
  const char* begin;
  const char* end;
};

struct header_name {
  std::string name;
  std::size_t at;  // byte offset where the field starts
};

enum class row_status : std::uint8_t { complete, incomplete };

/// Returns the first ',', '\n' or '\r' at or after `p`. There must be one (the sentinel), and
/// 16 readable bytes after it (the buffer padding): the SSE2 loop reads whole 16-byte blocks.
inline const char* find_field_stop(const char* p) noexcept {
#if defined(__SSE2__)
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  for (;;) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, lf)), _mm_cmpeq_epi8(v, cr));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(hits));
    if (mask != 0) {
      return p + __builtin_ctz(mask);
    }
    p += 16;
  }
#else
  while (*p != ',' && *p != '\n' && *p != '\r') {
    ++p;
  }
  return p;
#endif
}

std::uint64_t count_newlines(const char* first, const char* last) noexcept {
  std::uint64_t n = 0;
  while (first < last) {
    const void* hit = std::memchr(first, '\n', static_cast<std::size_t>(last - first));
    if (hit == nullptr) {
      break;
    }
    ++n;
    first = static_cast<const char*>(hit) + 1;
  }
  return n;
}

struct field_count {
  std::size_t fields = 1;
  bool line_ended = false;  // false: the count stopped at `end`, the row may go on
};

/// Counts the fields of the row starting at `p`, for a wrong-field-count message.
field_count count_fields(const char* p, const char* end) noexcept {
  field_count count;
  bool quoted = false;
  for (; p < end; ++p) {
    if (*p == '"') {
      quoted = !quoted;  // "" toggles twice
    } else if (!quoted && *p == ',') {
      ++count.fields;
    } else if (!quoted && *p == '\n') {
      count.line_ended = true;
      break;
    }
  }
  return count;
}

std::string shown(const char* first, const char* last) {
  const std::size_t n = static_cast<std::size_t>(last - first);
  std::string out = "\"";
  out.append(first, std::min(n, max_shown_bytes));
  if (n > max_shown_bytes) {
    out += "...";
  }
  out += '"';
  return out;
}

}  // namespace

struct csv_reader::impl {
  std::string file;  // as given, for messages
  schema file_schema;
  std::vector<std::size_t> columns;
  schema output;
  reader_options options;

  int fd = -1;
  std::uint64_t size = 0;
  std::uint64_t first_row_offset = 0;
  std::uint64_t first_row_line = 1;
  reader_position position;
  bool done = false;

  // The read window: [cursor, data_end) is unparsed data of `current`, whose first byte is file
  // byte `buffer_offset`; `line` is the physical line on which the row at `cursor` starts.
  std::shared_ptr<read_buffer> current;
  std::shared_ptr<read_buffer> spare;  // the previous buffer, reused once no batch holds it
  const char* cursor = nullptr;
  const char* data_end = nullptr;
  std::uint64_t buffer_offset = 0;
  std::uint64_t read_offset = 0;  // next file byte to read
  bool eof = false;               // no file bytes beyond data_end
  std::uint64_t line = 1;

  // Tokens of the batch being built: one span per needed field per row, plus where each row
  // starts (for error positions) and which buffers its rows live in.
  std::vector<std::vector<field_span>> spans;  // per distinct needed file column
  std::vector<field_span*> span_out;           // per file column; nullptr: scanned over
  std::vector<std::size_t> span_slot;          // per file column: index into spans
  std::vector<const char*> row_starts;
  std::vector<std::uint64_t> row_lines;
  std::vector<std::shared_ptr<read_buffer>> batch_buffers;

  impl(std::filesystem::path path, schema fs, std::vector<std::size_t> cols, reader_options opts)
      : file(path.string()), file_schema(std::move(fs)), columns(std::move(cols)), options(opts) {
    if (options.batch_rows == 0) {
      options.batch_rows = 1;
    }
    options.chunk_bytes = std::max<std::size_t>(options.chunk_bytes, 64);
  }

  ~impl() {
    if (fd >= 0) {
      ::close(fd);
    }
  }

  [[noreturn]] void fail_io(const char* doing) const {
    throw io_error(file, std::error_code(errno, std::system_category()), doing);
  }

  /// Throws a csv_error for byte `at` of the row that starts at `row` on line `row_line`.
  [[noreturn]] void fail_at(const char* row, std::uint64_t row_line, const char* at, const std::string& message) const {
    std::uint64_t line_no = row_line;
    const char* line_start = row;
    for (const char* p = row; p < at; ++p) {
      if (*p == '\n') {
        ++line_no;
        line_start = p + 1;
      }
    }
    throw csv_error(file, line_no, static_cast<std::uint64_t>(at - line_start) + 1, message);
  }

  std::string column_label(std::size_t file_column) const {
    const field& f = file_schema[file_column];
    return "column '" + f.name + "' (" + std::string(type_name(f.type)) + ")";
  }

  void open() {
    for (const field& f : file_schema.fields()) {
      if (f.type == type_id::boolean) {
        throw error(errc::internal,
                    file + ": CSV column '" + f.name + "' is boolean; CSV columns are int64, float64 or string");
      }
    }
    span_slot.assign(file_schema.size(), 0);
    std::vector<bool> needed(file_schema.size(), false);
    for (std::size_t c : columns) {
      if (c >= file_schema.size()) {
        throw error(errc::internal, file + ": column index " + std::to_string(c) + " out of range for a schema of " +
                                        std::to_string(file_schema.size()) + " columns");
      }
      output.push_back(file_schema[c]);
      if (!needed[c]) {
        needed[c] = true;
        span_slot[c] = spans.size();
        spans.emplace_back(options.batch_rows);
      }
    }
    span_out.assign(file_schema.size(), nullptr);
    for (std::size_t c = 0; c < file_schema.size(); ++c) {
      if (needed[c]) {
        span_out[c] = spans[span_slot[c]].data();
      }
    }
    row_starts.resize(options.batch_rows);
    row_lines.resize(options.batch_rows);

    fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      fail_io("open");
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      fail_io("stat");
    }
    size = static_cast<std::uint64_t>(st.st_size);
    // Only a hint; a failure changes nothing but speed.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    read_header();
  }

  /// Reads up to `want` bytes at read_offset into `dst` (stopping at the size seen at open).
  std::size_t read_into(char* dst, std::size_t want) {
    want = static_cast<std::size_t>(std::min<std::uint64_t>(want, size - std::min(size, read_offset)));
    std::size_t got = 0;
    while (got < want) {
      const ssize_t n = ::pread(fd, dst + got, want - got, static_cast<off_t>(read_offset + got));
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        fail_io("read");
      }
      if (n == 0) {
        eof = true;  // the file shrank since it was opened
        break;
      }
      got += static_cast<std::size_t>(n);
    }
    read_offset += got;
    if (read_offset >= size) {
      eof = true;
    }
    return got;
  }

  void read_header() {
    std::string text;
    std::size_t want = header_read_bytes;
    for (;;) {
      text.resize(static_cast<std::size_t>(std::min<std::uint64_t>(want, size)));
      read_offset = 0;
      eof = false;
      text.resize(read_into(text.data(), text.size()));
      if (parse_header(text)) {
        break;
      }
      want *= 2;
    }
    eof = false;
    read_offset = first_row_offset;
  }

  /// Parses and checks the header line in `text`; false if it needs more bytes than `text`.
  bool parse_header(const std::string& text) {
    const std::size_t n = text.size();
    if (n == 0 && eof) {
      throw csv_error(file, 1, 1, "missing header line (the file is empty)");
    }
    std::size_t i = 0;
    if (n >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) {
      i = 3;  // UTF-8 byte order mark
    }
    std::vector<header_name> names;
    std::size_t fields_end = 0;  // where the line terminator starts
    for (;;) {
      const std::size_t start = i;
      std::string name;
      if (i < n && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= n) {
            if (!eof) {
              return false;
            }
            fail_header(text, start, "header: unterminated quoted field");
          }
          if (text[i] == '"') {
            if (i + 1 < n && text[i + 1] == '"') {
              name += '"';
              i += 2;
              continue;
            }
            if (i + 1 >= n && !eof) {
              return false;
            }
            ++i;
            break;
          }
          name += text[i++];
        }
      } else {
        while (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
          name += text[i++];
        }
      }
      names.push_back({std::move(name), start});
      fields_end = i;
      if (i >= n) {
        if (!eof) {
          return false;
        }
        break;
      }
      if (text[i] == ',') {
        ++i;
        continue;
      }
      if (text[i] == '\n') {
        ++i;
        break;
      }
      if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') {
        i += 2;
        break;
      }
      if (text[i] == '\r' && i + 1 >= n) {
        if (!eof) {
          return false;
        }
        ++i;
        break;
      }
      fail_header(text, i, "header: unexpected character after a field");
    }
    check_header(text, names, fields_end);
    first_row_offset = i;
    first_row_line = 1 + count_newlines(text.data(), text.data() + i);
    return true;
  }

  [[noreturn]] void fail_header(const std::string& text, std::size_t at, const std::string& message) const {
    const std::size_t nl = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
    const std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
    throw csv_error(file, 1 + count_newlines(text.data(), text.data() + at), at - line_start + 1, message);
  }

  void check_header(const std::string& text, const std::vector<header_name>& names, std::size_t fields_end) const {
    const std::size_t common = std::min(names.size(), file_schema.size());
    for (std::size_t k = 0; k < common; ++k) {
      if (names[k].name != file_schema[k].name) {
        fail_header(text, names[k].at,
                    "header column " + std::to_string(k + 1) + ": expected '" + file_schema[k].name + "', found '" +
                        names[k].name + "'");
      }
    }
    if (names.size() != file_schema.size()) {
      const std::size_t at = names.size() > file_schema.size() ? names[file_schema.size()].at : fields_end;
      fail_header(text, at,
                  "header has " + std::to_string(names.size()) + " columns, expected " +
                      std::to_string(file_schema.size()) + " (" + file_schema.names_joined() + ")");
    }
  }

  void start_at(std::optional<reader_position> start) {
    if (start) {
      if (start->offset < first_row_offset || start->offset > size || start->line < first_row_line) {
        throw error(errc::internal, file + ": cannot resume at byte " + std::to_string(start->offset) + ", line " +
                                        std::to_string(start->line) + " (data starts at byte " +
                                        std::to_string(first_row_offset) + ", file has " + std::to_string(size) +
                                        " bytes)");
      }
      position = *start;
    } else {
      position = {first_row_offset, first_row_line, 0};
    }
    read_offset = position.offset;
    buffer_offset = position.offset;
    line = position.line;
    eof = read_offset >= size;
  }

  /// Moves the unparsed tail of the current buffer to the front of a fresh one and fills the
  /// rest from the file. The old buffer stays alive as long as batches point into it.
  void refill() {
    const std::size_t tail = static_cast<std::size_t>(data_end - cursor);
    std::size_t cap = options.chunk_bytes;
    if (current) {
      cap = std::max(cap, current->capacity);
    }
    while (cap - tail < cap / 2) {
      cap *= 2;  // a row longer than half a buffer: grow so every refill reads a lot
    }
    std::shared_ptr<read_buffer> next;
    if (spare && spare.use_count() == 1 && spare->capacity >= cap) {
      next = std::move(spare);
    } else {
      next = std::make_shared<read_buffer>(cap);
    }
    if (tail > 0) {
      std::memcpy(next->bytes.get(), cursor, tail);
    }
    buffer_offset = read_offset - tail;
    const std::size_t got = read_into(next->bytes.get() + tail, next->capacity - tail);
    // The sentinel, then defined bytes for the 16-byte loads of find_field_stop to read.
    next->bytes[tail + got] = '\n';
    std::memset(next->bytes.get() + tail + got + 1, 0, 16);
    spare = std::move(current);
    current = std::move(next);
    cursor = current->bytes.get();
    data_end = cursor + tail + got;
  }

  [[noreturn]] void fail_field_count(const char* row, std::uint64_t row_line, const char* at, std::size_t found) const {
    fail_at(row, row_line, at,
            "expected " + std::to_string(file_schema.size()) + " fields, found " + std::to_string(found));
  }

  /// Tokenizes one row starting at `p`. On `complete`, `p` is past its line end and `ln` is the
  /// line after it; on `incomplete` (the buffer ends inside the row) both are unspecified.
  row_status tokenize_row(const char*& p, std::uint64_t& ln, std::size_t r) const {
    const char* const end = data_end;
    const char* const row = p;
    const std::uint64_t row_line = ln;
    const std::size_t ncols = file_schema.size();
    field_span* const* const out = span_out.data();
    for (std::size_t j = 0;; ++j) {
      const char* const f = p;
      if (*p == '"') {
        const char* q = p + 1;
        for (;;) {
          const auto* hit = static_cast<const char*>(std::memchr(q, '"', static_cast<std::size_t>(end - q)));
          if (hit == nullptr) {
            if (eof) {
              fail_at(row, row_line, f, column_label(j) + ": unterminated quoted field");
            }
            return row_status::incomplete;
          }
          if (hit + 1 < end) {
            if (hit[1] == '"') {
              q = hit + 2;
              continue;
            }
          } else if (!eof) {
            return row_status::incomplete;  // cannot tell "" from a closing quote yet
          }
          p = hit + 1;
          break;
        }
        ln += count_newlines(f, p);
        if (*p != ',' && *p != '\n' && !(*p == '\r' && (p + 1 >= end || p[1] == '\n'))) {
          fail_at(row, row_line, p, column_label(j) + ": unexpected character after closing quote");
        }
      } else {
        p = find_field_stop(p);
        while (*p == '\r' && p + 1 < end && p[1] != '\n') {
          p = find_field_stop(p + 1);  // a lone CR is data
        }
      }
      if (field_span* const dst = out[j]) {
        dst[r] = {f, p};
      }
      if (*p == ',') {
        if (j + 1 == ncols) {
          const field_count found = count_fields(row, end);
          if (!found.line_ended && !eof) {
            return row_status::incomplete;  // read the whole row first, to count its fields
          }
          fail_field_count(row, row_line, p + 1, found.fields);
        }
        ++p;
        continue;
      }
      // At a line end: LF, CRLF, a CR that ends the buffer, or the sentinel.
      const char* const line_end = p;
      if (p >= end || (*p == '\r' && p + 1 >= end)) {
        if (!eof) {
          return row_status::incomplete;
        }
        p = end;
      } else {
        p += *p == '\r' ? 2 : 1;
      }
      if (j + 1 != ncols) {
        fail_field_count(row, row_line, line_end, j + 1);
      }
      ++ln;
      return row_status::complete;
    }
  }

  /// Tokenizes up to `max_rows` rows from `cursor` into rows first_row, ... of the batch.
  /// Stops early when the buffer ends (inside a row or not); returns the rows tokenized.
  std::size_t tokenize(std::size_t first_row, std::size_t max_rows) {
    const char* p = cursor;
    std::uint64_t ln = line;
    std::size_t r = first_row;
    const std::size_t last_row = first_row + max_rows;
    while (r < last_row && p < data_end) {
      const char* const row = p;
      const std::uint64_t row_line = ln;
      if (tokenize_row(p, ln, r) == row_status::incomplete) {
        p = row;
        ln = row_line;
        break;
      }
      row_starts[r] = row;
      row_lines[r] = row_line;
      ++r;
    }
    cursor = p;
    line = ln;
    return r - first_row;
  }

  [[noreturn]] void fail_value(std::size_t r, std::size_t file_column, const field_span& s, parse_status status) const {
    const bool quoted = *s.begin == '"';
    const char* b = quoted ? s.begin + 1 : s.begin;
    const char* e = quoted ? s.end - 1 : s.end;
    std::string message = column_label(file_column) + ": ";
    if (status == parse_status::out_of_range) {
      message += "value " + shown(b, e) + " is out of range";
    } else {
      message += "cannot parse " + shown(b, e);
      if (b == e) {
        message += " (an empty quoted string is not NULL)";
      }
    }
    fail_at(row_starts[r], row_lines[r], s.begin, message);
  }

  // Parses a numeric column (int64 into col.ints, float64 into col.doubles); an empty field is
  // NULL, a quoted number is accepted, anything else fails with file:line:column.
  template <class T, class Parse>
  void convert_numbers(std::vector<T>& values, column& col, const field_span* s, std::size_t rows, std::size_t fc,
                       Parse parse) const {
    values.resize(rows);
    T* const v = values.data();
    for (std::size_t r = 0; r < rows; ++r) {
      const char* b = s[r].begin;
      const char* e = s[r].end;
      if (b == e) {
        v[r] = 0;
        col.set_null(r);
        continue;
      }
      if (*b == '"') {
        ++b;
        --e;
      }
      const parse_status st = parse(b, e, v[r]);
      if (st != parse_status::ok) {
        fail_value(r, fc, s[r], st);
      }
    }
  }

  void convert_string(column& col, const field_span* s, std::size_t rows) const {
    col.strings.resize(rows);
    std::string_view* const v = col.strings.data();
    std::shared_ptr<string_arena> arena;
    std::string unescaped;
    for (std::size_t r = 0; r < rows; ++r) {
      const char* b = s[r].begin;
      const char* e = s[r].end;
      if (b == e) {
        col.set_null(r);
        continue;
      }
      if (*b != '"') {
        v[r] = std::string_view(b, static_cast<std::size_t>(e - b));
        continue;
      }
      ++b;
      --e;
      if (std::memchr(b, '"', static_cast<std::size_t>(e - b)) == nullptr) {
        v[r] = std::string_view(b, static_cast<std::size_t>(e - b));
        continue;
      }
      unescaped.clear();
      for (const char* p = b; p < e; ++p) {
        unescaped += *p;
        if (*p == '"') {
          ++p;  // the second quote of ""
        }
      }
      if (!arena) {
        arena = std::make_shared<string_arena>();
      }
      v[r] = arena->add(unescaped);
    }
    for (const auto& buffer : batch_buffers) {
      col.keep_alive(buffer);
    }
    if (arena) {
      col.keep_alive(std::move(arena));
    }
  }

  batch convert(std::size_t rows) const {
    batch out;
    out.rows = rows;
    out.columns.reserve(columns.size());
    for (std::size_t fc : columns) {
      const type_id type = file_schema[fc].type;
      const field_span* s = spans[span_slot[fc]].data();
      auto col = std::make_shared<column>(type);
      switch (type) {
        case type_id::int64:
          convert_numbers(col->ints, *col, s, rows, fc,
                          [](const char* b, const char* e, std::int64_t& out) { return parse_int64(b, e, out); });
          break;
        case type_id::float64:
          convert_numbers(col->doubles, *col, s, rows, fc,
                          [](const char* b, const char* e, double& out) { return parse_double(b, e, out); });
          break;
        case type_id::string:
          convert_string(*col, s, rows);
          break;
        case type_id::boolean:
          break;  // rejected in open()
      }
      out.columns.push_back(std::move(col));
    }
    return out;
  }

  std::optional<batch> next() {
    if (done) {
      return std::nullopt;
    }
    const std::size_t want = options.batch_rows;
    std::size_t rows = 0;
    batch_buffers.clear();
    while (rows < want) {
      const std::size_t got = tokenize(rows, want - rows);
      if (got > 0 && (batch_buffers.empty() || batch_buffers.back() != current)) {
        batch_buffers.push_back(current);
      }
      rows += got;
      if (rows == want || (eof && cursor == data_end)) {
        break;
      }
      refill();
    }
    if (rows == 0) {
      done = true;
      current.reset();
      spare.reset();
      cursor = data_end = nullptr;
      return std::nullopt;
    }
    batch out = convert(rows);
    batch_buffers.clear();
    position = {buffer_offset + static_cast<std::uint64_t>(cursor - current->bytes.get()), line, position.rows + rows};
    return out;
  }
};

csv_reader::csv_reader(std::filesystem::path file, schema file_schema, std::vector<std::size_t> columns,
                       reader_options options, std::optional<reader_position> start)
    : impl_(std::make_unique<impl>(std::move(file), std::move(file_schema), std::move(columns), options)) {
  impl_->open();
  impl_->start_at(start);
}

csv_reader::~csv_reader() = default;

std::optional<batch> csv_reader::next() { return impl_->next(); }

const reader_position& csv_reader::position() const noexcept { return impl_->position; }

std::uint64_t csv_reader::file_size() const noexcept { return impl_->size; }

std::uint64_t csv_reader::data_offset() const noexcept { return impl_->first_row_offset; }

const schema& csv_reader::output_schema() const noexcept { return impl_->output; }

}  // namespace ftq::csv
