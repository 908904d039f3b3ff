#pragma once
/// Builds the pieces of plan_error messages shared by the JSON reader and the binder.

#include <string>
#include <string_view>

#include <ftq/error.hpp>

namespace ftq::plan_detail {

[[noreturn]] inline void fail(const std::string& path, std::string message) {
  throw plan_error(path, std::move(message));
}

/// 's' quoted with single quotes, as messages name columns and tables.
inline std::string in_quotes(std::string_view s) {
  // Appended piecewise: GCC 12 flags the char + string concatenation with a false -Wrestrict.
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

}  // namespace ftq::plan_detail
