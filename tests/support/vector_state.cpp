#include "support/vector_state.hpp"

#include <algorithm>
#include <cstring>

namespace ftq::test {

void vector_state::append(std::int64_t v) { values.push_back(v); }

void vector_state::set(std::size_t i, std::int64_t v) {
  values.at(i) = v;
  if (i < committed_size_) {
    changed_.push_back(static_cast<std::uint32_t>(i));
  }
}

exec::snapshot_kind vector_state::save(exec::state_packer& out, exec::snapshot_kind requested) const {
  saved_on = std::this_thread::get_id();
  const bool delta = requested == exec::snapshot_kind::delta && has_committed_;
  out.pack_array(5);
  out.pack(std::string_view("test_vector"));
  out.pack(std::uint32_t{1});
  out.pack(static_cast<std::uint8_t>(delta ? exec::snapshot_kind::delta : exec::snapshot_kind::full));
  const std::size_t from = delta ? committed_size_ : 0;
  const std::size_t n = values.size() - from;
  out.pack_bin(static_cast<std::uint32_t>(n * 8));
  out.pack_bin_body(reinterpret_cast<const char*>(values.data() + from), static_cast<std::uint32_t>(n * 8));
  std::vector<std::uint32_t> changed = delta ? changed_ : std::vector<std::uint32_t>{};
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  out.pack_array(static_cast<std::uint32_t>(changed.size()));
  for (std::uint32_t i : changed) {
    out.pack_array(2);
    out.pack(i);
    out.pack(values[i]);
  }
  return delta ? exec::snapshot_kind::delta : exec::snapshot_kind::full;
}

void vector_state::load(const msgpack::object& in, exec::snapshot_kind kind) {
  loaded_on = std::this_thread::get_id();
  if (in.type != msgpack::type::ARRAY || in.via.array.size != 5) {
    exec::bad_state("test_vector: expected an array of 5");
  }
  const msgpack::object* f = in.via.array.ptr;
  if (f[0].as<std::string>() != "test_vector") {
    exec::bad_state("test_vector: wrong tag");
  }
  if (f[1].as<std::uint32_t>() != 1) {
    exec::unsupported_state_version("test_vector", f[1].as<std::uint32_t>());
  }
  if (f[2].as<std::uint8_t>() != static_cast<std::uint8_t>(kind) || f[3].type != msgpack::type::BIN ||
      f[3].via.bin.size % 8 != 0 || f[4].type != msgpack::type::ARRAY) {
    exec::bad_state("test_vector: malformed fields");
  }
  if (kind == exec::snapshot_kind::full) {
    values.clear();
  }
  const std::size_t base = values.size();
  values.resize(base + f[3].via.bin.size / 8);
  if (f[3].via.bin.size > 0) {  // an empty bin may carry a null pointer
    std::memcpy(values.data() + base, f[3].via.bin.ptr, f[3].via.bin.size);
  }
  for (std::uint32_t k = 0; k < f[4].via.array.size; ++k) {
    const msgpack::object& pair = f[4].via.array.ptr[k];
    if (pair.type != msgpack::type::ARRAY || pair.via.array.size != 2) {
      exec::bad_state("test_vector: malformed change");
    }
    const auto i = pair.via.array.ptr[0].as<std::uint32_t>();
    if (i >= base) {
      exec::bad_state("test_vector: change out of range");
    }
    values[i] = pair.via.array.ptr[1].as<std::int64_t>();
  }
}

void vector_state::snapshot_committed() {
  has_committed_ = true;
  committed_size_ = values.size();
  changed_.clear();
}

}  // namespace ftq::test
