#pragma once
// Plans, data and result rendering shared by the engine tests (checkpoints, fault tolerance).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/plan.hpp>

namespace ftq::test {

/// Table "t": k = i * 7919 % groups (so a group's rows are spread over the input), v = i * 0.5,
/// s = "s<i % 7>" (tests/support/kvs_table.hpp); batches of 1000.
table_ptr make_engine_table(std::size_t rows, std::int64_t groups);

/// Plans over table "t" whose root emits nothing until its input is exhausted (an aggregate,
/// top_k, a join feeding an aggregate, a sort under a limit), so a checkpoint taken while the
/// input streams holds the whole query's progress.
std::vector<plan> blocking_plans();
/// A plan whose rows stream through to the root (filter, project, no blocking operator).
plan streaming_plan();

/// The result as text, a line per row, cells comma-terminated.
std::string render(const query_result& r);

/// Checkpoint options for tests: no key from the environment, backend chosen as in production.
/// With FTQ_TEST_RADOS=rados://POOL set (and CEPH_CONF), the store is instead a RADOS prefix of
/// its own for `dir` (the same one for every call with the same `dir` in this process, another
/// one in every other process), over one connection the whole process shares; `dir` itself then
/// stays unused.
checkpoint_options checkpoint_options_for(const std::filesystem::path& dir);
/// Regular files under `dir`, recursively (0 if it does not exist). For a `dir` (or a path under
/// one) that checkpoint_options_for() put on RADOS: the checkpoint files of its prefix (manifest
/// entries), plus one per file a crashed writer left (unreferenced chunks).
std::size_t files_in(const std::filesystem::path& dir);

}  // namespace ftq::test
