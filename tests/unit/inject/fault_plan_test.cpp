#include "inject/fault_plan.hpp"

#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <ftq/error.hpp>

#include "support/temp_dir.hpp"
#include "unit/inject/child_process.hpp"

using namespace std::chrono_literals;
using ftq::inject::fault_kind;
using ftq::inject::fault_plan;

namespace {

// The produce calls (0 .. calls-1) of one operator at which `plan` fires, each at a new batch.
std::vector<std::uint64_t> firings(fault_plan plan, std::uint64_t calls, std::string_view query = "q",
                                   std::uint32_t op = 1) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t call = 0; call < calls; ++call) {
    if (plan.on_produce(query, op, "filter", call + 1, call)) {
      out.push_back(call);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("an empty plan never fires and has no checkpoint injector") {
  fault_plan plan;
  CHECK(plan.empty());
  CHECK_FALSE(plan.on_produce("q", 0, "csv_scan", 1, 0).has_value());
  CHECK(plan.checkpoint_faults() == nullptr);
  CHECK(plan.injected().throws == 0);
  CHECK(fault_plan::parse("throw:batch=1").checkpoint_faults() == nullptr);
  CHECK(fault_plan::parse("checkpoint:n=1,errno=EIO").checkpoint_faults() != nullptr);
}

TEST_CASE("a batch rule fires at batch N exactly `times` times, on its operator only") {
  fault_plan plan = fault_plan::parse("throw:op=hash_join,batch=5,times=2");
  CHECK_FALSE(plan.on_produce("q", 3, "hash_join", 4, 10).has_value());
  CHECK_FALSE(plan.on_produce("q", 3, "sort", 5, 11).has_value());  // another operator
  const auto first = plan.on_produce("q", 3, "hash_join", 5, 12);
  REQUIRE(first.has_value());
  CHECK(first->kind == fault_kind::throw_fault);
  CHECK(first->rule == "throw:op=hash_join,batch=5,times=2");
  // A retry produces the same logical batch again: the second firing, then no more.
  CHECK(plan.on_produce("q", 3, "hash_join", 5, 13).has_value());
  CHECK_FALSE(plan.on_produce("q", 3, "hash_join", 5, 14).has_value());
  CHECK_FALSE(plan.on_produce("q", 3, "hash_join", 6, 15).has_value());
  CHECK(plan.injected().throws == 2);
}

TEST_CASE("operators are matched by id with #N, or any operator when op is left out") {
  fault_plan by_id = fault_plan::parse("throw:op=#3,batch=1,times=10");
  CHECK_FALSE(by_id.on_produce("q", 2, "filter", 1, 0).has_value());
  CHECK(by_id.on_produce("q", 3, "filter", 1, 0).has_value());
  fault_plan any = fault_plan::parse("throw:batch=1,times=10");
  CHECK(any.on_produce("q", 2, "filter", 1, 0).has_value());
  CHECK(any.on_produce("q", 9, "sort", 1, 0).has_value());
}

TEST_CASE("the injected error is transient or a fault as the class says, and names the rule") {
  fault_plan plan = fault_plan::parse("throw:op=hash_join,batch=5,class=transient;throw:op=sort,batch=1");
  const auto t = plan.on_produce("q", 1, "hash_join", 5, 0);
  REQUIRE(t.has_value());
  CHECK(t->kind == fault_kind::throw_transient);
  const ftq::error te = ftq::inject::injected_error(*t);
  CHECK((te.code() == ftq::errc::transient_failure));
  CHECK(std::string(te.what()) == "injected fault (throw:op=hash_join,batch=5,class=transient)");
  const auto f = plan.on_produce("q", 2, "sort", 1, 0);
  REQUIRE(f.has_value());
  const ftq::error fe = ftq::inject::injected_error(*f);
  CHECK((fe.code() == ftq::errc::operator_failed));
  CHECK(std::string(fe.what()) == "injected fault (throw:op=sort,batch=1)");
}

TEST_CASE("stall rules say how long, and counters tell kinds and queries apart") {
  fault_plan plan = fault_plan::parse("stall:op=sort,batch=2,for=3s;throw:query=q2,batch=1,times=5");
  const auto s = plan.on_produce("q1", 4, "sort", 2, 1);
  REQUIRE(s.has_value());
  CHECK(s->kind == fault_kind::stall);
  CHECK(s->stall_for == 3s);
  CHECK_FALSE(plan.on_produce("q1", 4, "sort", 1, 2).has_value());  // q1 is not q2
  CHECK(plan.on_produce("q2", 4, "sort", 1, 0).has_value());
  CHECK(plan.on_produce("q2", 5, "filter", 1, 0).has_value());
  CHECK(plan.injected().stalls == 1);
  CHECK(plan.injected().throws == 2);
  CHECK(plan.injected("q1").stalls == 1);
  CHECK(plan.injected("q1").throws == 0);
  CHECK(plan.injected("q2").throws == 2);
  CHECK(plan.injected("q3").throws == 0);
}

TEST_CASE("rules are tried in order and the first that fires wins") {
  fault_plan plan = fault_plan::parse("stall:batch=1,for=1ms;throw:batch=1");
  const auto first = plan.on_produce("q", 1, "x", 1, 0);
  REQUIRE(first.has_value());
  CHECK(first->kind == fault_kind::stall);
  const auto second = plan.on_produce("q", 1, "x", 1, 1);  // the stall's one firing is spent
  REQUIRE(second.has_value());
  CHECK(second->kind == fault_kind::throw_fault);
}

TEST_CASE("a p rule fires at about rate p, the same calls for the same seed") {
  constexpr std::uint64_t calls = 100'000;
  constexpr double p = 0.01;
  // Binomial(100000, 0.01): mean 1000, sd 31.5. The draws are deterministic, so the bounds only
  // have to hold for these seeds; 8 sd either side is far beyond any hash bias we would accept.
  const double sd = std::sqrt(calls * p * (1 - p));
  for (const std::uint64_t seed : {0u, 1u, 42u, 9999u}) {
    CAPTURE(seed);
    const auto fired = firings(fault_plan::parse("seed=" + std::to_string(seed) + ";throw:p=0.01"), calls);
    CHECK(static_cast<double>(fired.size()) > calls * p - 8 * sd);
    CHECK(static_cast<double>(fired.size()) < calls * p + 8 * sd);
  }
  // Reproducible: same seed, same calls (on fresh plans); another seed, other calls.
  const auto a = firings(fault_plan::parse("seed=7;throw:p=0.01"), calls);
  const auto b = firings(fault_plan::parse("seed=7;throw:p=0.01"), calls);
  const auto c = firings(fault_plan::parse("seed=8;throw:p=0.01"), calls);
  CHECK(a == b);
  CHECK(a != c);
  // Another query or operator draws differently.
  CHECK(a != firings(fault_plan::parse("seed=7;throw:p=0.01"), calls, "other"));
  CHECK(a != firings(fault_plan::parse("seed=7;throw:p=0.01"), calls, "q", 2));
}

TEST_CASE("p decisions do not depend on the order queries ask in") {
  fault_plan one = fault_plan::parse("seed=5;throw:p=0.1");
  fault_plan two = fault_plan::parse("seed=5;throw:p=0.1");
  std::vector<bool> forward;
  std::vector<bool> backward(200);
  for (std::uint64_t call = 0; call < 200; ++call) {
    forward.push_back(one.on_produce(call % 2 == 0 ? "a" : "b", 1, "x", 1, call / 2).has_value());
  }
  for (std::uint64_t i = 200; i-- > 0;) {
    backward[i] = two.on_produce(i % 2 == 0 ? "a" : "b", 1, "x", 1, i / 2).has_value();
  }
  CHECK(forward == backward);
}

TEST_CASE("a retry (a new call number) of a batch that failed by probability can pass") {
  fault_plan plan = fault_plan::parse("seed=3;throw:p=0.5");
  // The same logical batch, asked with call numbers 0, 1, 2...: it fails, then a retry passes.
  std::uint64_t call = 0;
  while (!plan.on_produce("q", 1, "x", 1, call).has_value()) {
    ++call;
    REQUIRE(call < 100);
  }
  std::uint64_t retries = 0;
  while (plan.on_produce("q", 1, "x", 1, ++call).has_value()) {
    ++retries;
    REQUIRE(retries < 100);
  }
  CHECK(plan.injected().throws == retries + 1);
}

TEST_CASE("max caps a p rule's firings in all, across threads and copies") {
  fault_plan plan = fault_plan::parse("seed=1;throw:p=1,max=50");
  fault_plan copy = plan;  // shares the counters
  std::vector<std::thread> threads;
  std::atomic<int> fired{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      fault_plan& p = t % 2 == 0 ? plan : copy;
      for (std::uint64_t call = 0; call < 1000; ++call) {
        if (p.on_produce("q" + std::to_string(t), 1, "x", call + 1, call)) {
          ++fired;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(fired.load() == 50);
  CHECK(plan.injected().throws == 50);
  CHECK(copy.injected().throws == 50);
}

TEST_CASE("a crash rule kills the process with SIGKILL when the engine acts on it") {
  ftq::test::temp_dir tmp("ftq-inject");
  fault_plan plan = fault_plan::parse("crash:op=csv_scan,batch=3");
  const int status = ftq::test::wait_status_of_child(
      [&] {
        for (std::uint64_t batch = 1; batch <= 5; ++batch) {
          if (const auto f = plan.on_produce("q", 0, "csv_scan", batch, batch); f && f->kind == fault_kind::crash) {
            ftq::inject::crash_now(f->rule);  // what the engine does
          }
        }
      },
      tmp / "stderr");
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(ftq::test::read_file(tmp / "stderr") == "ftq: injected crash: crash:op=csv_scan,batch=3\n");
  // The child's firing did not count here: this process's plan still fires at batch 3.
  CHECK_FALSE(plan.on_produce("q", 0, "csv_scan", 2, 2).has_value());
  const auto f = plan.on_produce("q", 0, "csv_scan", 3, 3);
  REQUIRE(f.has_value());
  CHECK(f->kind == fault_kind::crash);
  CHECK(plan.injected().crashes == 1);
}
