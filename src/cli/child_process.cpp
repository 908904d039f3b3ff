#include "cli/child_process.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include <ftq/error.hpp>

namespace ftq::cli {

child_outcome run_self(const std::vector<std::string>& args, const std::filesystem::path& log) {
  // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
  std::string self = "/proc/self/exe";
  std::vector<std::string> text{"ftq"};
  text.insert(text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : text) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  const std::string log_path = log.string();
  const pid_t pid = ::fork();
  if (pid < 0) {
    throw error(errc::internal, "fork: " + std::generic_category().message(errno));
  }
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0 || ::dup2(fd, STDERR_FILENO) < 0) {
      ::_exit(126);
    }
    ::execv(self.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      throw error(errc::internal, "waitpid: " + std::generic_category().message(errno));
    }
  }
  child_outcome o;
  if (WIFEXITED(status)) {
    o.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    o.signal = WTERMSIG(status);
  }
  std::ifstream in(log, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  o.log = s.str();
  return o;
}

}  // namespace ftq::cli
