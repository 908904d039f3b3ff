#include "exec/keys/row_buffer.hpp"

#include <algorithm>

namespace ftq::exec::keys {

namespace {

template <class T>
void append_values(std::vector<T>& dst, std::size_t base, const std::vector<T>& src, const std::uint32_t* rows,
                   std::size_t n) {
  T* out = dst.data() + base;
  const T* in = src.data();
  if (rows == nullptr) {
    std::copy(in, in + n, out);
  } else {
    for (std::size_t j = 0; j < n; ++j) {
      out[j] = in[rows[j]];
    }
  }
}

template <class T>
void gather_values(std::vector<T>& dst, const std::vector<T>& src, const std::uint32_t* idx, std::size_t n) {
  dst.resize(n);
  T* out = dst.data();
  const T* in = src.data();
  for (std::size_t j = 0; j < n; ++j) {
    out[j] = in[idx[j]];
  }
}

template <class T>
void scatter_values(std::vector<T>& dst, std::size_t size, const std::vector<T>& src, const std::uint32_t* idx,
                    const std::uint32_t* at, std::size_t n) {
  dst.assign(size, T{});
  T* out = dst.data();
  const T* in = src.data();
  for (std::size_t j = 0; j < n; ++j) {
    out[at[j]] = in[idx[j]];
  }
}

}  // namespace

column_ptr take_rows(const column& src, const std::uint32_t* rows, std::size_t n) {
  auto out = std::make_shared<column>(src.type);
  switch (src.type) {
    case type_id::int64:
    case type_id::boolean:
      gather_values(out->ints, src.ints, rows, n);
      break;
    case type_id::float64:
      gather_values(out->doubles, src.doubles, rows, n);
      break;
    case type_id::string:
      gather_values(out->strings, src.strings, rows, n);
      out->string_owners = src.string_owners;
      break;
  }
  if (src.has_nulls()) {
    gather_values(out->nulls, src.nulls, rows, n);
  }
  return out;
}

row_buffer::row_buffer(std::vector<type_id> types, string_mode mode) : types_(std::move(types)), mode_(mode) {
  columns_.reserve(types_.size());
  for (type_id t : types_) {
    columns_.emplace_back(t);
  }
  if (mode_ == string_mode::copy) {
    arena_ = std::make_shared<string_arena>();
  } else {
    owners_ = std::make_shared<std::vector<std::shared_ptr<const void>>>();
  }
}

std::vector<const column*> row_buffer::column_ptrs() const {
  std::vector<const column*> out;
  out.reserve(columns_.size());
  for (const auto& c : columns_) {
    out.push_back(&c);
  }
  return out;
}

void row_buffer::hold_owners(const column& src) {
  for (const auto& o : src.string_owners) {
    if (owner_seen_.insert(o.get()).second) {
      owners_->push_back(o);
    }
  }
}

std::shared_ptr<const void> row_buffer::owner_handle() const {
  if (mode_ == string_mode::copy) {
    return arena_;
  }
  return owners_;
}

void row_buffer::append_column(std::size_t c, const column& src, const std::uint32_t* rows, std::size_t n) {
  column& dst = columns_[c];
  const std::size_t base = rows_;
  dst.resize(base + n);
  switch (types_[c]) {
    case type_id::int64:
    case type_id::boolean:
      append_values(dst.ints, base, src.ints, rows, n);
      break;
    case type_id::float64:
      append_values(dst.doubles, base, src.doubles, rows, n);
      break;
    case type_id::string:
      if (mode_ == string_mode::reference) {
        append_values(dst.strings, base, src.strings, rows, n);
        hold_owners(src);
      } else {
        std::string_view* out = dst.strings.data() + base;
        for (std::size_t j = 0; j < n; ++j) {
          const std::size_t r = rows == nullptr ? j : rows[j];
          // A NULL slot may hold any view; never read through it.
          out[j] = src.is_null(r) ? std::string_view{} : arena_->add(src.strings[r]);
        }
      }
      break;
  }
  if (src.has_nulls()) {
    if (!dst.has_nulls()) {
      dst.nulls.assign(base + n, 0);
    }
    append_values(dst.nulls, base, src.nulls, rows, n);
  }
}

void row_buffer::reserve(std::size_t rows) {
  for (column& c : columns_) {
    c.reserve(rows);
  }
}

void row_buffer::append_live(const batch& b) {
  const std::size_t n = b.live_rows();
  const std::uint32_t* rows = b.has_selection ? b.selection.data() : nullptr;
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    append_column(c, *b.columns[c], rows, n);
  }
  commit(n);
}

void row_buffer::append_columns(std::vector<column> cols, std::size_t n) {
  if (rows_ == 0 && mode_ == string_mode::reference) {
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      hold_owners(cols[c]);
      cols[c].string_owners.clear();  // owners_ holds them, as for appended rows
      cols[c].type = types_[c];
      columns_[c] = std::move(cols[c]);
    }
    commit(n);
    return;
  }
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    append_column(c, cols[c], nullptr, n);
  }
  commit(n);
}

column_ptr row_buffer::gather(std::size_t c, const std::uint32_t* idx, std::size_t n) const {
  const column& src = columns_[c];
  auto out = std::make_shared<column>(src.type);
  switch (src.type) {
    case type_id::int64:
    case type_id::boolean:
      gather_values(out->ints, src.ints, idx, n);
      break;
    case type_id::float64:
      gather_values(out->doubles, src.doubles, idx, n);
      break;
    case type_id::string:
      gather_values(out->strings, src.strings, idx, n);
      out->keep_alive(owner_handle());
      break;
  }
  if (src.has_nulls()) {
    gather_values(out->nulls, src.nulls, idx, n);
    if (std::none_of(out->nulls.begin(), out->nulls.end(), [](std::uint8_t v) { return v != 0; })) {
      out->nulls.clear();
    }
  }
  return out;
}

column_ptr row_buffer::gather_at(std::size_t c, const std::uint32_t* idx, const std::uint32_t* at, std::size_t n,
                                 std::size_t size) const {
  const column& src = columns_[c];
  auto out = std::make_shared<column>(src.type);
  switch (src.type) {
    case type_id::int64:
    case type_id::boolean:
      scatter_values(out->ints, size, src.ints, idx, at, n);
      break;
    case type_id::float64:
      scatter_values(out->doubles, size, src.doubles, idx, at, n);
      break;
    case type_id::string:
      scatter_values(out->strings, size, src.strings, idx, at, n);
      out->keep_alive(owner_handle());
      break;
  }
  if (src.has_nulls()) {
    scatter_values(out->nulls, size, src.nulls, idx, at, n);
    if (std::none_of(out->nulls.begin(), out->nulls.end(), [](std::uint8_t v) { return v != 0; })) {
      out->nulls.clear();
    }
  }
  return out;
}

void row_buffer::assign_gathered(const row_buffer& from, const std::uint32_t* idx, std::size_t n) {
  row_buffer fresh(types_, mode_);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    fresh.append_column(c, from.columns_[c], idx, n);
  }
  if (mode_ == string_mode::reference) {
    // The gathered views point wherever `from`'s did.
    if (from.mode_ == string_mode::copy) {
      fresh.owners_->push_back(from.arena_);
    } else {
      *fresh.owners_ = *from.owners_;
      fresh.owner_seen_ = from.owner_seen_;
    }
  }
  fresh.commit(n);
  *this = std::move(fresh);
}

}  // namespace ftq::exec::keys
