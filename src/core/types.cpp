#include <ftq/types.hpp>

namespace ftq {

std::string_view type_name(type_id t) noexcept {
  switch (t) {
    case type_id::int64:
      return "int64";
    case type_id::float64:
      return "float64";
    case type_id::string:
      return "string";
    case type_id::boolean:
      return "boolean";
  }
  return "?";
}

std::optional<type_id> parse_type_name(std::string_view name) noexcept {
  if (name == "int64" || name == "bigint")
    return type_id::int64;
  if (name == "float64" || name == "double")
    return type_id::float64;
  if (name == "string" || name == "varchar")
    return type_id::string;
  return std::nullopt;
}

std::optional<std::size_t> schema::index_of(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name)
      return i;
  }
  return std::nullopt;
}

std::string schema::names_joined() const {
  std::string out;
  for (const auto& f : fields_) {
    if (!out.empty())
      out += ", ";
    out += f.name;
  }
  return out;
}

}  // namespace ftq
