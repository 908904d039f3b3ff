#include "exec/state/state_section.hpp"

#include <limits>

namespace ftq::exec {

namespace {

// Bins and strings of an unpacked section point into the caller's buffer instead of being
// copied into the zone: states then read column bytes where they arrived.
bool reference_bytes(msgpack::type::object_type type, std::size_t, void*) {
  return type == msgpack::type::BIN || type == msgpack::type::STR || type == msgpack::type::EXT;
}

std::string kind_name(snapshot_kind k) { return k == snapshot_kind::full ? "full (0)" : "delta (1)"; }

}  // namespace

void pack_header(state_packer& out, std::string_view tag, std::uint32_t version, snapshot_kind kind,
                 std::size_t fields) {
  out.pack_array(static_cast<std::uint32_t>(first_field + fields));
  out.pack_str(static_cast<std::uint32_t>(tag.size()));
  out.pack_str_body(tag.data(), static_cast<std::uint32_t>(tag.size()));
  out.pack_uint32(version);
  out.pack_uint8(static_cast<std::uint8_t>(kind));
}

std::string describe(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL:
      return "nil";
    case msgpack::type::BOOLEAN:
      return o.via.boolean ? "true" : "false";
    case msgpack::type::POSITIVE_INTEGER:
      return "uint " + std::to_string(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return "int " + std::to_string(o.via.i64);
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return "float " + std::to_string(o.via.f64);
    case msgpack::type::STR:
      return "str of " + std::to_string(o.via.str.size) + " bytes";
    case msgpack::type::BIN:
      return "bin of " + std::to_string(o.via.bin.size) + " bytes";
    case msgpack::type::ARRAY:
      return "array of " + std::to_string(o.via.array.size);
    case msgpack::type::MAP:
      return "map of " + std::to_string(o.via.map.size);
    case msgpack::type::EXT:
      return "ext of " + std::to_string(o.via.ext.size) + " bytes";
  }
  return "msgpack type " + std::to_string(static_cast<int>(o.type));
}

msgpack::object_handle unpack_section(const char* data, std::size_t size) {
  // Every array element and map entry takes at least one byte, so no honest section declares
  // more than `size` of them; the limit stops a forged length from reserving gigabytes.
  const std::size_t n = std::max<std::size_t>(size, 1);
  const msgpack::unpack_limit limit(n, n, n, n, n, 64);
  std::size_t off = 0;
  try {
    msgpack::object_handle h = msgpack::unpack(data, size, off, reference_bytes, nullptr, limit);
    if (off != size) {
      bad_state("section: " + std::to_string(size - off) + " bytes after the state's msgpack value");
    }
    return h;
  } catch (const msgpack::unpack_error& e) {
    bad_state(std::string("section: not msgpack: ") + e.what());
  } catch (const msgpack::type_error& e) {
    bad_state(std::string("section: not msgpack: ") + e.what());
  }
}

void value_reader::fail(std::string_view expected) const {
  bad_state(where_ + ": expected " + std::string(expected) + ", got " + describe(*o_));
}

void value_reader::invalid(std::string_view message) const { bad_state(where_ + ": " + std::string(message)); }

bool value_reader::as_bool() const {
  if (o_->type != msgpack::type::BOOLEAN) {
    fail("bool");
  }
  return o_->via.boolean;
}

std::uint64_t value_reader::as_uint(std::uint64_t max) const {
  if (o_->type != msgpack::type::POSITIVE_INTEGER) {
    fail("uint");
  }
  if (o_->via.u64 > max) {
    fail("uint at most " + std::to_string(max));
  }
  return o_->via.u64;
}

std::int64_t value_reader::as_int() const {
  if (o_->type == msgpack::type::NEGATIVE_INTEGER) {
    return o_->via.i64;
  }
  if (o_->type == msgpack::type::POSITIVE_INTEGER &&
      o_->via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(o_->via.u64);
  }
  fail("int64");
}

double value_reader::as_double() const {
  if (o_->type != msgpack::type::FLOAT64 && o_->type != msgpack::type::FLOAT32) {
    fail("float");
  }
  return o_->via.f64;
}

std::string_view value_reader::as_str() const {
  if (o_->type != msgpack::type::STR) {
    fail("str");
  }
  return {o_->via.str.ptr, o_->via.str.size};
}

std::string_view value_reader::as_bin() const {
  if (o_->type != msgpack::type::BIN) {
    fail("bin");
  }
  return {o_->via.bin.ptr, o_->via.bin.size};
}

std::size_t value_reader::array_size() const {
  if (o_->type != msgpack::type::ARRAY) {
    fail("array");
  }
  return o_->via.array.size;
}

void value_reader::expect_array(std::size_t n) const {
  if (o_->type != msgpack::type::ARRAY || o_->via.array.size != n) {
    fail("array of " + std::to_string(n));
  }
}

value_reader value_reader::at(std::size_t i, std::string_view name) const {
  const std::size_t size = array_size();
  std::string where = where_ + "[" + std::to_string(i) + "]";
  if (!name.empty()) {
    where += " (" + std::string(name) + ")";
  }
  if (i >= size) {
    fail("array of more than " + std::to_string(i));
  }
  return value_reader(o_->via.array.ptr[i], std::move(where));
}

section_reader::section_reader(const msgpack::object& in, std::string_view tag, std::uint32_t newest,
                               snapshot_kind kind)
    : in_(&in), tag_(tag) {
  const value_reader whole(in, tag_);
  if (in.type != msgpack::type::ARRAY || in.via.array.size < first_field) {
    whole.fail("array of at least " + std::to_string(first_field) + " (tag, version, kind, fields...)");
  }
  const value_reader tag_value(in.via.array.ptr[0], tag_ + ": field 0 (tag)");
  if (tag_value.as_str() != tag) {
    tag_value.invalid("expected tag '" + std::string(tag) + "', got '" + std::string(tag_value.as_str()) + "'");
  }
  const value_reader version_value(in.via.array.ptr[1], tag_ + ": field 1 (version)");
  const std::uint64_t version = version_value.as_uint();
  if (version == 0) {
    version_value.invalid("state versions start at 1");
  }
  if (version > newest) {
    unsupported_state_version(tag, version > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(version));
  }
  version_ = static_cast<std::uint32_t>(version);
  const value_reader kind_value(in.via.array.ptr[2], tag_ + ": field 2 (kind)");
  const std::uint64_t k = kind_value.as_uint(1);
  kind_ = static_cast<snapshot_kind>(k);
  if (kind_ != kind) {
    kind_value.invalid("section is a " + kind_name(kind_) + " snapshot, loaded as " + kind_name(kind));
  }
}

void section_reader::expect_fields(std::size_t fields) const {
  if (in_->via.array.size != first_field + fields) {
    value_reader(*in_, tag_ + " v" + std::to_string(version_) + " " + kind_name(kind_))
        .fail("array of " + std::to_string(first_field + fields));
  }
}

value_reader section_reader::field(std::size_t pos, std::string_view name) const {
  std::string where = tag_ + ": field " + std::to_string(pos) + " (" + std::string(name) + ")";
  if (pos >= in_->via.array.size) {
    bad_state(where + ": missing, the section has " + std::to_string(in_->via.array.size) + " values");
  }
  return value_reader(in_->via.array.ptr[pos], std::move(where));
}

}  // namespace ftq::exec
