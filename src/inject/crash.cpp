#include "inject/crash.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace ftq::inject {

void crash_now(std::string_view why) noexcept {
  // One write(2), so the line is not interleaved with other threads' output; its result is
  // ignored on purpose: the process dies either way.
  std::string line = "ftq: injected crash: ";
  line.append(why);
  line += '\n';
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  ::raise(SIGKILL);
  // SIGKILL cannot be caught or blocked; this only satisfies [[noreturn]].
  std::abort();
}

}  // namespace ftq::inject
