#pragma once
// Runs a function in a forked child, for tests of injected crashes: the child's stderr goes to a
// file, an exception or a return ends it with exit status 1 or 0, and the parent gets the wait
// status to check for SIGKILL.

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <stdexcept>

namespace ftq::test {

template <class Body>
int wait_status_of_child(Body&& body, const std::filesystem::path& stderr_file) {
  const pid_t child = ::fork();
  if (child < 0) {
    throw std::runtime_error("fork failed");
  }
  if (child == 0) {
    const int fd = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDERR_FILENO);
    }
    try {
      body();
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
  }
  return status;
}

}  // namespace ftq::test
