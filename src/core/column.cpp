#include <ftq/column.hpp>

#include <algorithm>
#include <cstring>

namespace ftq {

namespace {
constexpr std::size_t arena_block_bytes = 64 * 1024;
}

std::string_view string_arena::add(std::string_view s) {
  if (s.empty())
    return {};
  if (s.size() > block_left_) {
    const std::size_t size = std::max(arena_block_bytes, s.size());
    blocks_.push_back(std::make_unique<char[]>(size));
    block_next_ = blocks_.back().get();
    block_left_ = size;
  }
  std::memcpy(block_next_, s.data(), s.size());
  std::string_view out(block_next_, s.size());
  block_next_ += s.size();
  block_left_ -= s.size();
  used_total_ += s.size();
  return out;
}

std::size_t column::size() const noexcept {
  switch (type) {
    case type_id::int64:
    case type_id::boolean:
      return ints.size();
    case type_id::float64:
      return doubles.size();
    case type_id::string:
      return strings.size();
  }
  return 0;
}

void column::reserve(std::size_t n) {
  switch (type) {
    case type_id::int64:
    case type_id::boolean:
      ints.reserve(n);
      break;
    case type_id::float64:
      doubles.reserve(n);
      break;
    case type_id::string:
      strings.reserve(n);
      break;
  }
}

void column::resize(std::size_t n) {
  switch (type) {
    case type_id::int64:
    case type_id::boolean:
      ints.resize(n);
      break;
    case type_id::float64:
      doubles.resize(n);
      break;
    case type_id::string:
      strings.resize(n);
      break;
  }
  if (!nulls.empty())
    nulls.resize(n, 0);
}

void column::set_null(std::size_t row) {
  if (nulls.empty())
    nulls.assign(std::max(size(), row + 1), 0);
  if (nulls.size() <= row)
    nulls.resize(row + 1, 0);
  nulls[row] = 1;
}

void column::keep_alive_from(const column& other) {
  for (const auto& o : other.string_owners) {
    if (std::find(string_owners.begin(), string_owners.end(), o) == string_owners.end()) {
      string_owners.push_back(o);
    }
  }
}

}  // namespace ftq
