// ftq: the command-line front end. Dispatches to one subcommand; see `ftq --help`.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "cli/commands.hpp"

namespace {

constexpr const char* usage_text =
    "usage: ftq COMMAND [OPTIONS]\n"
    "\n"
    "Runs query plans as coroutines over columnar batches.\n"
    "\n"
    "commands:\n"
    "  gen          write the deterministic TPC-H-like lineitem.csv and orders.csv\n"
    "  run          run a JSON plan and write its result as CSV (resumes from its checkpoints)\n"
    "  demo         generate data, run the five example queries at once with injected\n"
    "               failures and a crash, resume, verify every result\n"
    "  checkpoints  list (and --verify) the checkpoints in a directory or a RADOS store\n"
    "  worker       run the queries submitted to a RADOS checkpoint store, sharing them with\n"
    "               other workers (leases, takeover of a dead worker's queries, fencing)\n"
    "  submit       record a query in a RADOS checkpoint store for the workers to run\n"
    "  status       show the queries of a RADOS checkpoint store: state, owner, takeovers\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help (ftq COMMAND --help shows a command's flags)\n"
    "  --version      show the version\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 bad usage, 3 bad plan, 130 or 143 stopped by\n"
    "SIGINT or SIGTERM (run the same command to resume)\n";

}  // namespace

int main(int argc, char** argv) {
  // librados writes to its admin socket with write(2): a peer that went away must be an EPIPE it
  // handles, not a signal that kills a worker holding leases (Ceph's own daemons ignore it too).
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    std::fputs(usage_text, stderr);
    return ftq::cli::exit_usage;
  }
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(usage_text, stdout);
    return ftq::cli::exit_ok;
  }
  if (command == "--version") {
    std::puts("ftq " FTQ_VERSION);
    return ftq::cli::exit_ok;
  }
  if (command == "gen")
    return ftq::cli::gen_command(argc - 1, argv + 1);
  if (command == "run")
    return ftq::cli::run_command(argc - 1, argv + 1);
  if (command == "demo")
    return ftq::cli::demo_command(argc - 1, argv + 1);
  if (command == "checkpoints")
    return ftq::cli::checkpoints_command(argc - 1, argv + 1);
  if (command == "worker")
    return ftq::cli::worker_command(argc - 1, argv + 1);
  if (command == "submit")
    return ftq::cli::submit_command(argc - 1, argv + 1);
  if (command == "status")
    return ftq::cli::cluster_status_command(argc - 1, argv + 1);
  std::fprintf(stderr, "ftq: unknown command '%s'\n\n%s", argv[1], usage_text);
  return ftq::cli::exit_usage;
}
