#pragma once
/// Declares the ftq subcommands. Each parses its own flags (Boost.Program_options), prints its
/// own --help, and returns the process exit code: 0 success, 1 the work failed, 2 bad usage,
/// 3 a bad plan.

namespace ftq::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_bad_plan = 3;

int gen_command(int argc, char** argv);
int run_command(int argc, char** argv);
int demo_command(int argc, char** argv);
int checkpoints_command(int argc, char** argv);
int worker_command(int argc, char** argv);
int submit_command(int argc, char** argv);
/// `ftq status`: the queries of a shared RADOS checkpoint store.
int cluster_status_command(int argc, char** argv);

}  // namespace ftq::cli
