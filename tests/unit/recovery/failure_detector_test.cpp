#include <ftq/failure_detector.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>

using namespace std::chrono_literals;

namespace {

ftq::failure_record failure(const std::string& query, std::uint32_t op, const std::string& message = "boom") {
  ftq::failure_record r;
  r.query = query;
  r.operator_id = op;
  r.operator_name = "filter";
  r.cls = ftq::error_class::transient;
  r.message = message;
  r.attempt = 1;
  r.recovery = "retry";
  return r;
}

struct fixture {
  explicit fixture(ftq::detector_options o = {}) : clk(std::make_shared<ftq::manual_clock>()), fd(o, clk) {}
  std::shared_ptr<ftq::manual_clock> clk;
  ftq::failure_detector fd;
  const ftq::operator_key k{"q1", 3};
};

// Opens the breaker of f.k with failure_threshold failures, 100 ms apart.
void open_breaker(fixture& f) {
  for (std::uint32_t i = 0; i < f.fd.options().failure_threshold; ++i) {
    if (i > 0) {
      f.clk->advance(100ms);
    }
    f.fd.record_failure(failure(f.k.query, f.k.operator_id));
  }
  REQUIRE(f.fd.state(f.k) == ftq::breaker_state::open);
}

}  // namespace

TEST_CASE("breaker state names") {
  CHECK(ftq::breaker_state_name(ftq::breaker_state::closed) == "closed");
  CHECK(ftq::breaker_state_name(ftq::breaker_state::open) == "open");
  CHECK(ftq::breaker_state_name(ftq::breaker_state::half_open) == "half_open");
}

TEST_CASE("detector_options::validate names the offending field") {
  CHECK_NOTHROW(ftq::detector_options{}.validate());
  const auto message = [](ftq::detector_options o) -> std::string {
    try {
      o.validate();
    } catch (const ftq::error& e) {
      CHECK((e.code() == ftq::errc::recovery_policy_invalid));
      return e.what();
    }
    return "";
  };
  ftq::detector_options o;
  o.failure_rate_threshold = 1.5;
  CHECK(message(o).find("detector_options.failure_rate_threshold") == 0);
  o = {};
  o.min_outcomes = 200;
  CHECK(message(o).find("detector_options.min_outcomes (200)") == 0);
  o = {};
  o.half_open_probes = 0;
  CHECK(message(o).find("detector_options.half_open_probes") == 0);
  o = {};
  o.window_time = 0s;
  CHECK(message(o).find("detector_options.window_time") == 0);
  o = {};
  o.phi.min_samples = 0;
  CHECK(message(o).find("detector_options.phi.min_samples") == 0);
  o = {};
  o.phi.min_std_deviation = 0ns;
  CHECK(message(o).find("detector_options.phi.min_std_deviation") == 0);
  // The constructor validates too.
  o = {};
  o.window_count = 0;
  CHECK_THROWS_AS(ftq::failure_detector(o, std::make_shared<ftq::manual_clock>()), ftq::error);
}

TEST_CASE("time window: failure_threshold failures within window_time open the breaker") {
  ftq::detector_options o;
  o.failure_threshold = 3;
  o.window_time = 10s;
  o.min_outcomes = 100;  // the count window's rate rule stays out of the way
  fixture f(o);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
  f.fd.record_failure(failure("q1", 3));
  f.clk->advance(4s);
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.failures_in_window(f.k) == 2);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
  f.clk->advance(4s);
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
  CHECK(f.fd.reopens_at(f.k) == f.clk->now() + o.recovery_timeout);
  // Other operators and queries are untouched.
  CHECK(f.fd.state({"q1", 4}) == ftq::breaker_state::closed);
  CHECK(f.fd.state({"q2", 3}) == ftq::breaker_state::closed);
}

TEST_CASE("time window: failures older than window_time no longer count") {
  ftq::detector_options o;
  o.failure_threshold = 3;
  o.window_time = 10s;
  o.min_outcomes = 100;
  fixture f(o);
  f.fd.record_failure(failure("q1", 3));
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.failures_in_window(f.k) == 2);
  f.clk->advance(10s);  // exactly window_time later: out
  CHECK(f.fd.failures_in_window(f.k) == 0);
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.failures_in_window(f.k) == 1);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);  // 3 failures, but never 3 within 10 s
  // The history keeps them all.
  CHECK(f.fd.history().size() == 3);
  CHECK(f.fd.total_failures() == 3);
}

TEST_CASE("count window: the failure rate over the last window_count outcomes opens it once min_outcomes are held") {
  ftq::detector_options o;
  o.failure_threshold = 1000;  // the time window's rule stays out of the way
  o.window_count = 10;
  o.min_outcomes = 6;
  o.failure_rate_threshold = 0.5;
  fixture f(o);
  // 2 failures of 2 outcomes: rate 1, but fewer than min_outcomes.
  f.fd.record_failure(failure("q1", 3));
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.failure_rate(f.k) == 1.0);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
  for (int i = 0; i < 8; ++i) {
    f.fd.record_success(f.k);
  }
  CHECK(f.fd.failure_rate(f.k) == doctest::Approx(0.2));  // 2 of 10
  // The window slides: the two failures drop out after ten more outcomes.
  for (int i = 0; i < 2; ++i) {
    f.fd.record_success(f.k);
  }
  CHECK(f.fd.failure_rate(f.k) == 0.0);
  for (int i = 0; i < 4; ++i) {
    f.fd.record_failure(failure("q1", 3));
    CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);  // at most 4 of 10
  }
  f.fd.record_failure(failure("q1", 3));  // 5 of 10 = 0.5
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
}

TEST_CASE("open turns half-open after recovery_timeout and admits exactly half_open_probes") {
  ftq::detector_options o;
  o.recovery_timeout = 2s;
  o.half_open_probes = 2;
  fixture f(o);
  CHECK(f.fd.admit(f.k).has_value());  // closed: an inert handle
  CHECK_FALSE(f.fd.admit(f.k)->is_probe());
  open_breaker(f);
  CHECK_FALSE(f.fd.admit(f.k).has_value());  // open: refused
  f.clk->advance(1s);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
  f.clk->advance(1s);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::half_open);
  auto p1 = f.fd.admit(f.k);
  auto p2 = f.fd.admit(f.k);
  REQUIRE(p1.has_value());
  REQUIRE(p2.has_value());
  CHECK(p1->is_probe());
  CHECK(p2->is_probe());
  CHECK_FALSE(f.fd.admit(f.k).has_value());  // all probes taken
  p1->succeed();
  CHECK(f.fd.state(f.k) == ftq::breaker_state::half_open);  // one of two
  p2->succeed();
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
  // Closing empties the windows: the next failure alone does not reopen it.
  CHECK(f.fd.failures_in_window(f.k) == 0);
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
}

TEST_CASE("a failed probe reopens the breaker for a new recovery_timeout; late probes of that period are ignored") {
  ftq::detector_options o;
  o.recovery_timeout = 2s;
  o.half_open_probes = 2;
  fixture f(o);
  open_breaker(f);
  f.clk->advance(2s);
  auto p1 = f.fd.admit(f.k);
  auto p2 = f.fd.admit(f.k);
  REQUIRE(p1);
  REQUIRE(p2);
  p1->fail();
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
  CHECK(f.fd.reopens_at(f.k) == f.clk->now() + 2s);
  p2->succeed();  // of the old period: changes nothing
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
  f.clk->advance(2s);
  CHECK(f.fd.state(f.k) == ftq::breaker_state::half_open);
  auto p3 = f.fd.admit(f.k);
  REQUIRE(p3);
  p3->succeed();
  p3->fail();                                               // only the first outcome counts
  CHECK(f.fd.state(f.k) == ftq::breaker_state::half_open);  // 1 of 2 probes so far
}

TEST_CASE("a probe destroyed without an outcome (an exception unwound past it) counts as failed") {
  ftq::detector_options o;
  o.recovery_timeout = 1s;
  fixture f(o);
  open_breaker(f);
  f.clk->advance(1s);
  REQUIRE(f.fd.state(f.k) == ftq::breaker_state::half_open);
  try {
    auto p = f.fd.admit(f.k);
    REQUIRE(p);
    REQUIRE(p->is_probe());
    throw std::runtime_error("unexpected");
  } catch (const std::runtime_error&) {
  }
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);  // not half-open for good
  f.clk->advance(1s);
  auto p = f.fd.admit(f.k);
  REQUIRE(p);
  // A moved-from probe is not decided twice: only the destination reports.
  ftq::failure_detector::probe moved(std::move(*p));
  p.reset();
  CHECK(f.fd.state(f.k) == ftq::breaker_state::half_open);
  moved.succeed();
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
}

TEST_CASE("assigning over an undecided probe settles it as failed") {
  ftq::detector_options o;
  o.recovery_timeout = 1s;
  fixture f(o);
  open_breaker(f);
  f.clk->advance(1s);
  auto held = f.fd.admit(f.k);
  REQUIRE(held);
  REQUIRE(held->is_probe());
  held = f.fd.admit({"other", 1});  // closed operator: an inert handle replaces the probe
  REQUIRE(held);
  CHECK_FALSE(held->is_probe());
  CHECK(f.fd.state(f.k) == ftq::breaker_state::open);
}

TEST_CASE("failures while open do not extend or close it; probes decide") {
  ftq::detector_options o;
  o.recovery_timeout = 1s;
  fixture f(o);
  open_breaker(f);
  const auto at = f.fd.reopens_at(f.k);
  f.fd.record_failure(failure("q1", 3));
  CHECK(f.fd.reopens_at(f.k) == at);
  CHECK(f.fd.total_failures() == o.failure_threshold + 1);
}

TEST_CASE("forget drops a query's breakers and windows but keeps its history") {
  fixture f;
  open_breaker(f);
  f.fd.record_failure(failure("q2", 1));
  f.fd.forget("q1");
  CHECK(f.fd.state(f.k) == ftq::breaker_state::closed);
  CHECK(f.fd.failures_in_window(f.k) == 0);
  CHECK(f.fd.failures_in_window({"q2", 1}) == 1);
  CHECK(f.fd.history({.query = "q1"}).size() == f.fd.options().failure_threshold);
}
