#pragma once
/// Splits a request target ("/failures?query=q1&limit=5") into its path, kept as sent (routes
/// match it exactly), and its query parameters, names and values percent-decoded ('+' is a space,
/// as HTML forms send it). A malformed escape makes the whole target a bad request.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ftq::status {

struct request_target {
  std::string_view path;                                    // points into the target given to parse_target
  std::vector<std::pair<std::string, std::string>> params;  // in order, repeats kept
  std::string error;                                        // why the target is malformed; empty when it is not

  /// The value of the last parameter called `name` (a repeat overrides), or null.
  const std::string* find(std::string_view name) const noexcept;
};

request_target parse_target(std::string_view target);

/// Percent-decodes `text` ('+' as a space); nullopt for a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace ftq::status
