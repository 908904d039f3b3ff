// engine::set_cluster_view: the provider's view lands in the snapshots that ask for it (the
// status endpoint's /status, /cluster and /metrics), from any thread, and nowhere else.

#include <ftq/engine.hpp>
#include <ftq/status.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

namespace {

ftq::cluster_view view_of(std::string worker, std::uint64_t takeovers) {
  ftq::cluster_view v;
  v.worker = std::move(worker);
  v.store = "rados://ftq/jobs";
  v.takeovers = takeovers;
  ftq::cluster_query q;
  q.id = "q1";
  q.state = "running";
  q.owner = v.worker;
  q.lease_current = true;
  v.queries.push_back(q);
  return v;
}

}  // namespace

TEST_CASE("an engine without a cluster view snapshots none") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  CHECK_FALSE(eng.snapshot(ftq::snapshot_parts::all).cluster.has_value());
}

TEST_CASE("the cluster view provider is called for the snapshots that ask for it") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  std::atomic<int> calls{0};
  eng.set_cluster_view([&calls] {
    ++calls;
    return view_of("worker-a", 2);
  });
  const ftq::engine_snapshot all = eng.snapshot(ftq::snapshot_parts::all);
  REQUIRE(all.cluster.has_value());
  CHECK(all.cluster->worker == "worker-a");
  CHECK(all.cluster->takeovers == 2);
  REQUIRE(all.cluster->queries.size() == 1);
  CHECK(all.cluster->queries[0].owner == "worker-a");
  CHECK(calls == 1);
  CHECK(eng.snapshot(ftq::snapshot_parts::cluster).cluster.has_value());
  CHECK(calls == 2);
  // Not asked for: not called, not filled.
  CHECK_FALSE(eng.snapshot(ftq::snapshot_parts::queries | ftq::snapshot_parts::metrics).cluster.has_value());
  CHECK(calls == 2);
  // Replaced, then removed.
  eng.set_cluster_view([] { return view_of("worker-b", 0); });
  CHECK(eng.snapshot(ftq::snapshot_parts::cluster).cluster->worker == "worker-b");
  eng.set_cluster_view(nullptr);
  CHECK_FALSE(eng.snapshot(ftq::snapshot_parts::cluster).cluster.has_value());
  CHECK(calls == 2);
}

TEST_CASE("a cluster view provider that throws leaves the view out and the rest of the snapshot") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor(), {.batch_rows = 512});
  eng.set_cluster_view([]() -> ftq::cluster_view { throw std::runtime_error("the worker is shutting down"); });
  ftq::engine_snapshot s;
  CHECK_NOTHROW(s = eng.snapshot(ftq::snapshot_parts::all));
  CHECK_FALSE(s.cluster.has_value());
  CHECK(s.engine.batch_rows == 512);
}

TEST_CASE("the cluster view may be replaced while other threads take snapshots") {
  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  // The worker's side: a cached copy under its own mutex, as ftq worker keeps it.
  std::mutex m;
  ftq::cluster_view cached = view_of("worker-a", 0);
  eng.set_cluster_view([&] {
    std::lock_guard lock(m);
    return cached;
  });
  std::atomic<bool> stop{false};
  std::atomic<int> seen{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        const ftq::engine_snapshot s = eng.snapshot(ftq::snapshot_parts::cluster);
        if (!s.cluster || s.cluster->queries.size() != 1 || s.cluster->queries[0].owner != s.cluster->worker) {
          ++bad;
        }
        ++seen;
      }
    });
  }
  for (std::uint64_t i = 1; i <= 2000; ++i) {
    {
      std::lock_guard lock(m);
      cached = view_of("worker-" + std::to_string(i), i);
    }
    if (i % 100 == 0) {
      eng.set_cluster_view([&] {
        std::lock_guard lock(m);
        return cached;
      });
    }
  }
  while (seen < 100) {
    std::this_thread::yield();
  }
  stop = true;
  for (auto& r : readers) {
    r.join();
  }
  CHECK(bad == 0);
  CHECK(eng.snapshot(ftq::snapshot_parts::cluster).cluster->takeovers == 2000);
}
