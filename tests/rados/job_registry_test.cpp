#include "cluster/job_registry.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ftq/error.hpp>

#include "cluster/lease.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"
#include "rados/test_cluster.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ftq::cluster::job_registry;
using ftq::cluster::job_spec;
using ftq::cluster::lease;
using ftq::cluster::lease_options;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

using ftq::test::rados_cluster::connect;
std::shared_ptr<ftq::rados::connection> conn_a() { return ftq::test::rados_cluster::client_a(); }
std::shared_ptr<ftq::rados::connection> conn_b() { return ftq::test::rados_cluster::client_b(); }
std::string unique_prefix(const std::string& what) { return ftq::test::rados_cluster::unique_prefix("jobs-" + what); }

using ftq::test::rados_cluster::store_on;

asio::awaitable<void> sleep_for(milliseconds d) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex, d);
  co_await t.async_wait(asio::use_awaitable);
}

asio::awaitable<std::shared_ptr<lease>> acquire_polling(std::shared_ptr<ftq::io::rados_store> store, std::string dir,
                                                        std::string worker, lease_options options) {
  const auto until = steady_clock::now() + 10s;
  for (;;) {
    std::shared_ptr<lease> l = co_await lease::try_acquire(store, dir, worker, options);
    if (l || steady_clock::now() >= until) {
      co_return l;
    }
    co_await sleep_for(100ms);
  }
}

job_spec make_spec(const std::string& id, const std::filesystem::path& out) {
  job_spec s;
  s.query_id = id;
  s.plan_json = R"({"plan": {"op": "csv_scan", "path": "t.csv"}})";
  s.plan_name = "q1.json";
  s.data_dir = "/data/tpch";
  s.output_path = out.string();
  s.batch_rows = 4096;
  s.checkpoint_interval = 2500ms;
  s.inject = "csv_scan:fail@3";
  s.submitted_by = "host:42";
  return s;
}

std::string csv_of(int rows, char tag) {
  std::string s = "k,v\n";
  for (int i = 0; i < rows; ++i) {
    s += std::to_string(i) + "," + tag + std::to_string(i * 7) + "\n";
  }
  return s;
}

/// The result chunk objects stored for a query directory.
asio::awaitable<std::vector<std::string>> result_chunks(std::shared_ptr<ftq::rados::connection> c, std::string dir) {
  const std::string prefix = dir + "/" + std::string(ftq::rados::layout::result_name) + "@";
  co_return co_await c->list_objects(prefix);
}

asio::awaitable<void> commit_file(ftq::io::rados_store& store, std::string dir, std::string name, std::string bytes) {
  ftq::io::commit_request req;
  req.dir = dir;
  req.name = name;
  req.buffers.push_back(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  co_await store.commit(req);
}

const std::string q0 = "q0";
const std::string q1 = "q1";
const std::string worker_a = "worker-a";
const std::string worker_b = "worker-b";
const lease_options long_lease{5000ms, 1000ms};

template <class Awaitable>
asio::awaitable<std::optional<std::error_code>> error_of(Awaitable work) {
  try {
    co_await std::move(work);
  } catch (const ftq::error& e) {
    co_return e.code();
  }
  co_return std::nullopt;
}

}  // namespace

TEST_CASE("submit, list and status round trip") {
  const std::string root = unique_prefix("round");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root);
    job_registry jobs(store, root);
    const std::string dir = jobs.dir_of(q1);
    CHECK(dir == root + "/q1");
    const job_spec spec = make_spec(q1, tmp / "out.csv");
    const job_spec spec0 = make_spec(q0, tmp / "out0.csv");
    co_await jobs.submit(spec);
    co_await jobs.submit(spec0);
    const std::vector<std::string> ids = co_await jobs.list();
    CHECK(ids == std::vector<std::string>{"q0", "q1"});

    ftq::cluster::job_status st = co_await jobs.status(q1);
    CHECK(st.query_id == "q1");
    CHECK(st.spec.plan_json == spec.plan_json);
    CHECK(st.spec.plan_name == "q1.json");
    CHECK(st.spec.data_dir == "/data/tpch");
    CHECK(st.spec.output_path == spec.output_path);
    CHECK(st.spec.batch_rows == 4096);
    CHECK(st.spec.checkpoint_interval == 2500ms);
    CHECK(st.spec.inject == "csv_scan:fail@3");
    CHECK(st.spec.submitted_by == "host:42");
    CHECK(std::chrono::abs(st.spec.submitted_at - std::chrono::system_clock::now()) < 10s);
    CHECK(st.owner.state == "queued");
    CHECK(st.owner.owner.empty());
    CHECK(st.owner.history.empty());
    CHECK_FALSE(st.result.has_value());
    CHECK_FALSE(st.last_epoch.has_value());

    // A worker takes it, runs it and checkpoints: status shows all of it.
    auto worker = store_on(ex, conn_b(), root);
    std::shared_ptr<lease> l = co_await lease::try_acquire(worker, dir, worker_b, long_lease);
    REQUIRE(l != nullptr);
    job_registry worker_jobs(worker, root);
    co_await worker_jobs.mark_running(*l);
    const std::string epoch_3 = "0000000000000003.ckpt";
    const std::string epoch_7 = "0000000000000007.ckpt";
    const std::string bytes = "checkpoint bytes";
    co_await commit_file(*worker, dir, epoch_3, bytes);
    co_await commit_file(*worker, dir, epoch_7, bytes);
    st = co_await jobs.status(q1);
    CHECK(st.owner.state == "running");
    CHECK(st.owner.owner == "worker-b");
    CHECK(st.owner.lease_current(std::chrono::system_clock::now()));
    REQUIRE(st.owner.history.size() == 1);
    CHECK(st.owner.history[0].why == "first owner");
    CHECK(st.last_epoch == std::optional<std::uint64_t>(7));
    co_await l->release();

    bool missing = false;
    try {
      const std::string nope = "nope";
      co_await jobs.status(nope);
    } catch (const ftq::io_error& e) {
      missing = e.code() == std::error_code(ENOENT, std::system_category());
    }
    CHECK(missing);
  });
}

TEST_CASE("submit refuses a bad id, a relative output path, and an id whose query has not ended") {
  const std::string root = unique_prefix("refuse");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root);
    job_registry jobs(store, root);
    const std::string dir = jobs.dir_of(q1);
    const job_spec bad_id = make_spec("bad/id", tmp / "o.csv");
    auto bad_id_attempt = error_of(jobs.submit(bad_id));
    std::optional<std::error_code> e = co_await std::move(bad_id_attempt);
    CHECK((e == ftq::make_error_code(ftq::errc::setting_invalid)));
    const job_spec relative = make_spec(q1, "relative/o.csv");
    auto relative_attempt = error_of(jobs.submit(relative));
    e = co_await std::move(relative_attempt);
    CHECK((e == ftq::make_error_code(ftq::errc::setting_invalid)));

    const job_spec first = make_spec(q1, tmp / "o.csv");
    const job_spec second = make_spec(q1, tmp / "other.csv");
    co_await jobs.submit(first);
    auto queued_attempt = error_of(jobs.submit(second));
    e = co_await std::move(queued_attempt);
    CHECK((e == ftq::make_error_code(ftq::errc::setting_invalid)));  // queued

    auto worker = store_on(ex, conn_b(), root);
    std::shared_ptr<lease> l = co_await lease::try_acquire(worker, dir, worker_b, long_lease);
    REQUIRE(l != nullptr);
    job_registry worker_jobs(worker, root);
    co_await worker_jobs.mark_running(*l);
    auto running_attempt = error_of(jobs.submit(second));
    e = co_await std::move(running_attempt);
    CHECK((e == ftq::make_error_code(ftq::errc::setting_invalid)));  // running
    const ftq::cluster::job_status st = co_await jobs.status(q1);
    CHECK(st.spec.output_path == first.output_path);  // the running job is untouched
    CHECK(st.owner.state == "running");
    co_await l->release();
  });
}

TEST_CASE("commit_result commits exactly once: of two racing workers the fenced one is refused and leaves no chunks") {
  const std::string root = unique_prefix("race");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    // Small chunks: each result spans several objects.
    auto store_a = store_on(ex, conn_a(), root, 1000);
    auto store_b = store_on(ex, conn_b(), root, 1000);
    job_registry jobs_a(store_a, root);
    job_registry jobs_b(store_b, root);
    const job_spec spec = make_spec(q1, tmp / "out.csv");
    co_await jobs_a.submit(spec);
    const std::string dir = jobs_a.dir_of(q1);
    const lease_options options{1500ms, 500ms};

    // A takes it, then stalls past its lease (no renewal); B takes it over.
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(a != nullptr);
    co_await jobs_a.mark_running(*a);
    std::shared_ptr<lease> b = co_await acquire_polling(store_b, dir, worker_b, options);
    REQUIRE(b != nullptr);
    co_await jobs_b.mark_running(*b);

    // Both commit at once.
    const std::string csv_a = csv_of(300, 'a');
    const std::string csv_b = csv_of(300, 'b');
    auto commit_a = asio::co_spawn(ex, jobs_a.commit_result(*a, csv_a, 300), asio::deferred);
    auto commit_b = asio::co_spawn(ex, jobs_b.commit_result(*b, csv_b, 300), asio::deferred);
    auto group = asio::experimental::make_parallel_group(std::move(commit_a), std::move(commit_b));
    auto [order, error_a, info_a, error_b, info_b] =
        co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    REQUIRE(error_a != nullptr);
    bool a_fenced = false;
    try {
      std::rethrow_exception(error_a);
    } catch (const ftq::error& e) {
      a_fenced = e.code() == ftq::errc::lease_lost;
    }
    CHECK(a_fenced);
    REQUIRE(error_b == nullptr);
    CHECK(info_b.bytes == csv_b.size());
    CHECK(info_b.rows == 300);
    CHECK(info_b.committed_by == "worker-b");
    CHECK(info_b.sha256.size() == 64);

    // Exactly B's chunks are stored, and the result is B's.
    const std::vector<std::string> chunks = co_await result_chunks(ca, dir);
    CHECK(chunks.size() == (csv_b.size() + 999) / 1000);
    const ftq::cluster::job_status st = co_await jobs_a.status(q1);
    CHECK(st.owner.state == "succeeded");
    REQUIRE(st.result.has_value());
    CHECK(st.result->sha256 == info_b.sha256);
    CHECK(st.result->committed_by == "worker-b");
    REQUIRE(st.owner.history.size() == 3);
    CHECK(st.owner.history[2].from == "worker-b");
    CHECK(st.owner.history[2].to.empty());
    CHECK(st.owner.history[2].why == "succeeded");
    const std::string read_a = co_await jobs_a.read_result(q1);
    CHECK(read_a == csv_b);

    // Nothing ends twice: not even B can commit again, nor fail it.
    auto commit_again = error_of(jobs_b.commit_result(*b, csv_a, 300));
    std::optional<std::error_code> again = co_await std::move(commit_again);
    CHECK((again == ftq::make_error_code(ftq::errc::lease_lost)));
    const std::string why = "too late";
    auto fail_again = error_of(jobs_b.mark_failed(*b, why));
    again = co_await std::move(fail_again);
    CHECK((again == ftq::make_error_code(ftq::errc::lease_lost)));
    const std::vector<std::string> chunks_after = co_await result_chunks(ca, dir);
    CHECK(chunks_after == chunks);
    const std::string read_b = co_await jobs_b.read_result(q1);
    CHECK(read_b == csv_b);
    co_await b->release();
    co_await a->release();
  });
}

TEST_CASE("read_result verifies the committed bytes") {
  const std::string root = unique_prefix("verify");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root, 1000);
    job_registry jobs(store, root);
    const std::string dir = jobs.dir_of(q1);
    const job_spec spec = make_spec(q1, tmp / "out.csv");
    co_await jobs.submit(spec);

    auto early_read = error_of(jobs.read_result(q1));
    std::optional<std::error_code> e = co_await std::move(early_read);
    CHECK((e == ftq::make_error_code(ftq::errc::checkpoint_not_found)));  // nothing committed yet

    std::shared_ptr<lease> l = co_await lease::try_acquire(store, dir, worker_a, long_lease);
    REQUIRE(l != nullptr);
    const std::string csv = csv_of(200, 'x');
    co_await jobs.commit_result(*l, csv, 200);
    co_await l->release();
    const std::string read = co_await jobs.read_result(q1);
    CHECK(read == csv);

    // One changed byte in the second chunk (same length).
    const std::vector<std::string> chunks = co_await result_chunks(ca, dir);
    REQUIRE(chunks.size() >= 2);
    {
      std::string bad = csv.substr(1000, 1000);
      bad[10] = bad[10] == 'Z' ? 'Y' : 'Z';
      librados::ObjectWriteOperation op;
      librados::bufferlist bl;
      bl.append(bad);
      op.write_full(bl);
      const int r = co_await ca->operate(chunks[1], op);
      REQUIRE(r == 0);
    }
    auto corrupt_read = error_of(jobs.read_result(q1));
    e = co_await std::move(corrupt_read);
    CHECK((e == ftq::make_error_code(ftq::errc::checkpoint_corrupt)));
    auto corrupt_delivery = error_of(jobs.deliver(q1));
    e = co_await std::move(corrupt_delivery);
    CHECK((e == ftq::make_error_code(ftq::errc::checkpoint_corrupt)));
    CHECK_FALSE(std::filesystem::exists(tmp / "out.csv"));  // nothing delivered from corrupt bytes

    // A chunk gone.
    {
      librados::ObjectWriteOperation op;
      op.remove();
      const int r = co_await ca->operate(chunks[1], op);
      REQUIRE(r == 0);
    }
    auto chunkless_read = error_of(jobs.read_result(q1));
    e = co_await std::move(chunkless_read);
    CHECK((e == ftq::make_error_code(ftq::errc::checkpoint_corrupt)));
  });
}

TEST_CASE("deliver writes the result atomically, is idempotent, and rewrites a file with wrong bytes") {
  const std::string root = unique_prefix("deliver");
  ftq::test::temp_dir tmp("ftq-jobs");
  const std::filesystem::path out = tmp / "result.csv";
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root);
    job_registry jobs(store, root);
    const std::string dir = jobs.dir_of(q1);
    const job_spec spec = make_spec(q1, out);
    co_await jobs.submit(spec);
    std::shared_ptr<lease> l = co_await lease::try_acquire(store, dir, worker_a, long_lease);
    REQUIRE(l != nullptr);
    const std::string csv = csv_of(1000, 'd');
    co_await jobs.commit_result(*l, csv, 1000);
    co_await l->release();

    bool wrote = co_await jobs.deliver(q1);
    CHECK(wrote);
    CHECK(ftq::test::read_file_or_fail(out) == csv);
    const auto first_write = std::filesystem::last_write_time(out);
    co_await sleep_for(20ms);
    wrote = co_await jobs.deliver(q1);
    CHECK_FALSE(wrote);  // already there: not written again
    CHECK(std::filesystem::last_write_time(out) == first_write);

    ftq::test::write_file(out, csv.substr(0, csv.size() - 1) + "X");  // same length, wrong bytes
    wrote = co_await jobs.deliver(q1);
    CHECK(wrote);
    CHECK(ftq::test::read_file_or_fail(out) == csv);
    ftq::test::write_file(out, "short");
    wrote = co_await jobs.deliver(q1);
    CHECK(wrote);
    CHECK(ftq::test::read_file_or_fail(out) == csv);
    CHECK(tmp.entries() == 1);  // no temp file left beside it
  });
}

TEST_CASE("deliver into a directory that does not exist is an io_error naming the path") {
  const std::string root = unique_prefix("nodir");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root);
    job_registry jobs(store, root);
    const std::string dir = jobs.dir_of(q1);
    const job_spec spec = make_spec(q1, tmp / "missing" / "out.csv");
    co_await jobs.submit(spec);
    std::shared_ptr<lease> l = co_await lease::try_acquire(store, dir, worker_a, long_lease);
    REQUIRE(l != nullptr);
    const std::string csv = "k\n1\n";
    co_await jobs.commit_result(*l, csv, 1);
    co_await l->release();
    bool threw = false;
    try {
      co_await jobs.deliver(q1);
    } catch (const ftq::io_error& e) {
      threw = true;
      CHECK(e.code() == std::error_code(ENOENT, std::system_category()));
      CHECK(e.path().find("missing") != std::string::npos);
    }
    CHECK(threw);
  });
}

TEST_CASE("a failed query reports its error, and resubmitting an ended id replaces it") {
  const std::string root = unique_prefix("replace");
  ftq::test::temp_dir tmp("ftq-jobs");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto ca = conn_a();
    auto store = store_on(ex, conn_a(), root, 1000);
    auto worker = store_on(ex, conn_b(), root, 1000);
    job_registry jobs(store, root);
    job_registry worker_jobs(worker, root);
    const std::string dir = jobs.dir_of(q1);

    // Run 1 fails.
    const job_spec one = make_spec(q1, tmp / "one.csv");
    co_await jobs.submit(one);
    std::shared_ptr<lease> l = co_await lease::try_acquire(worker, dir, worker_b, long_lease);
    REQUIRE(l != nullptr);
    co_await worker_jobs.mark_running(*l);
    const std::string epoch_1 = "0000000000000001.ckpt";
    const std::string bytes = "one";
    co_await commit_file(*worker, dir, epoch_1, bytes);
    const std::string why = "csv_scan: t.csv:3:1: bad value";
    co_await worker_jobs.mark_failed(*l, why);
    const std::string late_csv = "k\n";
    auto late_commit = error_of(worker_jobs.commit_result(*l, late_csv, 0));
    std::optional<std::error_code> e = co_await std::move(late_commit);
    CHECK((e == ftq::make_error_code(ftq::errc::lease_lost)));  // failed is final
    co_await l->release();
    ftq::cluster::job_status st = co_await jobs.status(q1);
    CHECK(st.owner.state == "failed");
    CHECK(st.error == why);
    REQUIRE(st.owner.history.size() == 2);
    CHECK(st.owner.history[1].why == "failed: " + why);
    CHECK(st.last_epoch == std::optional<std::uint64_t>(1));
    l = co_await lease::try_acquire(worker, dir, worker_b, long_lease);
    CHECK(l == nullptr);

    // Run 2 replaces it, and succeeds.
    const job_spec two = make_spec(q1, tmp / "two.csv");
    co_await jobs.submit(two);
    st = co_await jobs.status(q1);
    CHECK(st.owner.state == "queued");
    CHECK(st.owner.history.empty());
    CHECK(st.owner.owner.empty());
    CHECK(st.error.empty());
    CHECK_FALSE(st.last_epoch.has_value());  // run 1's checkpoints are gone
    CHECK(st.spec.output_path == two.output_path);
    l = co_await lease::try_acquire(worker, dir, worker_b, long_lease);
    REQUIRE(l != nullptr);
    CHECK(l->previous_owner().empty());
    const std::string csv2 = csv_of(150, '2');
    co_await worker_jobs.commit_result(*l, csv2, 150);
    co_await l->release();
    const std::vector<std::string> run2_chunks = co_await result_chunks(ca, dir);
    CHECK(run2_chunks.size() == (csv2.size() + 999) / 1000);

    // Run 3 replaces a succeeded one: its result, result chunks and history go.
    const job_spec three = make_spec(q1, tmp / "three.csv");
    co_await jobs.submit(three);
    st = co_await jobs.status(q1);
    CHECK(st.owner.state == "queued");
    CHECK_FALSE(st.result.has_value());
    CHECK(st.owner.history.empty());
    const std::vector<std::string> run3_chunks = co_await result_chunks(ca, dir);
    CHECK(run3_chunks.empty());
    auto replaced_read = error_of(jobs.read_result(q1));
    e = co_await std::move(replaced_read);
    CHECK((e == ftq::make_error_code(ftq::errc::checkpoint_not_found)));
    const std::vector<std::string> ids = co_await jobs.list();
    CHECK(ids == std::vector<std::string>{"q1"});
  });
}
