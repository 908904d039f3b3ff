#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <optional>

#include "checkpoint/manager_impl.hpp"
#include "checkpoint/query_checkpoints.hpp"
#include "io/file_store.hpp"
#include "support/checkpoint_store_fixture.hpp"
#include "support/crash_simulator.hpp"
#include "support/fault_schedule.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "support/vector_state.hpp"

namespace {

using ftq::checkpoint::query_checkpoints;
using ftq::checkpoint::state_ref;
using ftq::test::checkpoint_store_fixture;
using ftq::test::run_coro_on;
using ftq::test::vector_state;
namespace asio = boost::asio;

std::array<unsigned char, 32> hash_of(unsigned char seed) {
  std::array<unsigned char, 32> h{};
  h.fill(seed);
  return h;
}

/// Two operators' states, as a query would hand them over.
struct two_states {
  vector_state a;
  vector_state b;
  std::vector<state_ref> refs() { return {{0, &a}, {1, &b}}; }
};

/// Stores this machine can run: threads always, io_uring when the probe passes, RADOS when
/// FTQ_TEST_RADOS names a cluster (tests/rados/with-cluster.sh).
std::vector<std::string> store_kinds() { return ftq::test::checkpoint_store_kinds(); }

/// Local directory stores only (io_uring when the probe passes), for the tests that are about a
/// local file system.
std::vector<std::string> local_kinds() {
  std::vector<std::string> out;
  for (auto& k : store_kinds()) {
    if (k != "rados") {
      out.push_back(k);
    }
  }
  return out;
}

ftq::checkpoint_options options_for(const std::filesystem::path& dir, const std::string& backend) {
  ftq::checkpoint_options o;
  o.dir = dir;
  o.io_backend = backend;
  o.key_env.clear();
  return o;
}

/// Restores the newest valid checkpoint into fresh states; returns them and the report.
std::pair<two_states, ftq::checkpoint::restore_report> restore_fresh(asio::io_context& io, ftq::checkpoint_manager& m,
                                                                     const std::string& id,
                                                                     std::array<unsigned char, 32> hash) {
  auto restored = std::make_shared<two_states>();
  auto report = run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<ftq::checkpoint::restore_report> {
    query_checkpoints q(m, id, hash);
    co_return co_await q.restore([&] {
      *restored = two_states{};
      return restored->refs();
    });
  });
  return {std::move(*restored), std::move(report)};
}

/// Commits `s` once as query `id` of plan `seed` through `m`.
ftq::checkpoint::commit_report commit_once(asio::io_context& io, ftq::checkpoint_manager& m, two_states& s,
                                           unsigned char seed, const std::string& id = "q") {
  return run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<ftq::checkpoint::commit_report> {
    query_checkpoints q(m, id, hash_of(seed));
    co_return co_await q.commit(s.refs());
  });
}

/// Appends 0, 1, ... to `s.a`, committing after each, `rounds` times, through one query stream
/// (so deltas chain); then, if `finish`, ends the query as succeeded.
void commit_rounds(asio::io_context& io, ftq::checkpoint_manager& m, two_states& s, unsigned char seed, int rounds,
                   bool finish) {
  run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
    query_checkpoints q(m, "q", hash_of(seed));
    for (int round = 0; round < rounds; ++round) {
      s.a.append(round);
      co_await q.commit(s.refs());
    }
    if (finish) {
      co_await q.finish(true);
    }
  });
}

/// Commits a state holding just `value` as query "q" of plan `seed`, through a manager of its own
/// made from `o` (gone again when this returns, as after a restart).
void commit_value(asio::io_context& io, const ftq::checkpoint_options& o, std::int64_t value, unsigned char seed) {
  ftq::checkpoint_manager m(io.get_executor(), o);
  two_states s;
  s.a.append(value);
  commit_once(io, m, s, seed);
}

/// Writes a key file of 64 copies of hex digit `digit`, mode 0600.
void write_key(const std::filesystem::path& path, char digit) {
  std::ofstream(path) << std::string(64, digit) << "\n";
  ::chmod(path.c_str(), 0600);
}

}  // namespace

TEST_CASE("a committed checkpoint restores exactly, on every backend and codec, encrypted or not") {
  for (const auto& kind : store_kinds()) {
    for (auto codec :
         {ftq::checkpoint_compression::none, ftq::checkpoint_compression::lz4, ftq::checkpoint_compression::zstd}) {
      for (bool encrypted : {false, true}) {
        CAPTURE(kind);
        CAPTURE(static_cast<int>(codec));
        CAPTURE(encrypted);
        checkpoint_store_fixture store(kind);
        const auto& tmp = store.tmp();
        auto o = store.options();
        o.compression = codec;
        if (encrypted) {
          write_key(tmp / "key", 'a');
          o.key_file = tmp / "key";
        }
        asio::io_context io;
        ftq::checkpoint_manager m(io.get_executor(), o);
        CHECK(m.encrypts() == encrypted);
        CHECK(m.backend() == store.backend_name());
        two_states s;
        for (int i = 0; i < 1000; ++i) {
          s.a.append(i * 3);
        }
        s.b.append(-7);
        auto report = commit_once(io, m, s, 1, "q1");
        CHECK(report.info.epoch == 1);
        CHECK_FALSE(report.info.delta);
        CHECK(report.info.encrypted == encrypted);
        CHECK(report.info.raw_bytes > 8000);
        CHECK(report.info.path == store.query_dir("q1") / "0000000000000001.ckpt");
        CHECK(store.bytes(io, m, report.info.path).size() == report.info.stored_bytes);
        if (!store.on_rados()) {
          CHECK(std::filesystem::file_size(report.info.path) == report.info.stored_bytes);
        }
        auto [restored, r] = restore_fresh(io, m, "q1", hash_of(1));
        REQUIRE(r.restored.has_value());
        CHECK(r.restored->epoch == 1);
        CHECK(r.skipped.empty());
        CHECK(restored.a.values == s.a.values);
        CHECK(restored.b.values == s.b.values);
      }
    }
  }
}

// Local only: file modes belong to a local file system (a RADOS pool's access is its cluster's).
TEST_CASE("checkpoint files are created 0600 in directories 0700") {
  ftq::test::temp_dir tmp;
  asio::io_context io;
  ftq::checkpoint_manager m(io.get_executor(), options_for(tmp / "ck", "threads"));
  two_states s;
  s.a.append(1);
  auto report = run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<ftq::checkpoint::commit_report> {
    co_await m.open();
    query_checkpoints q(m, "q1", hash_of(1));
    co_return co_await q.commit(s.refs());
  });
  struct stat st {};
  REQUIRE(::stat(report.info.path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((tmp / "ck").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((tmp / "ck" / "q1").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("deltas chain to a full checkpoint and restore replays base plus deltas") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    auto o = store.options();
    o.keep = 1;
    o.max_deltas = 3;
    o.max_chain_ratio = 100.0;
    ftq::checkpoint_manager m(io.get_executor(), o);
    two_states s;
    for (int i = 0; i < 10000; ++i) {
      s.a.append(i);
    }
    std::vector<ftq::checkpoint::commit_report> reports;
    std::vector<std::int64_t> at_last_commit;
    run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(m, "q", hash_of(2));
      for (int round = 0; round < 6; ++round) {
        reports.push_back(co_await q.commit(s.refs()));
        at_last_commit = s.a.values;
        s.a.set(static_cast<std::size_t>(round) * 100, -round - 1);  // changes an old entry
        s.a.append(100000 + round);                                  // and adds one
      }
    });
    // Epoch 1 full, 2-4 deltas (max_deltas 3), 5 full again, 6 delta.
    REQUIRE(reports.size() == 6);
    CHECK_FALSE(reports[0].info.delta);
    CHECK(reports[1].info.delta);
    CHECK(reports[3].info.delta);
    CHECK(reports[3].info.parent_epoch == 3);
    CHECK(reports[3].info.base_epoch == 1);
    CHECK_FALSE(reports[4].info.delta);
    CHECK(reports[5].info.delta);
    // A delta of one change and one append is a tiny fraction of the full 80 KB state.
    CHECK(reports[1].info.raw_bytes * 50 < reports[0].info.raw_bytes);
    // keep = 1: only epoch 6's chain (5 full, 6 delta) remains.
    CHECK(store.epochs("q") == std::vector<std::uint64_t>{5, 6});
    auto [restored, r] = restore_fresh(io, m, "q", hash_of(2));
    REQUIRE(r.restored.has_value());
    CHECK(r.restored->epoch == 6);
    CHECK(restored.a.values == at_last_commit);
  }
}

TEST_CASE("a full checkpoint is forced once the deltas outweigh the bound") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    auto o = store.options();
    o.max_deltas = 100;
    o.max_chain_ratio = 0.5;
    o.compression = ftq::checkpoint_compression::none;
    ftq::checkpoint_manager m(io.get_executor(), o);
    two_states s;
    for (int i = 0; i < 1000; ++i) {
      s.a.append(i);
    }
    std::vector<bool> delta;
    run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(m, "q", hash_of(3));
      for (int round = 0; round < 8; ++round) {
        auto r = co_await q.commit(s.refs());
        delta.push_back(r.info.delta);
        for (int i = 0; i < 200; ++i) {
          s.a.append(i);  // each delta carries 200 of the 1000+ values: ~20% of a full one
        }
      }
    });
    // full, delta, delta, (chain now > 0.5 x base) full, ...
    CHECK(delta == std::vector<bool>{false, true, true, true, false, true, true, true});
  }
}

TEST_CASE("retention keeps exactly the last N complete checkpoints and no orphan") {
  for (const auto& kind : store_kinds()) {
    for (std::size_t keep : {1u, 2u, 3u}) {
      CAPTURE(kind);
      CAPTURE(keep);
      checkpoint_store_fixture store(kind);
      asio::io_context io;
      auto o = store.options();
      o.keep = keep;
      o.max_deltas = 2;
      ftq::checkpoint_manager m(io.get_executor(), o);
      two_states s;
      commit_rounds(io, m, s, 4, 10, false);
      // Epochs: 1F 2d 3d 4F 5d 6d 7F 8d 9d 10F.
      const std::vector<std::vector<std::uint64_t>> expected = {{10}, {7, 8, 9, 10}, {7, 8, 9, 10}};
      CHECK(store.epochs("q") == expected[keep - 1]);
      // No orphan anywhere: no temp file, no chunk object that no manifest entry references.
      CHECK(store.strays().empty());
    }
  }
}

TEST_CASE("a corrupt or truncated newest checkpoint is skipped with its reason; the one before is used") {
  for (const auto& kind : store_kinds()) {
    for (int damage = 0; damage < 2; ++damage) {
      CAPTURE(kind);
      CAPTURE(damage);
      checkpoint_store_fixture store(kind);
      asio::io_context io;
      auto o = store.options();
      o.incremental = false;
      std::vector<std::string> log;
      o.log = [&](std::string_view line) { log.emplace_back(line); };
      ftq::checkpoint_manager m(io.get_executor(), o);
      two_states s;
      std::vector<std::filesystem::path> paths;
      run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
        query_checkpoints q(m, "q", hash_of(5));
        s.a.append(1);
        paths.push_back((co_await q.commit(s.refs())).info.path);
        s.a.append(2);
        paths.push_back((co_await q.commit(s.refs())).info.path);
      });
      const std::size_t size = store.bytes(io, m, paths[1]).size();
      if (damage == 0) {
        store.flip_byte(io, m, paths[1], size / 2);
      } else {
        store.truncate(io, m, paths[1], size - 3);
      }
      auto [restored, r] = restore_fresh(io, m, "q", hash_of(5));
      REQUIRE(r.restored.has_value());
      CHECK(r.restored->epoch == 1);
      CHECK(restored.a.values == std::vector<std::int64_t>{1});
      REQUIRE(r.skipped.size() == 1);
      CHECK(r.skipped[0].info.epoch == 2);
      CHECK((r.skipped[0].error == ftq::errc::checkpoint_corrupt));
      CHECK(r.skipped[0].message.find(paths[1].string()) != std::string::npos);
      bool logged = false;
      for (const auto& line : log) {
        logged = logged || line.find("skipping") != std::string::npos;
      }
      CHECK(logged);
    }
  }
}

TEST_CASE("a delta whose base is damaged takes its whole chain out; an older intact chain is used") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    auto o = store.options();
    o.keep = 3;
    o.max_deltas = 1;
    ftq::checkpoint_manager m(io.get_executor(), o);
    two_states s;
    std::vector<std::filesystem::path> paths;
    run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(m, "q", hash_of(6));
      for (int round = 1; round <= 4; ++round) {  // 1F 2d 3F 4d
        s.a.append(round);
        paths.push_back((co_await q.commit(s.refs())).info.path);
      }
    });
    store.flip_byte(io, m, paths[2], store.bytes(io, m, paths[2]).size() - 20);  // epoch 3, the base of 4
    auto [restored, r] = restore_fresh(io, m, "q", hash_of(6));
    REQUIRE(r.restored.has_value());
    CHECK(r.restored->epoch == 2);
    CHECK(restored.a.values == std::vector<std::int64_t>{1, 2});
    CHECK(r.skipped.size() == 2);  // 4 (its base is bad) and 3
  }
}

TEST_CASE("a checkpoint of another plan is refused, not restored") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    ftq::checkpoint_manager m(io.get_executor(), store.options());
    two_states s;
    s.a.append(9);
    commit_once(io, m, s, 7);
    try {
      (void)restore_fresh(io, m, "q", hash_of(8));
      FAIL("restored another plan's checkpoint");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_plan_mismatch));
      CHECK(e.path().find("0000000000000001.ckpt") != std::string::npos);
      CHECK(e.epoch() == 1);
    }
  }
}

TEST_CASE("a wrong or missing key is a clear error, never garbage") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    const auto& tmp = store.tmp();
    write_key(tmp / "key1", '1');
    write_key(tmp / "key2", '2');
    asio::io_context io;
    auto o = store.options();
    o.key_file = tmp / "key1";
    commit_value(io, o, 42, 9);
    o.key_file = tmp / "key2";
    ftq::checkpoint_manager wrong(io.get_executor(), o);
    try {
      (void)restore_fresh(io, wrong, "q", hash_of(9));
      FAIL("restored with the wrong key");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_wrong_key));
    }
    o.key_file.clear();
    ftq::checkpoint_manager none(io.get_executor(), o);
    try {
      (void)restore_fresh(io, none, "q", hash_of(9));
      FAIL("restored without a key");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_key_missing));
    }
  }
}

TEST_CASE("open() sweeps temp files a crashed commit left, and list() reads headers") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    std::vector<std::string> log;
    auto o = store.options();
    o.log = [&](std::string_view line) { log.emplace_back(line); };
    ftq::checkpoint_manager m(io.get_executor(), o);
    two_states s;
    s.a.append(5);
    run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
      query_checkpoints q(m, "q", hash_of(10));
      co_await q.commit(s.refs());
      co_await q.commit(s.refs());
    });
    const std::string q_dir = store.query_dir("q").generic_string();
    if (!store.on_rados()) {
      store.plant("q/0000000000000003.ckpt.tmp-crashed", "torn");
      store.plant("stray.tmp-1", "torn");
    } else {
      // What crashed writers leave in RADOS: the chunks of a commit that died before its
      // manifest operation, and the old chunk of a replaced entry that was never deleted.
      store.plant(q_dir + "/0000000000000003.ckpt@777777-1.0", "torn");
      store.plant(q_dir + "/0000000000000003.ckpt@777777-1.1", "torn");
      store.plant(q_dir + "/0000000000000001.ckpt@777777-2.0", "stale");
    }
    CHECK(store.strays().size() == (store.on_rados() ? 3u : 2u));
    auto infos = run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<std::vector<ftq::checkpoint_info>> {
      // Locally the root's own temp file; a RADOS prefix is a name space no commit lands in.
      CHECK(co_await m.open() == (store.on_rados() ? 0u : 1u));
      query_checkpoints q(m, "q", hash_of(10));
      co_await q.open();  // and the query's
      co_return co_await m.list("");
    });
    if (!store.on_rados()) {
      CHECK_FALSE(std::filesystem::exists(store.root() / "stray.tmp-1"));
      CHECK_FALSE(std::filesystem::exists(store.root() / "q" / "0000000000000003.ckpt.tmp-crashed"));
    }
    CHECK(store.strays().empty());
    CHECK(store.epochs("q") == std::vector<std::uint64_t>{1, 2});
    std::size_t removed = 0;
    for (const auto& line : log) {
      removed += line.find("removed what a crashed commit left") != std::string::npos ? 1 : 0;
    }
    CHECK(removed == (store.on_rados() ? 3u : 2u));
    REQUIRE(infos.size() == 2);
    CHECK(infos[0].epoch == 2);
    CHECK(infos[0].delta);
    CHECK(infos[1].epoch == 1);
    CHECK(infos[0].query_id == "q");
    CHECK(infos[0].backend == store.backend_name());
    // The referenced data survived the sweep.
    auto [restored, r] = restore_fresh(io, m, "q", hash_of(10));
    REQUIRE(r.restored.has_value());
    CHECK(r.restored->epoch == 2);
    CHECK(restored.a.values == std::vector<std::int64_t>{5});
  }
}

TEST_CASE("finish() deletes a succeeded query's checkpoints unless told to retain them") {
  for (const auto& kind : store_kinds()) {
    for (bool retain : {false, true}) {
      CAPTURE(kind);
      CAPTURE(retain);
      checkpoint_store_fixture store(kind);
      asio::io_context io;
      auto o = store.options();
      o.retain_on_success = retain;
      o.incremental = false;
      ftq::checkpoint_manager m(io.get_executor(), o);
      two_states s;
      commit_rounds(io, m, s, 11, 4, true);
      if (retain) {
        CHECK(store.epochs("q") == std::vector<std::uint64_t>{3, 4});
      } else {
        CHECK(store.epochs("q").empty());
      }
      CHECK(store.strays().empty());
    }
  }
}

TEST_CASE("query ids must be usable as directory names") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    ftq::checkpoint_manager m(io.get_executor(), store.options());
    for (const std::string& bad : std::vector<std::string>{"", "..", "a/b", "q 1", std::string(129, 'x')}) {
      CAPTURE(bad);
      CHECK_THROWS_AS(query_checkpoints(m, bad, hash_of(1)), std::invalid_argument);
    }
    CHECK_NOTHROW(query_checkpoints(m, "q1-2026.v_2", hash_of(1)));
  }
}

namespace {

/// Commits state `a` = {1, 2, 3} as epoch 1 with a clean store, for the fault tests below.
void commit_first(asio::io_context& io, ftq::checkpoint_manager& m, two_states& s) {
  s.a.values = {1, 2, 3};
  commit_once(io, m, s, 12);
}

/// After a fault, a fresh manager with a clean store must find the old checkpoint or the new one,
/// intact, and nothing torn: no temp file, no chunk object that no manifest entry references.
void expect_old_or_new(const checkpoint_store_fixture& store, bool committed) {
  asio::io_context io;
  ftq::checkpoint_manager fresh(io.get_executor(), store.options());
  auto [restored, r] = restore_fresh(io, fresh, "q", hash_of(12));
  REQUIRE(r.restored.has_value());
  const std::vector<std::int64_t> old_values{1, 2, 3};
  const std::vector<std::int64_t> new_values{1, 2, 3, 4};
  if (committed) {
    CHECK(restored.a.values == new_values);
  } else {
    CHECK((restored.a.values == old_values || restored.a.values == new_values));
  }
  for (const auto& left : store.strays()) {
    CHECK_MESSAGE(false, "left behind: " << left);
  }
}

/// Routes m's I/O through `faults` (a store of the fixture's kind), then commits `s` with a 4
/// appended: the second epoch. Returns the I/O error the commit failed with, if it did.
std::optional<ftq::io_error> commit_through(asio::io_context& io, ftq::checkpoint_manager& m, two_states& s,
                                            const checkpoint_store_fixture& store,
                                            std::shared_ptr<ftq::io::fault_injector> faults) {
  m.internals().store = store.make_store(io.get_executor(), std::move(faults));
  s.a.append(4);
  try {
    commit_once(io, m, s, 12);
  } catch (const ftq::io_error& e) {
    return e;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("grind: failing each I/O operation of a commit in turn leaves the old or the new checkpoint") {
  for (const auto& kind : store_kinds()) {
    for (int err : {EIO, ENOSPC}) {
      std::size_t n = 1;
      for (;; ++n) {
        CAPTURE(kind);
        CAPTURE(err);
        CAPTURE(n);
        checkpoint_store_fixture store(kind);
        asio::io_context io;
        ftq::checkpoint_manager m(io.get_executor(), store.options());
        two_states s;
        commit_first(io, m, s);
        auto faults = std::make_shared<ftq::test::fault_schedule>(n, err);
        const std::optional<ftq::io_error> failed = commit_through(io, m, s, store, faults);
        const bool committed = !failed;
        if (failed) {
          CHECK_MESSAGE((failed->code() == std::error_condition(err, std::generic_category())), failed->what()
                                                                                                    << "\n"
                                                                                                    << faults->trace());
        }
        CHECK_MESSAGE(committed == !faults->fired(), faults->trace());
        expect_old_or_new(store, committed);
        if (!faults->fired()) {
          break;  // n ran past the last operation: every step has been failed once
        }
      }
      // Locally: open, read the old header, temp open, write, fsync, close, rename, dir fsync...
      // RADOS: manifest and index creation, sweep, list, read the old header, chunk write,
      // manifest read, the manifest operation...
      CHECK(n > 6);
    }
  }
}

// Local only: the simulator models what a local file system keeps of data not yet fsynced. RADOS
// has no such state (an acknowledged write is durable; a commit is one atomic manifest operation):
// what a crash leaves there, chunks no entry references, is swept in the open() test above, and
// tests/integration/crash_resume_test.cpp SIGKILLs real runs on RADOS.
TEST_CASE("crash simulation: losing everything not yet fsynced leaves the old or the new checkpoint") {
  for (const auto& kind : local_kinds()) {
    std::size_t n = 0;
    for (;; ++n) {
      CAPTURE(kind);
      CAPTURE(n);
      checkpoint_store_fixture store(kind);
      asio::io_context io;
      ftq::checkpoint_manager m(io.get_executor(), store.options());
      two_states s;
      commit_first(io, m, s);
      auto machine = std::make_shared<ftq::test::crash_simulator>(store.query_dir("q"));
      machine->stop_after(n);
      const bool committed = !commit_through(io, m, s, store, machine);
      const bool ran_to_end = committed && machine->operations() <= n;
      machine->crash();
      expect_old_or_new(store, ran_to_end);
      if (ran_to_end) {
        break;
      }
    }
    CHECK(n > 6);
  }
}

TEST_CASE("with a key configured, an unencrypted checkpoint is refused as a downgrade") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    const auto& tmp = store.tmp();
    write_key(tmp / "key", '3');
    asio::io_context io;
    auto o = store.options();
    commit_value(io, o, 1, 13);
    o.key_file = tmp / "key";
    ftq::checkpoint_manager keyed(io.get_executor(), o);
    auto [restored, r] = restore_fresh(io, keyed, "q", hash_of(13));
    CHECK_FALSE(r.restored.has_value());
    REQUIRE(r.skipped.size() == 1);
    CHECK((r.skipped[0].error == ftq::errc::checkpoint_tampered));
    CHECK(r.skipped[0].message.find("not encrypted") != std::string::npos);
    CHECK(restored.a.values.empty());
  }
}

TEST_CASE("listing a query that has no checkpoint says so with checkpoint_not_found") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    ftq::checkpoint_manager m(io.get_executor(), store.options());
    two_states s;
    s.a.append(1);
    commit_once(io, m, s, 14, "present");
    CHECK(run_coro_on(io, [&](asio::any_io_executor) { return m.list("present"); }).size() == 1);
    CHECK(run_coro_on(io, [&](asio::any_io_executor) { return m.list(""); }).size() == 1);
    try {
      (void)run_coro_on(io, [&](asio::any_io_executor) { return m.list("absent"); });
      FAIL("listed a query that has no checkpoint");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_not_found));
      CHECK(e.path().find("absent") != std::string::npos);
    }
  }
}

// Local only: EACCES is the local file system's refusal (a RADOS client is refused at connect).
TEST_CASE("a permission error surfaces as EACCES itself") {
  checkpoint_store_fixture store("threads");
  asio::io_context io;
  ftq::checkpoint_manager m(io.get_executor(), store.options());
  two_states s;
  commit_first(io, m, s);
  // Tests run as root, whom the kernel never refuses, so the refusal is injected.
  const std::optional<ftq::io_error> failed =
      commit_through(io, m, s, store, std::make_shared<ftq::test::fault_schedule>(4, EACCES));
  REQUIRE(failed.has_value());
  CHECK((failed->code() == std::errc::permission_denied));
  CHECK(std::string(failed->what()).find("Permission denied") != std::string::npos);
}

TEST_CASE("states are packed and loaded off the executor thread, which stays free for other work") {
  for (const auto& kind : store_kinds()) {
    CAPTURE(kind);
    checkpoint_store_fixture store(kind);
    asio::io_context io;
    ftq::checkpoint_manager m(io.get_executor(), store.options());
    two_states s;
    s.a.values.assign(1 << 20, 7);
    commit_once(io, m, s, 15);  // run_coro_on runs io on this thread
    CHECK(s.a.saved_on != std::thread::id());
    CHECK(s.a.saved_on != std::this_thread::get_id());
    auto [restored, r] = restore_fresh(io, m, "q", hash_of(15));
    REQUIRE(r.restored.has_value());
    CHECK(restored.a.loaded_on != std::this_thread::get_id());
    CHECK(restored.a.values == s.a.values);
  }
}
