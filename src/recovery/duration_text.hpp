#pragma once
/// Formats a duration for messages in the largest unit that keeps it readable: "0s", "750ns",
/// "35ms", "1.5s", "2m30s". Exact for whole units; otherwise up to three significant decimals.

#include <chrono>
#include <string>

namespace ftq::recovery {

std::string duration_text(std::chrono::nanoseconds d);

}  // namespace ftq::recovery
