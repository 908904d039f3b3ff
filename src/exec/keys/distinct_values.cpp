#include "exec/keys/distinct_values.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <string>

#include "exec/state/column_codec.hpp"

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
      if (pages_.on()) {
        // Checkpointing: also mark the 4 KiB page (2^15 bits) each value lands in.
        const std::size_t pages = (bits_.size() + page_words - 1) / page_words;
        for (std::size_t i = 0; i < rows; ++i) {
          if (nulls != nullptr && nulls[i] != 0) {
            continue;
          }
          const std::uint64_t off = static_cast<std::uint64_t>(v[i]) - base;
          bits[off >> 6] |= std::uint64_t{1} << (off & 63);
          pages_.mark_one(static_cast<std::size_t>(off >> 15), pages);
        }
        return;
      }
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
    pages_.mark_rewritten();
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
  pages_.mark_rewritten();
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
  base_ = 0;  // meaningless without a bitmap; kept canonical so snapshots compare equal
  pages_.mark_rewritten();
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

namespace {

std::size_t page_count(std::size_t words) {
  return (words + distinct_values::page_words - 1) / distinct_values::page_words;
}

std::size_t words_in_page(std::size_t page, std::size_t words) {
  return std::min(distinct_values::page_words, words - page * distinct_values::page_words);
}

}  // namespace

void distinct_values::save(state_packer& out, bool delta) const {
  const std::size_t pages = page_count(bits_.size());
  const bool every_page = !delta || !pages_.delta_possible();
  pages_.saving(pages);
  keys_.saving(table_.size());
  const std::size_t first_key = delta ? keys_.committed_size() : 0;

  out.pack_array(7);
  out.pack(bitmap_);
  out.pack_int64(base_);
  out.pack_uint64(bits_.size());
  std::vector<std::uint32_t> listed;  // at most 4096 page ids (16 MiB of bits)
  if (every_page) {
    for (std::size_t p = 0; p < pages; ++p) {
      listed.push_back(static_cast<std::uint32_t>(p));
    }
  } else {
    pages_.for_each_changed([&](std::size_t p) {
      if (p < pages) {
        listed.push_back(static_cast<std::uint32_t>(p));
      }
    });
  }
  pack_values(out, listed);
  std::uint64_t words = 0;
  for (std::uint32_t p : listed) {
    words += words_in_page(p, bits_.size());
  }
  bin_writer page_bits(out, 8 * words, "distinct bitmap pages");
  for (std::uint32_t p : listed) {
    page_bits.write(bits_.data() + std::size_t{p} * page_words, 8 * words_in_page(p, bits_.size()));
  }
  page_bits.finish();
  out.pack_uint64(first_key);
  pack_columns(out, table_.stored_ptrs(), first_key, table_.size());
}

void distinct_values::load(const value_reader& in, bool delta, std::size_t groups) {
  in.expect_array(7);
  const value_reader mode = in.at(0, "bitmap mode");
  const bool bitmap = mode.as_bool();
  if (bitmap && !(type_ == type_id::int64 && !grouped_)) {
    mode.invalid("only ungrouped int64 values use a bitmap");
  }
  if (bitmap && !bitmap_) {
    mode.invalid("the set already spilled its bitmap to a table");
  }
  const value_reader base_value = in.at(1, "base");
  const std::int64_t base = base_value.as_int();
  const value_reader words_value = in.at(2, "bitmap words");
  const std::uint64_t words = words_value.as_uint(max_bitmap_range / 64);
  if (base % 64 != 0 || static_cast<int128>(base) + 64 * static_cast<int128>(words) >
                            static_cast<int128>(std::numeric_limits<std::int64_t>::max()) + 1) {
    base_value.invalid("bitmap base " + std::to_string(base) + " with " + std::to_string(words) +
                       " words is not a valid range");
  }
  if (!bitmap && words != 0) {
    words_value.invalid("a table-mode set has no bitmap");
  }
  const std::size_t pages = page_count(static_cast<std::size_t>(words));
  const value_reader ids_value = in.at(3, "page ids");
  std::vector<std::uint32_t> listed;
  unpack_values(ids_value, listed, value_count<std::uint32_t>(ids_value, pages));
  std::uint64_t total = 0;
  for (std::size_t j = 0; j < listed.size(); ++j) {
    if (listed[j] >= pages || (j > 0 && listed[j] <= listed[j - 1])) {
      ids_value.invalid("page ids must ascend below " + std::to_string(pages));
    }
    total += words_in_page(listed[j], static_cast<std::size_t>(words));
  }
  const bool same_layout = delta && bitmap_ && base == base_ && words == bits_.size();
  if (!same_layout && listed.size() != pages) {
    ids_value.invalid("a re-based or full bitmap lists all " + std::to_string(pages) + " pages, got " +
                      std::to_string(listed.size()));
  }
  const value_reader page_bits = in.at(4, "page words");
  if (page_bits.as_bin().size() != 8 * total) {
    page_bits.fail("bin of " + std::to_string(8 * total) + " bytes");
  }
  const value_reader first_value = in.at(5, "first key id");
  if (first_value.as_uint() != table_.size()) {
    first_value.invalid("keys start at id " + std::to_string(first_value.as_uint()) + ", the set holds " +
                        std::to_string(table_.size()));
  }
  const value_reader keys_value = in.at(6, "table keys");
  std::vector<column> cols;
  unpack_columns(keys_value, table_types(type_, grouped_), string_storage::own, cols);
  if (grouped_ && !cols.empty()) {
    const column& g = cols[0];
    for (std::size_t i = 0; i < g.ints.size(); ++i) {
      if (g.is_null(i) || g.ints[i] < 0 || static_cast<std::uint64_t>(g.ints[i]) >= groups) {
        keys_value.invalid("group id out of range in key " + std::to_string(i));
      }
    }
  }

  // Everything is checked: apply.
  bitmap_ = bitmap;
  if (!bitmap) {
    bits_ = {};
    base_ = 0;
  } else if (!same_layout) {
    bits_.assign(static_cast<std::size_t>(words), 0);
    base_ = base;
  }
  const char* src = page_bits.as_bin().data();
  for (std::uint32_t p : listed) {
    const std::size_t n = words_in_page(p, bits_.size());
    std::memcpy(bits_.data() + std::size_t{p} * page_words, src, 8 * n);
    src += 8 * n;
  }
  if (!table_.restore(std::move(cols))) {
    keys_value.invalid("keys repeat or do not match the set's types");
  }
}

void distinct_values::reset() { *this = distinct_values(type_, grouped_); }

void distinct_values::snapshot_committed() {
  pages_.committed();
  keys_.committed();
}

void distinct_values::snapshot_restored() {
  pages_.restored(page_count(bits_.size()));
  keys_.restored(table_.size());
}

std::uint64_t distinct_values::snapshot_size_hint() const {
  std::uint64_t bytes = 8 * bits_.size();
  for (const column* c : table_.stored_ptrs()) {
    bytes += column_bytes(*c);
  }
  return bytes;
}

}  // namespace ftq::exec::keys
