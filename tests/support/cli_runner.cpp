#include "support/cli_runner.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

namespace ftq::test {

outcome run_ftq(const std::string& args) {
  const char* bin = std::getenv("FTQ_BINARY");
  REQUIRE(bin != nullptr);
  const std::string cmd = std::string(bin) + " " + args + " 2>&1";
  outcome o;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    o.out.append(buf, n);
  }
  const int st = ::pclose(p);
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return o;
}

std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace ftq::test
