#pragma once
/// Ends the process the way a power cut or the OOM killer would: no destructors, no flushing of
/// buffered output, no atexit handlers. Used by injected crash rules (docs/fault-injection.md).

#include <string_view>

namespace ftq::inject {

/// Writes `why` and a newline to stderr (one unbuffered write), then raises SIGKILL on this
/// process. Never returns.
[[noreturn]] void crash_now(std::string_view why) noexcept;

}  // namespace ftq::inject
