#pragma once
/// Packs and checks the frame every operator state shares: one msgpack array [type tag, state
/// version, snapshot kind, fields...], fields at fixed positions. Reading checks every value's
/// msgpack type and size before use and throws bad_state naming the state, the field's position
/// and name, what was expected and what was found ("sort: field 4 (order): expected bin, got nil").

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "exec/state/state_io.hpp"

namespace ftq::exec {

/// Opens a state's array: the three header values, then `fields` fields for the caller to pack.
void pack_header(state_packer& out, std::string_view tag, std::uint32_t version, snapshot_kind kind,
                 std::size_t fields);

/// "array of 3", "bin of 16 bytes", "uint 7", "nil": what a value is, for messages.
std::string describe(const msgpack::object& o);

/// Unpacks one serialized section (as the checkpoint layer or a fuzzer would), turning msgpack's
/// own parse errors (truncated, malformed, too deep) into bad_state.
msgpack::object_handle unpack_section(const char* data, std::size_t size);

/// A msgpack value and where it sits. Every accessor checks the type (and range) first.
class value_reader {
 public:
  value_reader(const msgpack::object& o, std::string where) : o_(&o), where_(std::move(where)) {}

  const msgpack::object& object() const noexcept { return *o_; }
  const std::string& where() const noexcept { return where_; }
  /// Throws bad_state("<where>: expected <expected>, got <what it is>").
  [[noreturn]] void fail(std::string_view expected) const;
  /// Throws bad_state("<where>: <message>") for a value of the right type that makes no sense.
  [[noreturn]] void invalid(std::string_view message) const;

  bool is_nil() const noexcept { return o_->type == msgpack::type::NIL; }
  bool as_bool() const;
  std::uint64_t as_uint(std::uint64_t max = UINT64_MAX) const;
  std::int64_t as_int() const;
  double as_double() const;
  std::string_view as_str() const;
  std::string_view as_bin() const;
  /// Checks for an array and returns its size.
  std::size_t array_size() const;
  /// Checks for an array of exactly n values.
  void expect_array(std::size_t n) const;
  /// Element i of an array (checked); `name` is added to the path when given.
  value_reader at(std::size_t i, std::string_view name = {}) const;

 private:
  const msgpack::object* o_;
  std::string where_;
};

/// A state's section after its header was checked: tag, version (at most `newest`, else
/// unsupported_state_version) and kind (must be the kind load() was given).
class section_reader {
 public:
  section_reader(const msgpack::object& in, std::string_view tag, std::uint32_t newest, snapshot_kind kind);

  std::uint32_t version() const noexcept { return version_; }
  snapshot_kind kind() const noexcept { return kind_; }
  /// Checks that `fields` fields follow the header.
  void expect_fields(std::size_t fields) const;
  /// The field at array position `pos` (the header takes positions 0-2): "<tag>: field <pos> (<name>)".
  value_reader field(std::size_t pos, std::string_view name) const;

 private:
  const msgpack::object* in_;
  std::string tag_;
  std::uint32_t version_ = 0;
  snapshot_kind kind_ = snapshot_kind::full;
};

/// Array position of a state's first field, after tag, version and kind.
inline constexpr std::size_t first_field = 3;

}  // namespace ftq::exec
