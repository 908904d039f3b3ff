#include "exec/keys/row_order.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <numeric>

namespace ftq::exec::keys {

namespace {

constexpr std::uint64_t sign_bit = 1ULL << 63;
// Rows processed between two maybe_yield() calls in the long loops below.
constexpr std::size_t yield_chunk = 1 << 16;
// Below this many rows a comparison sort beats the radix passes.
constexpr std::size_t radix_min_rows = 2048;

struct keyed_row {
  std::uint64_t key;
  std::uint32_t row;
};

inline int compare_doubles(double x, double y) noexcept {
  if (x < y) {
    return -1;
  }
  if (x > y) {
    return 1;
  }
  if (x == y) {
    return 0;
  }
  // At least one NaN: NaN sorts above every number and equals itself.
  return static_cast<int>(std::isnan(x)) - static_cast<int>(std::isnan(y));
}

inline std::uint64_t normalize_double(double d) noexcept {
  if (d == 0.0) {
    d = 0.0;  // -0.0 equals 0.0
  }
  if (std::isnan(d)) {
    return ~std::uint64_t{0};
  }
  const auto bits = std::bit_cast<std::uint64_t>(d);
  return (bits & sign_bit) != 0 ? ~bits : bits | sign_bit;
}

// Big-endian first bytes, so unsigned word order is byte order. In short mode the low byte holds
// min(length, 8) after 7 bytes, which makes words of strings up to 7 bytes exact ("a" < "a\0" <
// "ab") and keeps the map monotone for longer ones.
inline std::uint64_t normalize_string(std::string_view s, bool short_strings) noexcept {
  std::uint64_t w = 0;
  const std::size_t take = std::min<std::size_t>(s.size(), short_strings ? 7 : 8);
  for (std::size_t b = 0; b < take; ++b) {
    w |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[b])) << (8 * (7 - b));
  }
  if (short_strings) {
    w |= std::min<std::size_t>(s.size(), 8);
  }
  return w;
}

boost::asio::awaitable<void> radix_sort(std::vector<keyed_row>& items, execution_context& ctx) {
  const std::size_t n = items.size();
  if (n < radix_min_rows) {
    std::sort(items.begin(), items.end(), [](const keyed_row& a, const keyed_row& b) {
      return a.key < b.key || (a.key == b.key && a.row < b.row);
    });
    co_return;
  }
  std::array<std::array<std::size_t, 256>, 8> hist{};
  for (std::size_t start = 0; start < n; start += yield_chunk) {
    const std::size_t end = std::min(n, start + yield_chunk);
    for (std::size_t i = start; i < end; ++i) {
      const std::uint64_t k = items[i].key;
      for (std::size_t d = 0; d < 8; ++d) {
        ++hist[d][(k >> (8 * d)) & 0xff];
      }
    }
    co_await ctx.yield_if_due();
  }
  std::vector<keyed_row> scratch(n);
  for (std::size_t d = 0; d < 8; ++d) {
    auto& h = hist[d];
    if (std::any_of(h.begin(), h.end(), [n](std::size_t c) { return c == n; })) {
      continue;  // every key has the same digit here
    }
    std::array<std::size_t, 256> next{};
    std::size_t sum = 0;
    for (std::size_t b = 0; b < 256; ++b) {
      next[b] = sum;
      sum += h[b];
    }
    const unsigned shift = static_cast<unsigned>(8 * d);
    for (std::size_t start = 0; start < n; start += yield_chunk) {
      const std::size_t end = std::min(n, start + yield_chunk);
      for (std::size_t i = start; i < end; ++i) {
        scratch[next[(items[i].key >> shift) & 0xff]++] = items[i];
      }
      co_await ctx.yield_if_due();
    }
    items.swap(scratch);
  }
}

}  // namespace

int compare_rows(const std::vector<order_key>& left, std::size_t a, const std::vector<order_key>& right, std::size_t b,
                 std::size_t first_key) {
  for (std::size_t k = first_key; k < left.size(); ++k) {
    const column& x = *left[k].values;
    const column& y = *right[k].values;
    const bool xn = x.is_null(a);
    const bool yn = y.is_null(b);
    if (xn || yn) {
      if (xn && yn) {
        continue;
      }
      return xn ? 1 : -1;  // NULLs last in either direction
    }
    int c = 0;
    switch (x.type) {
      case type_id::int64:
      case type_id::boolean:
        c = x.ints[a] < y.ints[b] ? -1 : (x.ints[a] > y.ints[b] ? 1 : 0);
        break;
      case type_id::float64:
        c = compare_doubles(x.doubles[a], y.doubles[b]);
        break;
      case type_id::string: {
        const int r = x.strings[a].compare(y.strings[b]);
        c = r < 0 ? -1 : (r > 0 ? 1 : 0);
        break;
      }
    }
    if (c != 0) {
      return left[k].descending ? -c : c;
    }
  }
  return 0;
}

bool normalize_key(const column& values, bool descending, std::size_t rows, std::vector<std::uint64_t>& out) {
  out.resize(rows);
  std::uint64_t* w = out.data();
  bool exact = true;
  switch (values.type) {
    case type_id::int64:
    case type_id::boolean: {
      const std::int64_t* v = values.ints.data();
      for (std::size_t i = 0; i < rows; ++i) {
        w[i] = static_cast<std::uint64_t>(v[i]) ^ sign_bit;
      }
      break;
    }
    case type_id::float64: {
      const double* v = values.doubles.data();
      for (std::size_t i = 0; i < rows; ++i) {
        w[i] = normalize_double(v[i]);
      }
      break;
    }
    case type_id::string: {
      const std::string_view* v = values.strings.data();
      // NULL slots may hold any view; never read through them.
      const bool nulls = values.has_nulls();
      std::size_t longest = 0;
      for (std::size_t i = 0; i < rows; ++i) {
        longest = std::max(longest, nulls && values.nulls[i] != 0 ? std::size_t{0} : v[i].size());
      }
      exact = longest <= 7;
      for (std::size_t i = 0; i < rows; ++i) {
        w[i] = nulls && values.nulls[i] != 0 ? 0 : normalize_string(v[i], exact);
      }
      break;
    }
  }
  if (descending) {
    for (std::size_t i = 0; i < rows; ++i) {
      w[i] = ~w[i];
    }
  }
  return exact;
}

std::uint64_t normalize_value(const column& values, std::size_t row, bool descending, bool exact) {
  std::uint64_t w = 0;
  switch (values.type) {
    case type_id::int64:
    case type_id::boolean:
      w = static_cast<std::uint64_t>(values.ints[row]) ^ sign_bit;
      break;
    case type_id::float64:
      w = normalize_double(values.doubles[row]);
      break;
    case type_id::string:
      w = normalize_string(values.strings[row], exact);
      break;
  }
  return descending ? ~w : w;
}

namespace {

// Orders rows that tie on the keys before `from`. When key `from` normalizes exactly, it is
// compared through precomputed words, and compare_rows only runs on ties of those.
class tie_breaker {
 public:
  tie_breaker(const std::vector<order_key>& keys, std::size_t from, std::size_t rows) : keys_(keys), from_(from) {
    if (from_ < keys_.size()) {
      by_words_ = normalize_key(*keys_[from_].values, keys_[from_].descending, rows, words_);
    }
  }

  bool operator()(std::uint32_t a, std::uint32_t b) const {
    if (from_ >= keys_.size()) {
      return false;
    }
    if (!by_words_) {
      return compare_rows(keys_, a, keys_, b, from_) < 0;
    }
    const column& c = *keys_[from_].values;
    const bool an = c.is_null(a);
    const bool bn = c.is_null(b);
    if (an != bn) {
      return bn;  // NULLs last
    }
    if (!an && words_[a] != words_[b]) {
      return words_[a] < words_[b];
    }
    return from_ + 1 < keys_.size() && compare_rows(keys_, a, keys_, b, from_ + 1) < 0;
  }

 private:
  const std::vector<order_key>& keys_;
  std::size_t from_;
  bool by_words_ = false;
  std::vector<std::uint64_t> words_;
};

// Splits rows into those with a non-NULL first key (with its word) and the NULL ones.
void split_nulls(const column& first, const std::vector<std::uint64_t>& words, std::vector<keyed_row>& items,
                 std::vector<std::uint32_t>& null_rows) {
  const std::size_t rows = words.size();
  items.reserve(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    if (first.is_null(r)) {
      null_rows.push_back(static_cast<std::uint32_t>(r));
    } else {
      items.push_back({words[r], static_cast<std::uint32_t>(r)});
    }
  }
}

// Stable-sorts each run of equal words in items[i, end) with `less`, stopping after about
// yield_chunk rows; returns where it stopped.
std::size_t refine_runs(const std::vector<keyed_row>& items, std::vector<std::uint32_t>& order, std::size_t i,
                        std::size_t end, const tie_breaker& less) {
  const std::size_t stop = std::min(end, i + yield_chunk);
  while (i < stop) {
    std::size_t j = i + 1;
    while (j < end && items[j].key == items[i].key) {
      ++j;
    }
    if (j - i > 1) {
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(j),
                       [&less](std::uint32_t a, std::uint32_t b) { return less(a, b); });
    }
    i = j;
  }
  return i;
}

}  // namespace

boost::asio::awaitable<std::vector<std::uint32_t>> sort_rows(const std::vector<order_key>& keys, std::size_t rows,
                                                             execution_context& ctx) {
  std::vector<std::uint32_t> order;
  if (keys.empty()) {
    order.resize(rows);
    std::iota(order.begin(), order.end(), std::uint32_t{0});
    co_return order;
  }
  const column& first = *keys[0].values;
  std::vector<keyed_row> items;
  std::vector<std::uint32_t> null_rows;
  bool exact = false;
  {
    std::vector<std::uint64_t> words;
    // Strings longer than 7 bytes normalize to a prefix only, so their ties need a full compare.
    exact = normalize_key(first, keys[0].descending, rows, words);
    split_nulls(first, words, items, null_rows);
  }
  co_await radix_sort(items, ctx);
  order.resize(rows);
  const std::size_t non_null = items.size();
  for (std::size_t i = 0; i < non_null; ++i) {
    order[i] = items[i].row;
  }
  std::copy(null_rows.begin(), null_rows.end(), order.begin() + static_cast<std::ptrdiff_t>(non_null));

  if (!exact || keys.size() > 1) {
    const tie_breaker less(keys, exact ? 1 : 0, rows);
    for (std::size_t i = 0; i < non_null;) {
      i = refine_runs(items, order, i, non_null, less);
      co_await ctx.yield_if_due();
    }
  }
  if (keys.size() > 1 && null_rows.size() > 1) {
    const tie_breaker less(keys, 1, rows);
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(non_null), order.end(),
                     [&less](std::uint32_t a, std::uint32_t b) { return less(a, b); });
  }
  co_return order;
}

}  // namespace ftq::exec::keys
