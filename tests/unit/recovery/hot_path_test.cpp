#include <ftq/failure_detector.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>

// Counts this thread's allocations while `counting` is set: the detector's per-batch calls must
// not allocate once an operator is known.
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

namespace {
void* counted_alloc(std::size_t n) noexcept {
  if (counting) {
    ++allocations;
  }
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

// Every non-aligned form is replaced, so each allocation and its release go through the same pair
// (a sanitizer's own operator new paired with this free() would be reported as a mismatch).
void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace std::chrono_literals;

TEST_CASE("hot paths: record_success, heartbeat and phi allocate nothing once the operator is known") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd({}, clk);
  // Longer than the small-string buffer, so a copied key would allocate.
  const ftq::operator_key k{"query-0123456789abcdef-0123456789abcdef", 3};
  ftq::clock::time_point t = clk->now();
  fd.record_success(k);  // warm-up: the operator's windows and estimator are made here
  fd.heartbeat(k, t);
  constexpr int n = 200000;
  allocations = 0;
  counting = true;
  double sink = 0;
  for (int i = 0; i < n; ++i) {
    t += 1ms;
    fd.record_success(k);
    fd.heartbeat(k, t);
    sink += fd.phi(k, t);
  }
  counting = false;
  CHECK(allocations == 0);
  CHECK(sink >= 0);
  // A retry schedule and budget do not allocate either.
  ftq::retry_budget budget;
  ftq::backoff_schedule schedule(ftq::retry_policy{}, 1);
  counting = true;
  for (int i = 0; i < 1000; ++i) {
    budget.on_failure();
    budget.on_success();
    sink += static_cast<double>(schedule.next(0.5).count());
  }
  counting = false;
  CHECK(allocations == 0);
}

TEST_CASE("hot paths: nanoseconds per call (printed)") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd({}, clk);
  std::vector<ftq::operator_key> keys;
  for (std::uint32_t q = 0; q < 8; ++q) {
    for (std::uint32_t op = 0; op < 16; ++op) {
      keys.push_back({"query-" + std::to_string(q) + "-0123456789abcdef", op});
    }
  }
  ftq::clock::time_point t = clk->now();
  for (const auto& k : keys) {
    fd.record_success(k);
    fd.heartbeat(k, t);
  }
  constexpr int rounds = 2000;
  const auto time_it = [&](auto&& call) {
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < rounds; ++r) {
      for (const auto& k : keys) {
        call(k);
      }
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
    return static_cast<double>(ns.count()) / (rounds * static_cast<double>(keys.size()));
  };
  const double success_ns = time_it([&](const ftq::operator_key& k) { fd.record_success(k); });
  const double heartbeat_ns = time_it([&](const ftq::operator_key& k) {
    t += 1us;
    fd.heartbeat(k, t);
  });
  double sink = 0;
  const double phi_ns = time_it([&](const ftq::operator_key& k) { sink += fd.phi(k, t); });
  MESSAGE("failure_detector over " << keys.size() << " operators: record_success " << success_ns
                                   << " ns/call, heartbeat " << heartbeat_ns << " ns/call, phi " << phi_ns
                                   << " ns/call");
  CHECK(sink >= 0);
  // Generous bounds (sanitizer builds, a busy machine): a per-batch call must stay far below a
  // batch's own cost (tens of microseconds).
  CHECK(success_ns < 5000);
  CHECK(heartbeat_ns < 5000);
}
