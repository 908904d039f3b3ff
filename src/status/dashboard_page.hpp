#pragma once
/// Provides the dashboard page (src/status/dashboard/index.html, compiled in) with an ETag
/// computed once from its bytes, and the If-None-Match test that turns a repeated fetch of an
/// unchanged page into a 304.

#include <string>
#include <string_view>

namespace ftq::status {

struct dashboard_page {
  std::string_view html;
  std::string etag;  // quoted, as the ETag header carries it: "\"0123456789abcdef\""
};

/// The page; computed on first use (thread-safe), the same object afterwards.
const dashboard_page& dashboard();

/// Whether an If-None-Match value ("*", or a comma-separated list of entity tags, weak W/ ones
/// included) matches `etag` by the weak comparison RFC 9110 prescribes for it.
bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept;

}  // namespace ftq::status
