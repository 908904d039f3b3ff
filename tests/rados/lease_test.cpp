#include "cluster/lease.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ftq/error.hpp>

#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"
#include "rados/test_cluster.hpp"
#include "support/run_coro.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ftq::cluster::lease;
using ftq::cluster::lease_options;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

using ftq::test::rados_cluster::connect;
std::shared_ptr<ftq::rados::connection> conn_a() { return ftq::test::rados_cluster::client_a(); }
std::shared_ptr<ftq::rados::connection> conn_b() { return ftq::test::rados_cluster::client_b(); }
std::string unique_prefix(const std::string& what) { return ftq::test::rados_cluster::unique_prefix("lease-" + what); }

using ftq::test::rados_cluster::store_on;

asio::awaitable<void> sleep_for(milliseconds d) {
  const asio::any_io_executor ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex, d);
  co_await t.async_wait(asio::use_awaitable);
}

/// Tries to take `dir` every `poll` until it works or `limit` passes.
asio::awaitable<std::shared_ptr<lease>> acquire_polling(std::shared_ptr<ftq::io::rados_store> store, std::string dir,
                                                        std::string worker, lease_options options, milliseconds poll,
                                                        milliseconds limit) {
  const auto until = steady_clock::now() + limit;
  for (;;) {
    std::shared_ptr<lease> l = co_await lease::try_acquire(store, dir, worker, options);
    if (l || steady_clock::now() >= until) {
      co_return l;
    }
    co_await sleep_for(poll);
  }
}

std::string checkpoint_bytes(char fill) { return std::string(3000, fill); }

const std::string worker_a = "worker-a";
const std::string worker_b = "worker-b";
const std::string epoch_1 = "0000000000000001.ckpt";
const std::string epoch_2 = "0000000000000002.ckpt";

asio::awaitable<void> commit_file(ftq::io::rados_store& store, std::string dir, std::string name, std::string bytes) {
  ftq::io::commit_request req;
  req.dir = dir;
  req.name = name;
  req.buffers.push_back(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
  co_await store.commit(req);
}

long long ms_between(steady_clock::time_point a, steady_clock::time_point b) {
  return std::chrono::duration_cast<milliseconds>(b - a).count();
}

}  // namespace

TEST_CASE("iso_utc writes UTC with milliseconds and parse_iso_utc reads it back") {
  const auto t = std::chrono::system_clock::time_point(milliseconds(1714564800123));
  CHECK(ftq::cluster::iso_utc(t) == "2024-05-01T12:00:00.123Z");
  CHECK(ftq::cluster::parse_iso_utc("2024-05-01T12:00:00.123Z") == t);
  CHECK(ftq::cluster::parse_iso_utc("2024-05-01T12:00:00Z") == t - milliseconds(123));
  CHECK_FALSE(ftq::cluster::parse_iso_utc("2024-02-30T12:00:00Z").has_value());
  CHECK_FALSE(ftq::cluster::parse_iso_utc("yesterday").has_value());
}

TEST_CASE("a lease is taken once: a second worker is refused while it is current") {
  const std::string root = unique_prefix("refused");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    auto store_b = store_on(ex, conn_b(), root);
    co_await store_a->make_dirs(dir_path);
    const lease_options options{milliseconds(5000), milliseconds(1000)};
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(a != nullptr);
    CHECK(a->held());
    CHECK(a->previous_owner().empty());
    CHECK(store_a->expected_version(dir) == std::optional<std::uint64_t>(1));

    std::shared_ptr<lease> b = co_await lease::try_acquire(store_b, dir, worker_b, options);
    CHECK(b == nullptr);

    const ftq::cluster::ownership o = co_await ftq::cluster::read_ownership(*store_b, dir);
    CHECK(o.owner == "worker-a");
    CHECK(o.version == 1);
    CHECK(o.lease_current(std::chrono::system_clock::now()));
    CHECK(o.lease_until > std::chrono::system_clock::now() + 3s);
    REQUIRE(o.history.size() == 1);
    CHECK(o.history[0].from.empty());
    CHECK(o.history[0].to == "worker-a");
    CHECK(o.history[0].why == "first owner");
    CHECK(std::chrono::abs(o.history[0].at - a->acquired_at()) < 2ms);
    co_await a->release();
  });
}

TEST_CASE("a lapsed lease is taken over no earlier than it lapses and within one poll after") {
  const std::string root = unique_prefix("lapse");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  const milliseconds duration(1500);
  const milliseconds poll(100);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    auto store_b = store_on(ex, conn_b(), root);
    co_await store_a->make_dirs(dir_path);
    const lease_options options{duration, milliseconds(500)};
    const auto before_a = steady_clock::now();
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);  // never renewed
    const auto after_a = steady_clock::now();
    REQUIRE(a != nullptr);

    std::shared_ptr<lease> b = co_await acquire_polling(store_b, dir, worker_b, options, poll, 10s);
    const auto taken = steady_clock::now();
    REQUIRE(b != nullptr);
    INFO("taken over " << ms_between(before_a, taken) << " ms after the lease was requested");
    CHECK(ms_between(before_a, taken) >= duration.count());
    CHECK(ms_between(after_a, taken) <= duration.count() + poll.count() + 250);  // + round trips on a busy host
    CHECK(b->previous_owner() == "worker-a");
    REQUIRE(b->previous_lease_until().has_value());
    CHECK(b->acquired_at() >= *b->previous_lease_until());

    const ftq::cluster::ownership o = co_await ftq::cluster::read_ownership(*store_a, dir);
    CHECK(o.owner == "worker-b");
    CHECK(o.version == 2);
    REQUIRE(o.history.size() == 2);
    CHECK(o.history[0].to == "worker-a");
    CHECK(o.history[1].from == "worker-a");
    CHECK(o.history[1].to == "worker-b");
    CHECK(o.history[1].why == "took over: lease of worker-a lapsed");
    CHECK(o.history[1].at > o.history[0].at);

    // And A, back now, cannot take it back while B's lease runs.
    std::shared_ptr<lease> again = co_await lease::try_acquire(store_a, dir, worker_a, options);
    CHECK(again == nullptr);
    co_await b->release();
  });
}

TEST_CASE("renewal keeps a lease alive well past its duration, and release hands it over at once") {
  const std::string root = unique_prefix("renew");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    auto store_b = store_on(ex, conn_b(), root);
    co_await store_a->make_dirs(dir_path);
    const lease_options options{milliseconds(1500), milliseconds(300)};
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(a != nullptr);
    std::optional<std::string> lost;
    a->start_renewing([&](std::string why) { lost = why; });

    // Three lease durations during which B keeps trying.
    const auto start = steady_clock::now();
    int refused = 0;
    while (steady_clock::now() - start < 4500ms) {
      std::shared_ptr<lease> b = co_await lease::try_acquire(store_b, dir, worker_b, options);
      REQUIRE(b == nullptr);
      ++refused;
      co_await sleep_for(200ms);
    }
    CHECK(refused >= 10);
    CHECK(a->held());
    CHECK_FALSE(lost.has_value());
    const ftq::cluster::ownership o = co_await ftq::cluster::read_ownership(*store_b, dir);
    CHECK(o.owner == "worker-a");
    CHECK(o.version == 1);  // renewals do not move the version
    CHECK(o.lease_until > a->acquired_at() + 4000ms);

    co_await a->release();
    CHECK_FALSE(a->held());
    const auto released = steady_clock::now();
    std::shared_ptr<lease> b = co_await lease::try_acquire(store_b, dir, worker_b, options);
    REQUIRE(b != nullptr);
    CHECK(ms_between(released, steady_clock::now()) < 500);
    CHECK(b->previous_owner() == "worker-a");
    co_await b->release();
    co_await sleep_for(100ms);
    CHECK_FALSE(lost.has_value());  // released, not lost
  });
}

TEST_CASE("a paused owner is fenced after a takeover and told it lost the lease") {
  const std::string root = unique_prefix("paused");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  const lease_options options{milliseconds(1500), milliseconds(300)};
  asio::io_context io_a;
  asio::io_context io_b;
  auto store_a = store_on(io_a.get_executor(), conn_a(), root);
  auto store_b = store_on(io_b.get_executor(), conn_b(), root);
  std::shared_ptr<lease> a;
  std::optional<std::string> lost;
  int lost_calls = 0;

  // A takes the query, commits a checkpoint and renews for 2 s (longer than its lease) ...
  ftq::test::run_coro_on(
      io_a,
      [&](asio::any_io_executor) -> asio::awaitable<void> {
        co_await store_a->make_dirs(dir_path);
        a = co_await lease::try_acquire(store_a, dir, worker_a, options);
        REQUIRE(a != nullptr);
        a->start_renewing([&](std::string why) {
          lost = why;
          ++lost_calls;
        });
        const std::string bytes = checkpoint_bytes('a');
        co_await commit_file(*store_a, dir, epoch_1, bytes);
      },
      std::chrono::seconds(2));  // run_for returns after 2 s: A's renewals kept io_a busy until then
  REQUIRE(a != nullptr);
  CHECK(a->held());
  CHECK_FALSE(lost.has_value());

  // ... then is paused (io_a does not run): its lease lapses and B takes over.
  std::shared_ptr<lease> b;
  ftq::test::run_coro_on(io_b, [&](asio::any_io_executor) -> asio::awaitable<void> {
    b = co_await acquire_polling(store_b, dir, worker_b, options, milliseconds(100), 10s);
    REQUIRE(b != nullptr);
    const std::string bytes = checkpoint_bytes('b');
    co_await commit_file(*store_b, dir, epoch_2, bytes);
  });
  REQUIRE(b != nullptr);
  CHECK(b->previous_owner() == "worker-a");

  // A wakes up: its commit is refused, and its renewal timer reports the loss once.
  ftq::test::run_coro_on(io_a, [&](asio::any_io_executor) -> asio::awaitable<void> {
    bool fenced = false;
    try {
      const std::string bytes = checkpoint_bytes('x');
      co_await commit_file(*store_a, dir, epoch_2, bytes);
    } catch (const ftq::error& e) {
      CHECK((e.code() == ftq::errc::lease_lost));
      fenced = true;
    }
    CHECK(fenced);
    const auto until = steady_clock::now() + 5s;
    while (!lost && steady_clock::now() < until) {
      co_await sleep_for(20ms);
    }
  });
  REQUIRE(lost.has_value());
  CHECK(*lost == "lease renewal refused: lapsed or taken over by another worker");
  CHECK(lost_calls == 1);
  CHECK_FALSE(a->held());

  // What the store holds is B's: its epoch 2 and A's epoch 1, never A's second commit.
  ftq::test::run_coro_on(io_b, [&](asio::any_io_executor) -> asio::awaitable<void> {
    const std::filesystem::path path = std::filesystem::path(dir) / epoch_2;
    const std::vector<std::byte> got = co_await store_b->read(path);
    CHECK(std::string(reinterpret_cast<const char*>(got.data()), got.size()) == checkpoint_bytes('b'));
    const ftq::cluster::ownership o = co_await ftq::cluster::read_ownership(*store_b, dir);
    CHECK(o.owner == "worker-b");
    REQUIRE(o.history.size() == 2);
    CHECK(o.history[1].why == "took over: lease of worker-a lapsed");
    co_await b->release();
  });
  ftq::test::run_coro_on(io_a, [&](asio::any_io_executor) -> asio::awaitable<void> { co_await a->release(); });
  CHECK(lost_calls == 1);
}

TEST_CASE("a lease dropped while renewing stops renewing and lapses") {
  const std::string root = unique_prefix("dropped");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    auto store_b = store_on(ex, conn_b(), root);
    co_await store_a->make_dirs(dir_path);
    const lease_options options{milliseconds(1000), milliseconds(5)};
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(a != nullptr);
    bool lost = false;
    a->start_renewing([&](std::string) { lost = true; });
    co_await sleep_for(150ms);  // many renewals, one likely in flight now
    const auto dropped = steady_clock::now();
    a.reset();
    co_await sleep_for(150ms);  // the renewal coroutines find the lease gone
    CHECK_FALSE(lost);
    std::shared_ptr<lease> b =
        co_await acquire_polling(store_b, dir, worker_b, options, milliseconds(50), milliseconds(5000));
    REQUIRE(b != nullptr);
    CHECK(ms_between(dropped, steady_clock::now()) <= 1000 + 50 + 250);
    co_await b->release();
  });
}

TEST_CASE("the same worker taking its own current lease again gets it, and the version moves") {
  const std::string root = unique_prefix("again");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    co_await store_a->make_dirs(dir_path);
    const lease_options options{milliseconds(5000), milliseconds(1000)};
    std::shared_ptr<lease> first = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(first != nullptr);
    std::shared_ptr<lease> second = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(second != nullptr);
    CHECK(second->previous_owner().empty());
    CHECK(store_a->expected_version(dir) == std::optional<std::uint64_t>(2));
    const ftq::cluster::ownership o = co_await ftq::cluster::read_ownership(*store_a, dir);
    REQUIRE(o.history.size() == 2);
    CHECK(o.history[1].why == "re-acquired by the same worker");
    co_await second->release();
  });
}

TEST_CASE("a query that ended is not taken") {
  const std::string root = unique_prefix("ended");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    co_await store_a->make_dirs(dir_path);
    for (const char* state : {"succeeded", "failed"}) {
      CAPTURE(state);
      const std::function<void(librados::ObjectWriteOperation&)> end = [&](librados::ObjectWriteOperation& op) {
        librados::bufferlist bl;
        bl.append(state);
        op.setxattr(ftq::rados::layout::state_attr, bl);
      };
      co_await store_a->update_manifest(dir, end);
      const lease_options options{milliseconds(2000), milliseconds(500)};
      std::shared_ptr<lease> l = co_await lease::try_acquire(store_a, dir, worker_a, options);
      CHECK(l == nullptr);
    }
  });
}

TEST_CASE("reading the ownership of a query that does not exist is ENOENT") {
  const std::string root = unique_prefix("missing");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    bool threw = false;
    try {
      const std::string dir = root + "/nothing";
      co_await ftq::cluster::read_ownership(*store_a, dir);
    } catch (const ftq::io_error& e) {
      threw = true;
      CHECK(e.code() == std::error_code(ENOENT, std::system_category()));
    }
    CHECK(threw);
  });
}

namespace {

/// Stops every OSD of the test cluster (SIGSTOP) until destroyed (SIGCONT): the cluster is
/// unreachable for a while, and then back as it was.
class osds_paused {
 public:
  osds_paused() {
    const char* dir = std::getenv("FTQ_CEPH_CLUSTER_DIR");
    if (dir == nullptr) {
      FAIL("FTQ_CEPH_CLUSTER_DIR is not set: run the RADOS tests through tests/rados/with-cluster.sh");
    }
    for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(dir) / "run")) {
      const std::string name = f.path().filename().string();
      if (name.starts_with("osd.") && name.ends_with(".pid")) {
        std::ifstream in(f.path());
        pid_t pid = 0;
        in >> pid;
        if (pid > 0) {
          pids_.push_back(pid);
        }
      }
    }
    if (pids_.empty()) {
      FAIL("no OSD pid file under " << dir << "/run");
    }
    for (pid_t p : pids_) {
      ::kill(p, SIGSTOP);
    }
  }
  ~osds_paused() {
    for (pid_t p : pids_) {
      ::kill(p, SIGCONT);
    }
  }
  osds_paused(const osds_paused&) = delete;
  osds_paused& operator=(const osds_paused&) = delete;

 private:
  std::vector<pid_t> pids_;
};

}  // namespace

TEST_CASE("a lease the cluster does not answer for longer than its duration is lost") {
  const std::string root = unique_prefix("unreachable");
  const std::string dir = root + "/q1";
  const std::filesystem::path dir_path(dir);
  const lease_options options{milliseconds(1500), milliseconds(300)};
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto store_a = store_on(ex, conn_a(), root);
    co_await store_a->make_dirs(dir_path);
    std::shared_ptr<lease> a = co_await lease::try_acquire(store_a, dir, worker_a, options);
    REQUIRE(a != nullptr);
    std::optional<std::string> lost;
    steady_clock::time_point lost_at;
    a->start_renewing([&](std::string why) {
      lost = why;
      lost_at = steady_clock::now();
    });
    co_await sleep_for(700ms);  // renewed twice
    REQUIRE_FALSE(lost.has_value());
    {
      osds_paused paused;
      const auto stopped = steady_clock::now();
      while (!lost && steady_clock::now() - stopped < 5s) {
        co_await sleep_for(20ms);
      }
      REQUIRE(lost.has_value());
      INFO("lost " << ms_between(stopped, lost_at) << " ms after the cluster stopped answering");
      CHECK(ms_between(stopped, lost_at) >= 1500 - 300 - 50);  // the last renewal was sent before the stop
      CHECK(ms_between(stopped, lost_at) <= 1500 + 300);
    }
    CHECK(*lost == "could not renew within the lease: no answer from the cluster");
    CHECK_FALSE(a->held());
    co_await a->release();  // nothing to unlock: the lease is gone

    // The cluster is back: the query can be taken again at once (the lapsed lease is no one's).
    std::shared_ptr<lease> b = co_await acquire_polling(store_a, dir, worker_b, options, milliseconds(100), 20s);
    REQUIRE(b != nullptr);
    co_await b->release();
  });
}
