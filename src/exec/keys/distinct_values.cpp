#include "exec/keys/distinct_values.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace ftq::exec::keys {

namespace {

__extension__ using int128 = __int128;

int128 floor64(int128 x) {
  const int128 q = x >= 0 ? x / 64 : -((-x + 63) / 64);
  return q * 64;
}

int128 ceil64(int128 x) { return -floor64(-x); }

std::vector<type_id> table_types(type_id value_type, bool grouped) {
  if (grouped) {
    return {type_id::int64, value_type};
  }
  return {value_type};
}

}  // namespace

distinct_values::distinct_values(type_id value_type, bool grouped)
    : type_(value_type),
      grouped_(grouped),
      bitmap_(value_type == type_id::int64 && !grouped),
      table_(table_types(value_type, grouped)),
      value_scratch_(value_type) {}

void distinct_values::add(const column& values, const std::uint32_t* group_ids, std::size_t rows) {
  if (bitmap_) {
    const std::int64_t* v = values.ints.data();
    const std::uint8_t* nulls = values.has_nulls() ? values.nulls.data() : nullptr;
    std::int64_t lo = std::numeric_limits<std::int64_t>::max();
    std::int64_t hi = std::numeric_limits<std::int64_t>::min();
    if (nulls == nullptr) {
      for (std::size_t i = 0; i < rows; ++i) {
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
    } else {
      for (std::size_t i = 0; i < rows; ++i) {
        if (nulls[i] == 0) {
          lo = std::min(lo, v[i]);
          hi = std::max(hi, v[i]);
        }
      }
    }
    if (lo > hi) {
      return;  // only NULLs
    }
    if (fit_bitmap(lo, hi)) {
      std::uint64_t* bits = bits_.data();
      const auto base = static_cast<std::uint64_t>(base_);
      for (std::size_t i = 0; i < rows; ++i) {
        if (nulls != nullptr && nulls[i] != 0) {
          continue;
        }
        const std::uint64_t off = static_cast<std::uint64_t>(v[i]) - base;
        bits[off >> 6] |= std::uint64_t{1} << (off & 63);
      }
      return;
    }
  }
  add_to_table(values, group_ids, rows);
}

bool distinct_values::fit_bitmap(std::int64_t lo, std::int64_t hi) {
  const int128 need_lo = lo;
  const int128 need_hi = static_cast<int128>(hi) + 1;
  const auto limit = static_cast<int128>(max_bitmap_range);
  if (bits_.empty()) {
    const int128 a = floor64(need_lo);
    const int128 b = ceil64(need_hi);
    if (b - a > limit) {
      bitmap_ = false;
      return false;
    }
    base_ = static_cast<std::int64_t>(a);
    bits_.assign(static_cast<std::size_t>((b - a) / 64), 0);
    return true;
  }
  const int128 cur_lo = base_;
  const int128 cur_hi = cur_lo + 64 * static_cast<int128>(bits_.size());
  if (need_lo >= cur_lo && need_hi <= cur_hi) {
    return true;
  }
  const int128 span = cur_hi - cur_lo;
  int128 want_lo = std::min(need_lo, cur_lo);
  int128 want_hi = std::max(need_hi, cur_hi);
  // Grow at least twofold, so data that widens a little per batch is not copied per batch.
  int128 a = floor64(want_lo < cur_lo ? std::min(want_lo, cur_lo - span) : want_lo);
  int128 b = ceil64(want_hi > cur_hi ? std::max(want_hi, cur_hi + span) : want_hi);
  a = std::max(a, static_cast<int128>(std::numeric_limits<std::int64_t>::min()));
  if (b - a > limit) {
    a = floor64(want_lo);
    b = ceil64(want_hi);
    if (b - a > limit) {
      spill_bitmap();
      return false;
    }
  }
  std::vector<std::uint64_t> grown(static_cast<std::size_t>((b - a) / 64), 0);
  const auto shift = static_cast<std::size_t>((cur_lo - a) / 64);
  std::copy(bits_.begin(), bits_.end(), grown.begin() + static_cast<std::ptrdiff_t>(shift));
  bits_.swap(grown);
  base_ = static_cast<std::int64_t>(a);
  return true;
}

void distinct_values::spill_bitmap() {
  bitmap_ = false;
  column chunk(type_id::int64);
  constexpr std::size_t chunk_rows = 1 << 16;
  const auto flush = [&] {
    table_.insert({&chunk}, chunk.ints.size(), ids_);
    chunk.ints.clear();
  };
  for (std::size_t w = 0; w < bits_.size(); ++w) {
    std::uint64_t word = bits_[w];
    while (word != 0) {
      const int b = std::countr_zero(word);
      word &= word - 1;
      const std::uint64_t value = static_cast<std::uint64_t>(base_) + 64 * w + static_cast<std::uint64_t>(b);
      chunk.ints.push_back(static_cast<std::int64_t>(value));
      if (chunk.ints.size() == chunk_rows) {
        flush();
      }
    }
  }
  if (!chunk.ints.empty()) {
    flush();
  }
  bits_ = {};
}

void distinct_values::add_to_table(const column& values, const std::uint32_t* group_ids, std::size_t rows) {
  const column* vals = &values;
  std::size_t n = rows;
  if (values.has_nulls()) {
    // Keep the non-NULL rows only: NULL is no value to count.
    value_scratch_.ints.clear();
    value_scratch_.doubles.clear();
    value_scratch_.strings.clear();
    group_scratch_.ints.clear();
    for (std::size_t i = 0; i < rows; ++i) {
      if (values.nulls[i] != 0) {
        continue;
      }
      switch (type_) {
        case type_id::int64:
        case type_id::boolean:
          value_scratch_.ints.push_back(values.ints[i]);
          break;
        case type_id::float64:
          value_scratch_.doubles.push_back(values.doubles[i]);
          break;
        case type_id::string:
          value_scratch_.strings.push_back(values.strings[i]);
          break;
      }
      if (grouped_) {
        group_scratch_.ints.push_back(group_ids[i]);
      }
    }
    vals = &value_scratch_;
    n = value_scratch_.size();
  } else if (grouped_) {
    group_scratch_.ints.assign(group_ids, group_ids + rows);
  }
  if (n == 0) {
    return;
  }
  if (grouped_) {
    table_.insert({&group_scratch_, vals}, n, ids_);
  } else {
    table_.insert({vals}, n, ids_);
  }
}

std::vector<std::int64_t> distinct_values::counts(std::size_t groups) const {
  std::vector<std::int64_t> out(groups, 0);
  if (!grouped_) {
    if (groups > 0) {
      std::int64_t n = static_cast<std::int64_t>(table_.size());
      for (std::uint64_t w : bits_) {
        n += std::popcount(w);
      }
      out[0] = n;
    }
    return out;
  }
  for (std::int64_t g : table_.stored(0).ints) {
    ++out[static_cast<std::size_t>(g)];
  }
  return out;
}

}  // namespace ftq::exec::keys
