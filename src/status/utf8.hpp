#pragma once
/// Checks and repairs UTF-8. JSON and Prometheus label values must be UTF-8, but what the
/// endpoint echoes (a request path, an error message, a file name in a plan) may be any bytes:
/// each byte that does not begin a well-formed sequence (RFC 3629: no overlongs, surrogates or
/// code points past U+10FFFF) becomes U+FFFD, so a reader sees where it was.

#include <string>
#include <string_view>

namespace ftq::status {

bool valid_utf8(std::string_view s) noexcept;

/// Appends `s` to `out` with every invalid byte replaced by U+FFFD (EF BF BD).
void append_repaired_utf8(std::string& out, std::string_view s);

}  // namespace ftq::status
