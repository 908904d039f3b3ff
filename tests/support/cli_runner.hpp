#pragma once
// Runs the ftq binary (FTQ_BINARY) the way a user's shell would, capturing its exit status and
// everything it printed, for the command-line tests.

#include <filesystem>
#include <string>

namespace ftq::test {

struct outcome {
  int status = -1;
  std::string out;  // stdout and stderr together
};

/// Runs `ftq ARGS` through the shell; a process killed by a signal reports status 128.
outcome run_ftq(const std::string& args);
/// Quotes a path for the shell.
std::string q(const std::filesystem::path& p);

}  // namespace ftq::test
