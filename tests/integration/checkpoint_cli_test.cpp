// Checkpoints from the command line: `ftq run --checkpoint-dir` takes them while the query runs
// and cleans up (or keeps the last N), `ftq checkpoints DIR [--verify]` lists and checks them,
// encryption keys are checked, and bad flag combinations are refused.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "support/cli_runner.hpp"
#include "support/temp_dir.hpp"

namespace {

using ftq::test::q;
using ftq::test::run_ftq;

std::size_t count_checkpoint_files(const std::filesystem::path& dir) {
  std::size_t n = 0;
  if (!std::filesystem::exists(dir)) {
    return 0;
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    n += e.path().extension() == ".ckpt" ? 1 : 0;
  }
  return n;
}

std::filesystem::path newest_checkpoint(const std::filesystem::path& dir) {
  std::filesystem::path newest;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.path().extension() == ".ckpt" && (newest.empty() || e.path().filename() > newest.filename())) {
      newest = e.path();
    }
  }
  return newest;
}

/// Data and the q1 example plan, generated once per test.
struct workspace {
  ftq::test::temp_dir dir{"ftq-ckpt-cli"};
  std::filesystem::path data = dir / "data";
  std::filesystem::path plan;
  workspace() {
    REQUIRE(run_ftq("gen --rows 60000 --seed 42 --out " + q(data)).status == 0);
    plan = std::filesystem::path(std::getenv("FTQ_SOURCE_ROOT")) / "examples/plans/q1.json";
  }
  std::string run_args(const std::string& out) const {
    return "run " + q(plan) + " --data " + q(data) + " --out " + q(dir / out) + " --progress never --batch-rows 1000";
  }
};

}  // namespace

TEST_CASE("ftq run takes checkpoints and deletes them on success; --keep-checkpoints keeps the last N") {
  workspace w;
  auto plain = run_ftq(w.run_args("plain.csv"));
  REQUIRE(plain.status == 0);

  auto cleaned = run_ftq(w.run_args("a.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --checkpoint-every 10000");
  REQUIRE_MESSAGE(cleaned.status == 0, cleaned.out);
  CHECK(ftq::test::read_file(w.dir / "a.csv") == ftq::test::read_file(w.dir / "plain.csv"));
  CHECK(cleaned.out.find("checkpoints (0 failed)") != std::string::npos);
  CHECK(count_checkpoint_files(w.dir / "ck") == 0);

  auto kept = run_ftq(w.run_args("b.csv") + " --checkpoint-dir " + q(w.dir / "ck2") +
                      " --checkpoint-every 10000 --keep 3 --keep-checkpoints --compression lz4");
  REQUIRE_MESSAGE(kept.status == 0, kept.out);
  CHECK(ftq::test::read_file(w.dir / "b.csv") == ftq::test::read_file(w.dir / "plain.csv"));
  CHECK(count_checkpoint_files(w.dir / "ck2") >= 3);

  auto list = run_ftq("checkpoints " + q(w.dir / "ck2"));
  REQUIRE_MESSAGE(list.status == 0, list.out);
  CHECK(list.out.find("query") != std::string::npos);
  CHECK(list.out.find("q1-") != std::string::npos);  // the default id: plan name and hash
  CHECK(list.out.find("lz4") != std::string::npos);

  auto verify = run_ftq("checkpoints " + q(w.dir / "ck2") + " --verify");
  CHECK_MESSAGE(verify.status == 0, verify.out);
  CHECK(verify.out.find(" 0 failed") != std::string::npos);

  // A damaged file: --verify names it and exits 1.
  const std::filesystem::path victim = newest_checkpoint(w.dir / "ck2");
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(victim) / 2));
    f.put('\x5a');
  }
  auto damaged = run_ftq("checkpoints " + q(w.dir / "ck2") + " --verify");
  CHECK(damaged.status == 1);
  CHECK(damaged.out.find("FAILED") != std::string::npos);
  CHECK(damaged.out.find(victim.filename().string()) != std::string::npos);
}

TEST_CASE("ftq run --encrypt-key-file wants a 0600 key; ftq checkpoints verifies with it") {
  workspace w;
  const std::filesystem::path key = w.dir / "key.hex";
  std::ofstream(key) << std::string(64, 'c') << "\n";
  ::chmod(key.c_str(), 0644);
  auto loose = run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --encrypt-key-file " + q(key));
  CHECK(loose.status == 1);
  CHECK(loose.out.find("0600") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(w.dir / "r.csv"));

  ::chmod(key.c_str(), 0600);
  auto ok = run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --encrypt-key-file " + q(key) +
                    " --checkpoint-every 20000 --keep-checkpoints");
  REQUIRE_MESSAGE(ok.status == 0, ok.out);
  auto list = run_ftq("checkpoints " + q(w.dir / "ck"));
  CHECK(list.out.find("yes") != std::string::npos);  // the enc column
  auto without_key = run_ftq("checkpoints " + q(w.dir / "ck") + " --verify");
  CHECK(without_key.status == 0);
  CHECK(without_key.out.find("tag not checked") != std::string::npos);
  auto with_key = run_ftq("checkpoints " + q(w.dir / "ck") + " --verify --key-file " + q(key));
  CHECK(with_key.status == 0);
  CHECK(with_key.out.find("tag not checked") == std::string::npos);

  const std::filesystem::path other = w.dir / "other.hex";
  std::ofstream(other) << std::string(64, 'd') << "\n";
  ::chmod(other.c_str(), 0600);
  auto wrong = run_ftq("checkpoints " + q(w.dir / "ck") + " --verify --key-file " + q(other));
  CHECK(wrong.status == 1);
  CHECK(wrong.out.find("encrypted with key id") != std::string::npos);
}

TEST_CASE("checkpoint flags are checked before anything runs") {
  workspace w;
  CHECK(run_ftq(w.run_args("r.csv") + " --checkpoint-every 100").status == 2);  // no --checkpoint-dir
  CHECK(run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") +
                " --checkpoint-every 100 --checkpoint-interval 1s")
            .status == 2);
  auto unit = run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --checkpoint-interval 5");
  CHECK(unit.status == 2);
  CHECK(unit.out.find("unit") != std::string::npos);
  CHECK(run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --compression zip").status == 2);
  CHECK(run_ftq("checkpoints " + q(w.dir / "nowhere")).status == 1);
  auto interval = run_ftq(w.run_args("r.csv") + " --checkpoint-dir " + q(w.dir / "ck") + " --checkpoint-interval 1ms");
  CHECK_MESSAGE(interval.status == 0, interval.out);
}
