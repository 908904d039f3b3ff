// Measures what one status request costs the executor, without sockets: handle() for each route
// against a busy engine's snapshot (5 queries x 6 operators with 32 checkpoints each, 200 failures).
// Not a test; prints the median, min and max over 7 runs of per-request microseconds:
//   ninja -C build tests/unit/status/status-render-bench && build/tests/unit/status/status-render-bench

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "status/status_handler.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace {

namespace http = boost::beast::http;

double per_request_us(const ftq::status::request& req, const ftq::engine_snapshot& snap, int n) {
  std::size_t bytes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    bytes += ftq::status::handle(req, snap, {}).res.body().size();
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (bytes == 0) {
    std::printf("empty bodies?\n");
  }
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
}

}  // namespace

int main() {
  const ftq::engine_snapshot snap = ftq::test::large_snapshot(5, 6, 200);
  std::printf("%-22s %10s %10s %10s %10s\n", "route", "median_us", "min_us", "max_us", "bytes");
  for (const char* target : {"/status", "/metrics", "/failures", "/failures?query=query-1&limit=10", "/checkpoints",
                             "/queries/12", "/healthz"}) {
    const ftq::status::request req{http::verb::get, target, 11};
    const std::size_t size = ftq::status::handle(req, snap, {}).res.body().size();
    std::vector<double> runs;
    for (int r = 0; r < 7; ++r) {
      runs.push_back(per_request_us(req, snap, 2000));
    }
    std::sort(runs.begin(), runs.end());
    std::printf("%-22s %10.2f %10.2f %10.2f %10zu\n", target, runs[3], runs.front(), runs.back(), size);
  }
  return 0;
}
