#include "exec/keys/key_table.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace ftq::exec::keys {

namespace {

constexpr std::uint64_t canonical_nan_bits = 0x7ff8000000000000ULL;

// Equal doubles must encode equally: -0.0 groups with 0.0 and every NaN with every other.
inline std::uint64_t double_key_bits(double d) noexcept {
  if (d == 0.0) {
    return 0;
  }
  if (std::isnan(d)) {
    return canonical_nan_bits;
  }
  return std::bit_cast<std::uint64_t>(d);
}

inline std::uint64_t mix64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

key_layout make_layout(const std::vector<type_id>& types, bool nullable, std::vector<std::size_t> max_len) {
  key_layout l;
  l.nullable = nullable;
  l.max_len = std::move(max_len);
  l.offset.assign(types.size(), 0);
  std::size_t width = nullable ? 1 : 0;
  for (std::size_t c = 0; c < types.size(); ++c) {
    l.offset[c] = width;
    width += types[c] == type_id::string ? 1 + l.max_len[c] : 8;
  }
  // Byte 0 has room for the NULL bits of eight columns.
  if (width <= 8 && !(nullable && types.size() > 8)) {
    l.packing = key_layout::kind::word64;
  } else if (width <= 16 && !(nullable && types.size() > 8)) {
    l.packing = key_layout::kind::word128;
  } else {
    l.packing = key_layout::kind::bytes;
  }
  return l;
}

bool any_null(const column& col, std::size_t rows) {
  if (!col.has_nulls()) {
    return false;
  }
  const auto* n = col.nulls.data();
  return std::any_of(n, n + rows, [](std::uint8_t v) { return v != 0; });
}

std::size_t longest_string(const column& col, std::size_t rows) {
  std::size_t m = 0;
  const auto* s = col.strings.data();
  if (col.has_nulls()) {
    const auto* n = col.nulls.data();
    for (std::size_t i = 0; i < rows; ++i) {
      m = std::max(m, n[i] != 0 ? std::size_t{0} : s[i].size());
    }
  } else {
    for (std::size_t i = 0; i < rows; ++i) {
      m = std::max(m, s[i].size());
    }
  }
  return m;
}

template <class T>
inline T load(const char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// The bytes of s (at most 16) as a little-endian number, read with a few overlapping
// fixed-size loads instead of a byte loop; never reads outside s.
inline uint128 string_bytes(std::string_view s) noexcept {
  const char* p = s.data();
  const std::size_t n = s.size();
  if (n >= 8) {
    uint128 v = load<std::uint64_t>(p);
    if (n > 8) {
      v |= static_cast<uint128>(load<std::uint64_t>(p + n - 8) >> (8 * (16 - n))) << 64;
    }
    return v;
  }
  if (n >= 4) {
    const auto head = load<std::uint32_t>(p);
    const auto tail = static_cast<std::uint64_t>(load<std::uint32_t>(p + n - 4)) >> (8 * (8 - n));
    return head | (tail << 32);
  }
  if (n > 0) {
    const auto b = [p](std::size_t i) { return static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])); };
    return b(0) | (b(n / 2) << (8 * (n / 2))) | (b(n - 1) << (8 * (n - 1)));
  }
  return 0;
}

// A string of at most sizeof(Word) - 1 bytes as its length byte followed by its bytes.
template <class Word>
inline Word pack_string(std::string_view s) noexcept {
  return static_cast<Word>(s.size()) | (static_cast<Word>(string_bytes(s)) << 8);
}

}  // namespace

std::uint64_t hash_key_bytes(std::string_view s) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x9fb21c651e98df25ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x9fb21c651e98df25ULL;
  }
  return mix64(h);
}

key_table::key_table(std::vector<type_id> types) : types_(std::move(types)), arena_(std::make_shared<string_arena>()) {
  layout_ = make_layout(types_, false, std::vector<std::size_t>(types_.size(), 0));
  stored_.reserve(types_.size());
  for (type_id t : types_) {
    stored_.emplace_back(t);
  }
}

void key_table::fit_layout(const std::vector<const column*>& cols, std::size_t rows) {
  if (layout_.packing == key_layout::kind::bytes) {
    return;
  }
  bool nullable = layout_.nullable;
  std::vector<std::size_t> max_len = layout_.max_len;
  bool grow = false;
  for (std::size_t c = 0; c < types_.size(); ++c) {
    if (!nullable && any_null(*cols[c], rows)) {
      nullable = true;
      grow = true;
    }
    if (types_[c] == type_id::string) {
      const std::size_t m = longest_string(*cols[c], rows);
      if (m > max_len[c]) {
        max_len[c] = m;
        grow = true;
      }
    }
  }
  if (grow) {
    relayout(make_layout(types_, nullable, std::move(max_len)));
  }
}

void key_table::relayout(key_layout next) {
  layout_ = std::move(next);
  map64_.clear();
  map128_.clear();
  map_bytes_ = {};
  if (count_ == 0) {
    return;
  }
  std::vector<const column*> cols;
  for (const auto& c : stored_) {
    cols.push_back(&c);
  }
  encode(cols, count_, false);
  // Stored keys are distinct, so inserting them in id order hands out the same ids again.
  std::vector<std::uint32_t> ids(count_);
  std::vector<std::uint32_t> rows;
  std::uint32_t next_id = 0;
  switch (layout_.packing) {
    case key_layout::kind::word64:
      map64_.insert(words64_.data(), count_, ids.data(), next_id, rows);
      break;
    case key_layout::kind::word128:
      map128_.insert(words128_.data(), count_, ids.data(), next_id, rows);
      break;
    case key_layout::kind::bytes:
      map_bytes_.reserve(count_);
      for (std::size_t i = 0; i < count_; ++i) {
        const std::string_view key(bytes_.data() + bytes_pos_[i], bytes_pos_[i + 1] - bytes_pos_[i]);
        map_bytes_.emplace(hashed_bytes{arena_->add(key), hash_key_bytes(key)}, static_cast<std::uint32_t>(i));
      }
      break;
  }
}

void key_table::encode(const std::vector<const column*>& cols, std::size_t rows, bool find_mode) {
  any_unfit_ = false;
  if (find_mode) {
    unfit_.assign(rows, 0);
  }
  switch (layout_.packing) {
    case key_layout::kind::word64:
      encode_words(cols, rows, words64_, find_mode);
      break;
    case key_layout::kind::word128:
      encode_words(cols, rows, words128_, find_mode);
      break;
    case key_layout::kind::bytes:
      encode_bytes(cols, rows);
      break;
  }
}

template <class Word>
void key_table::encode_words(const std::vector<const column*>& cols, std::size_t rows, std::vector<Word>& out,
                             bool find_mode) {
  out.assign(rows, 0);
  Word* w = out.data();
  for (std::size_t c = 0; c < types_.size(); ++c) {
    const column& col = *cols[c];
    const std::uint8_t* nulls = col.has_nulls() ? col.nulls.data() : nullptr;
    if (nulls != nullptr) {
      if (layout_.nullable) {
        for (std::size_t i = 0; i < rows; ++i) {
          w[i] |= static_cast<Word>(nulls[i] != 0) << c;
        }
      } else if (find_mode) {
        for (std::size_t i = 0; i < rows; ++i) {
          unfit_[i] |= static_cast<std::uint8_t>(nulls[i] != 0);
        }
      } else {
        any_unfit_ = any_unfit_ || std::any_of(nulls, nulls + rows, [](std::uint8_t v) { return v != 0; });
      }
    }
    const unsigned shift = static_cast<unsigned>(8 * layout_.offset[c]);
    switch (types_[c]) {
      case type_id::int64:
      case type_id::boolean: {
        const std::int64_t* v = col.ints.data();
        if (nulls != nullptr) {
          for (std::size_t i = 0; i < rows; ++i) {
            const auto bits = nulls[i] != 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(v[i]);
            w[i] |= static_cast<Word>(bits) << shift;
          }
        } else {
          for (std::size_t i = 0; i < rows; ++i) {
            w[i] |= static_cast<Word>(static_cast<std::uint64_t>(v[i])) << shift;
          }
        }
        break;
      }
      case type_id::float64: {
        const double* v = col.doubles.data();
        for (std::size_t i = 0; i < rows; ++i) {
          const bool is_null = nulls != nullptr && nulls[i] != 0;
          const auto bits = is_null ? std::uint64_t{0} : double_key_bits(v[i]);
          w[i] |= static_cast<Word>(bits) << shift;
        }
        break;
      }
      case type_id::string: {
        const std::string_view* v = col.strings.data();
        const std::size_t max_len = layout_.max_len[c];
        for (std::size_t i = 0; i < rows; ++i) {
          if (nulls != nullptr && nulls[i] != 0) {
            continue;
          }
          if (v[i].size() > max_len) {
            if (find_mode) {
              unfit_[i] = 1;
            }
            any_unfit_ = true;
            continue;
          }
          w[i] |= pack_string<Word>(v[i]) << shift;
        }
        break;
      }
    }
  }
}

void key_table::encode_bytes(const std::vector<const column*>& cols, std::size_t rows) {
  // Each column contributes a tag byte (1 = NULL) then its value: 8 bytes for numbers, a 4-byte
  // length and the bytes for strings. The encoding is prefix-free, so equal bytes mean equal keys.
  bytes_pos_.assign(rows + 1, 0);
  std::size_t* pos = bytes_pos_.data();
  for (std::size_t c = 0; c < types_.size(); ++c) {
    const column& col = *cols[c];
    const std::uint8_t* nulls = col.has_nulls() ? col.nulls.data() : nullptr;
    for (std::size_t i = 0; i < rows; ++i) {
      std::size_t size = 1;
      if (nulls == nullptr || nulls[i] == 0) {
        size += types_[c] == type_id::string ? 4 + col.strings[i].size() : 8;
      }
      pos[i + 1] += size;
    }
  }
  for (std::size_t i = 0; i < rows; ++i) {
    pos[i + 1] += pos[i];
  }
  bytes_.resize(pos[rows]);
  std::vector<std::size_t> cursor(pos, pos + rows);
  char* out = bytes_.data();
  for (std::size_t c = 0; c < types_.size(); ++c) {
    const column& col = *cols[c];
    const std::uint8_t* nulls = col.has_nulls() ? col.nulls.data() : nullptr;
    for (std::size_t i = 0; i < rows; ++i) {
      char* p = out + cursor[i];
      if (nulls != nullptr && nulls[i] != 0) {
        *p = 1;
        cursor[i] += 1;
        continue;
      }
      *p++ = 0;
      switch (types_[c]) {
        case type_id::int64:
        case type_id::boolean:
          std::memcpy(p, &col.ints[i], 8);
          cursor[i] += 9;
          break;
        case type_id::float64: {
          const std::uint64_t bits = double_key_bits(col.doubles[i]);
          std::memcpy(p, &bits, 8);
          cursor[i] += 9;
          break;
        }
        case type_id::string: {
          const std::string_view s = col.strings[i];
          const auto len = static_cast<std::uint32_t>(s.size());
          std::memcpy(p, &len, 4);
          if (!s.empty()) {
            std::memcpy(p + 4, s.data(), s.size());
          }
          cursor[i] += 5 + s.size();
          break;
        }
      }
    }
  }
}

void key_table::assign_ids(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids) {
  encode(cols, rows, false);
  if (any_unfit_) {
    // Some key needs a wider layout (a longer string, a first NULL): widen, encode again.
    fit_layout(cols, rows);
    encode(cols, rows, false);
  }
  ids.resize(rows);
  new_rows_.clear();
  std::uint32_t* id = ids.data();
  switch (layout_.packing) {
    case key_layout::kind::word64: {
      auto next_id = static_cast<std::uint32_t>(count_);
      map64_.insert(words64_.data(), rows, id, next_id, new_rows_);
      count_ = next_id;
      break;
    }
    case key_layout::kind::word128: {
      auto next_id = static_cast<std::uint32_t>(count_);
      map128_.insert(words128_.data(), rows, id, next_id, new_rows_);
      count_ = next_id;
      break;
    }
    case key_layout::kind::bytes: {
      for (std::size_t i = 0; i < rows; ++i) {
        const std::string_view key(bytes_.data() + bytes_pos_[i], bytes_pos_[i + 1] - bytes_pos_[i]);
        const std::uint64_t h = hash_key_bytes(key);
        const auto it = map_bytes_.find(hashed_bytes{key, h});
        if (it != map_bytes_.end()) {
          id[i] = it->second;
          continue;
        }
        map_bytes_.emplace(hashed_bytes{arena_->add(key), h}, static_cast<std::uint32_t>(count_));
        id[i] = static_cast<std::uint32_t>(count_++);
        new_rows_.push_back(static_cast<std::uint32_t>(i));
      }
      break;
    }
  }
}

void key_table::insert(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids) {
  assign_ids(cols, rows, ids);
  if (!new_rows_.empty()) {
    store_rows(cols, new_rows_);
  }
}

std::vector<const column*> key_table::stored_ptrs() const {
  std::vector<const column*> out;
  out.reserve(stored_.size());
  for (const auto& c : stored_) {
    out.push_back(&c);
  }
  return out;
}

bool key_table::restore(std::vector<column> cols) {
  if (cols.size() != types_.size()) {
    return false;
  }
  const std::size_t rows = cols.empty() ? 0 : cols[0].size();
  for (std::size_t c = 0; c < cols.size(); ++c) {
    const bool same_type =
        cols[c].type == types_[c] || (cols[c].type == type_id::int64 && types_[c] == type_id::boolean);
    if (!same_type || cols[c].size() != rows || (cols[c].has_nulls() && cols[c].nulls.size() != rows)) {
      return false;
    }
  }
  if (rows == 0) {
    return true;
  }
  if (rows > std::size_t{UINT32_MAX} - count_) {
    return false;
  }
  const std::size_t before = count_;
  std::vector<std::uint32_t> ids;
  if (count_ == 0) {
    // Adopt: the columns become the stored keys as they are; only the map is rebuilt.
    for (std::size_t c = 0; c < cols.size(); ++c) {
      cols[c].type = types_[c];
      stored_[c] = std::move(cols[c]);
    }
    assign_ids(stored_ptrs(), rows, ids);
  } else {
    std::vector<const column*> ptrs;
    for (const auto& c : cols) {
      ptrs.push_back(&c);
    }
    insert(ptrs, rows, ids);
  }
  // Distinct keys, all new, come back with ids before, before + 1, ...
  return count_ == before + rows;
}

void key_table::find(const std::vector<const column*>& cols, std::size_t rows, std::vector<std::uint32_t>& ids) {
  ids.assign(rows, absent);
  if (count_ == 0) {
    return;
  }
  encode(cols, rows, true);
  std::uint32_t* id = ids.data();
  const std::uint8_t* unfit = unfit_.data();
  switch (layout_.packing) {
    case key_layout::kind::word64:
      map64_.find(words64_.data(), rows, id, unfit);
      break;
    case key_layout::kind::word128:
      map128_.find(words128_.data(), rows, id, unfit);
      break;
    case key_layout::kind::bytes: {
      for (std::size_t i = 0; i < rows; ++i) {
        const std::string_view key(bytes_.data() + bytes_pos_[i], bytes_pos_[i + 1] - bytes_pos_[i]);
        const auto it = map_bytes_.find(hashed_bytes{key, hash_key_bytes(key)});
        if (it != map_bytes_.end()) {
          id[i] = it->second;
        }
      }
      break;
    }
  }
}

void key_table::store_rows(const std::vector<const column*>& cols, const std::vector<std::uint32_t>& rows) {
  const std::size_t n = rows.size();
  for (std::size_t c = 0; c < types_.size(); ++c) {
    const column& src = *cols[c];
    column& dst = stored_[c];
    const std::size_t base = dst.size();
    dst.resize(base + n);
    const bool src_nulls = src.has_nulls();
    for (std::size_t j = 0; j < n; ++j) {
      const std::uint32_t r = rows[j];
      if (src_nulls && src.nulls[r] != 0) {
        dst.set_null(base + j);
        continue;
      }
      switch (types_[c]) {
        case type_id::int64:
        case type_id::boolean:
          dst.ints[base + j] = src.ints[r];
          break;
        case type_id::float64:
          dst.doubles[base + j] = src.doubles[r];
          break;
        case type_id::string:
          dst.strings[base + j] = arena_->add(src.strings[r]);
          break;
      }
    }
  }
}

column_ptr key_table::slice(std::size_t c, std::size_t from, std::size_t to) const {
  const column& src = stored_[c];
  auto out = std::make_shared<column>(src.type);
  switch (src.type) {
    case type_id::int64:
    case type_id::boolean:
      out->ints.assign(src.ints.begin() + from, src.ints.begin() + to);
      break;
    case type_id::float64:
      out->doubles.assign(src.doubles.begin() + from, src.doubles.begin() + to);
      break;
    case type_id::string:
      out->strings.assign(src.strings.begin() + from, src.strings.begin() + to);
      out->keep_alive(arena_);
      out->keep_alive_from(src);  // keys adopted by restore() live in their own buffers
      break;
  }
  if (src.has_nulls()) {
    const auto first = src.nulls.begin() + from;
    const auto last = src.nulls.begin() + to;
    if (std::any_of(first, last, [](std::uint8_t v) { return v != 0; })) {
      out->nulls.assign(first, last);
    }
  }
  return out;
}

}  // namespace ftq::exec::keys
