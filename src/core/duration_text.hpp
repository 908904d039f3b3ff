#pragma once
/// Numbers and durations as people write them in specs and flags: parse_count reads a whole
/// non-negative number ("42", nothing else around it). Durations: parse_duration reads "500ms", "2s", "1m", "1500us",
/// "7ns", "1h" (a positive whole number and one unit); exact_duration_text writes one back in the largest unit that
/// keeps it exact (parse_duration reads it back equal); duration_text writes one for messages, readable and rounded
/// ("35ms", "1.5s", "2m30s").

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ftq {

std::optional<std::uint64_t> parse_count(std::string_view text);
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text);
std::string exact_duration_text(std::chrono::nanoseconds d);
std::string duration_text(std::chrono::nanoseconds d);

}  // namespace ftq
