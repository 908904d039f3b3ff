#pragma once
/// Runs this very program (/proc/self/exe) again as a child process with other arguments, its
/// stdout and stderr going to a log file, and waits for it: how `ftq demo` shows a real crash
/// (a child that SIGKILLs itself) and a resume by a fresh process.

#include <filesystem>
#include <string>
#include <vector>

namespace ftq::cli {

struct child_outcome {
  int exit_code = -1;  // when it exited, else -1
  int signal = 0;      // the signal that ended it, else 0
  std::string log;     // what it printed
};

/// Runs `/proc/self/exe ARGS...` and waits for it. Throws ftq::error(errc::internal) when it
/// cannot be started.
child_outcome run_self(const std::vector<std::string>& args, const std::filesystem::path& log);

}  // namespace ftq::cli
