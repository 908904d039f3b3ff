#pragma once
/// Runs `ftq-bench recovery` (docs/benchmarks.md): what injected failures cost a query with
/// checkpoints and without, and what checkpointing costs a fault-free run. Takes the
/// subcommand's arguments (argv[0] is "recovery"); prints a table, optionally writes JSON, and
/// returns the exit code: 0, 1 when a run failed or its result differed from the fault-free
/// one, 2 on bad usage.

namespace ftq::bench {

int recovery_command(int argc, char** argv);

}  // namespace ftq::bench
