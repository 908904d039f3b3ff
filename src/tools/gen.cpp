#include "tools/gen.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ftq/error.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tools/python_random.hpp"

namespace ftq::tools {

namespace {

using namespace std::chrono;

constexpr sys_days epoch{year{1992} / January / 1};
constexpr std::int64_t current_day = (sys_days{year{1995} / June / 17} - epoch).count();
// gen.py's ENDDATE - 151 days: the last order date, so every ship date stays in 1998.
constexpr std::int64_t max_orderdate = (sys_days{year{1998} / August / 2} - epoch).count();
// gen.py precomputes this many dates; ship dates reach at most max_orderdate + 121.
constexpr std::int64_t date_count = max_orderdate + 160;

constexpr std::array<std::string_view, 5> priorities = {"1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"};

constexpr std::string_view lineitem_header =
    "l_orderkey,l_partkey,l_quantity,l_extendedprice,l_discount,l_tax,l_returnflag,l_linestatus,"
    "l_shipdate\n";
constexpr std::string_view orders_header = "o_orderkey,o_custkey,o_orderpriority,o_totalprice\n";

constexpr char digit_pairs[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

// Writes v in decimal at p and returns the end; at most 20 bytes.
inline char* write_uint(char* p, std::uint64_t v) noexcept {
  char tmp[20];
  char* const end = tmp + sizeof tmp;
  char* q = end;
  while (v >= 100) {
    q -= 2;
    std::memcpy(q, digit_pairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    q -= 2;
    std::memcpy(q, digit_pairs + 2 * v, 2);
  } else {
    *--q = static_cast<char>('0' + v);
  }
  const auto n = static_cast<std::size_t>(end - q);
  std::memcpy(p, q, n);
  return p + n;
}

// Writes "<v/100>.<v%100 as two digits>", gen.py's "%d.%s" % (v // 100, cents2[v % 100]).
inline char* write_cents(char* p, std::uint64_t v) noexcept {
  p = write_uint(p, v / 100);
  *p++ = '.';
  std::memcpy(p, digit_pairs + 2 * (v % 100), 2);
  return p + 2;
}

// "YYYY-MM-DD" for each day since 1992-01-01, as gen.py's `dates` list.
std::vector<std::array<char, 10>> make_dates() {
  std::vector<std::array<char, 10>> dates(static_cast<std::size_t>(date_count));
  for (std::int64_t d = 0; d < date_count; ++d) {
    const year_month_day ymd{epoch + days{d}};
    const auto y = static_cast<unsigned>(static_cast<int>(ymd.year()));
    const auto m = static_cast<unsigned>(ymd.month());
    const auto dd = static_cast<unsigned>(ymd.day());
    auto& s = dates[static_cast<std::size_t>(d)];
    std::memcpy(s.data(), digit_pairs + 2 * (y / 100), 2);
    std::memcpy(s.data() + 2, digit_pairs + 2 * (y % 100), 2);
    s[4] = '-';
    std::memcpy(s.data() + 5, digit_pairs + 2 * m, 2);
    s[7] = '-';
    std::memcpy(s.data() + 8, digit_pairs + 2 * dd, 2);
  }
  return dates;
}

std::error_code last_error() { return {errno, std::system_category()}; }

// Appends to a big buffer and hands it to write(2) in chunks; every failure names the file.
class output_file {
 public:
  static constexpr std::size_t chunk_bytes = std::size_t{4} << 20;
  // Room reserve() guarantees; longer than any line gen writes (a lineitem line is < 120 bytes).
  static constexpr std::size_t max_line_bytes = 256;

  explicit output_file(std::filesystem::path path)
      : path_(std::move(path)), buffer_(new char[chunk_bytes + max_line_bytes]) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      throw io_error(path_.string(), last_error(), "open for writing");
    }
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (fd_ >= 0) {
      // Only reached when unwinding from an earlier error, which is the one worth reporting.
      static_cast<void>(::close(fd_));
    }
  }

  // Returns where to write the next line of at most max_line_bytes; commit() it afterwards.
  char* reserve() {
    if (used_ >= chunk_bytes) {
      flush();
    }
    return buffer_.get() + used_;
  }
  void commit(const char* end) noexcept { used_ = static_cast<std::size_t>(end - buffer_.get()); }

  void append(std::string_view s) {
    for (std::size_t done = 0; done < s.size();) {
      const std::size_t n = std::min(s.size() - done, max_line_bytes);
      char* p = reserve();
      std::memcpy(p, s.data() + done, n);
      commit(p + n);
      done += n;
    }
  }

  void close() {
    flush();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      throw io_error(path_.string(), last_error(), "close");
    }
  }

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  void flush() {
    const char* p = buffer_.get();
    std::size_t left = used_;
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        throw io_error(path_.string(), last_error(), "write");
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    used_ = 0;
  }

  std::filesystem::path path_;
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  int fd_ = -1;
};

struct counts {
  std::uint64_t lineitem_rows;
  std::uint64_t orders_rows;
};

// gen.py's generate(): the draw order below is the contract with the Python oracle.
counts write_tables(std::uint64_t rows, std::int64_t seed, std::int64_t parts, std::int64_t customers, output_file& li,
                    output_file& od) {
  python_random rng(seed);
  // int(rnd() * n) in Python: the int is converted to double, multiplied, truncated.
  auto draw = [&rng](double n) { return static_cast<std::int64_t>(rng.next_double() * n); };
  const double parts_d = static_cast<double>(parts);
  const double customers_d = static_cast<double>(customers);
  const double orderdate_range = static_cast<double>(max_orderdate + 1);
  const auto dates = make_dates();

  li.append(lineitem_header);
  od.append(orders_header);

  std::uint64_t written = 0;
  std::uint64_t i = 0;
  while (written < rows) {
    ++i;
    const std::uint64_t okey = ((i >> 3) << 5) | (i & 7);
    std::int64_t ck = 1 + draw(customers_d);
    while (ck % 3 == 0) {
      ck = 1 + draw(customers_d);
    }
    const std::int64_t odate = draw(orderdate_range);
    const std::string_view prio = priorities[static_cast<std::size_t>(draw(5.0))];
    auto nl = static_cast<std::uint64_t>(1 + draw(7.0));
    if (nl > rows - written) {
      nl = rows - written;
    }

    char prefix[24];
    char* const prefix_end = write_uint(prefix, okey);
    *prefix_end = ',';
    const auto prefix_len = static_cast<std::size_t>(prefix_end - prefix) + 1;

    std::int64_t total = 0;
    for (std::uint64_t line = 0; line < nl; ++line) {
      const std::int64_t pk = 1 + draw(parts_d);
      const std::int64_t q = 1 + draw(50.0);
      const std::int64_t disc = draw(11.0);
      const std::int64_t tax = draw(9.0);
      const std::int64_t sd = odate + 1 + draw(121.0);
      const std::int64_t rd = sd + 1 + draw(30.0);
      char flag = 'N';
      if (rd <= current_day) {
        flag = rng.next_double() < 0.5 ? 'R' : 'A';
      }
      const char status = sd > current_day ? 'O' : 'F';
      const std::int64_t ext = q * (90000 + ((pk / 10) % 20001) + 100 * (pk % 1000));
      total += (ext * (100 - disc) / 100) * (100 + tax) / 100;

      char* p = li.reserve();
      std::memcpy(p, prefix, prefix_len);
      p += prefix_len;
      p = write_uint(p, static_cast<std::uint64_t>(pk));
      *p++ = ',';
      p = write_uint(p, static_cast<std::uint64_t>(q));
      *p++ = ',';
      p = write_cents(p, static_cast<std::uint64_t>(ext));
      std::memcpy(p, ",0.", 3);
      std::memcpy(p + 3, digit_pairs + 2 * disc, 2);
      std::memcpy(p + 5, ",0.", 3);
      std::memcpy(p + 8, digit_pairs + 2 * tax, 2);
      p[10] = ',';
      p[11] = flag;
      p[12] = ',';
      p[13] = status;
      p[14] = ',';
      std::memcpy(p + 15, dates[static_cast<std::size_t>(sd)].data(), 10);
      p[25] = '\n';
      li.commit(p + 26);
    }

    char* p = od.reserve();
    std::memcpy(p, prefix, prefix_len);
    p += prefix_len;
    p = write_uint(p, static_cast<std::uint64_t>(ck));
    *p++ = ',';
    std::memcpy(p, prio.data(), prio.size());
    p += prio.size();
    *p++ = ',';
    p = write_cents(p, static_cast<std::uint64_t>(total));
    *p++ = '\n';
    od.commit(p);

    written += nl;
  }
  return {written, i};
}

}  // namespace

gen_result generate(const gen_options& opts) {
  if (opts.rows < 1) {
    throw std::invalid_argument("gen: rows must be >= 1");
  }
  const std::int64_t default_parts = static_cast<std::int64_t>(opts.rows / 4);
  const std::int64_t default_customers = static_cast<std::int64_t>(opts.rows / 40);
  const std::int64_t parts = opts.parts.value_or(std::max<std::int64_t>(1, default_parts));
  const std::int64_t customers = opts.customers.value_or(std::max<std::int64_t>(4, default_customers));
  if (parts < 1 || customers < 2) {
    throw std::invalid_argument("gen: parts must be >= 1 and customers >= 2 (got parts=" + std::to_string(parts) +
                                " customers=" + std::to_string(customers) + ")");
  }

  std::error_code ec;
  std::filesystem::create_directories(opts.out_dir, ec);
  if (ec) {
    throw io_error(opts.out_dir.string(), ec, "create output directory");
  }

  gen_result result;
  result.parts = parts;
  result.customers = customers;
  result.lineitem_path = opts.out_dir / "lineitem.csv";
  result.orders_path = opts.out_dir / "orders.csv";
  {
    output_file li(result.lineitem_path);
    output_file od(result.orders_path);
    const counts n = write_tables(opts.rows, opts.seed, parts, customers, li, od);
    li.close();
    od.close();
    result.lineitem_rows = n.lineitem_rows;
    result.orders_rows = n.orders_rows;
  }

  output_file params(opts.out_dir / "PARAMS");
  params.append("rows=" + std::to_string(opts.rows) + " seed=" + std::to_string(opts.seed) +
                " parts=" + std::to_string(parts) + " customers=" + std::to_string(customers) + " lineitem_rows=" +
                std::to_string(result.lineitem_rows) + " orders_rows=" + std::to_string(result.orders_rows) + "\n");
  params.close();
  return result;
}

}  // namespace ftq::tools
