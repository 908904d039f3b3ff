#pragma once
/// Names the value types ftq columns hold (int64, float64, string) and the schemas built from
/// them. `boolean` exists only as the type of a predicate expression; no column stores it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ftq {

enum class type_id : std::uint8_t { int64, float64, string, boolean };

/// "int64", "float64", "string", "boolean".
std::string_view type_name(type_id t) noexcept;
/// Accepts the names above plus the aliases "bigint", "double", "varchar".
std::optional<type_id> parse_type_name(std::string_view name) noexcept;
inline bool is_numeric(type_id t) noexcept { return t == type_id::int64 || t == type_id::float64; }

struct field {
  std::string name;
  type_id type = type_id::int64;
  friend bool operator==(const field&, const field&) = default;
};

class schema {
 public:
  schema() = default;
  explicit schema(std::vector<field> fields) : fields_(std::move(fields)) {}

  const std::vector<field>& fields() const noexcept { return fields_; }
  std::size_t size() const noexcept { return fields_.size(); }
  const field& operator[](std::size_t i) const { return fields_[i]; }
  std::optional<std::size_t> index_of(std::string_view name) const noexcept;
  /// "a, b, c": for error messages that list what exists.
  std::string names_joined() const;
  void push_back(field f) { fields_.push_back(std::move(f)); }

  friend bool operator==(const schema&, const schema&) = default;

 private:
  std::vector<field> fields_;
};

}  // namespace ftq
