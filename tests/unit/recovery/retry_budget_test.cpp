#include <ftq/retry.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <thread>
#include <vector>

TEST_CASE("retry_budget: starts full; each failure takes a token; retries stop at half") {
  ftq::retry_budget b(10, 0.1);
  CHECK(b.tokens() == doctest::Approx(10));
  CHECK(b.max_tokens() == doctest::Approx(10));
  CHECK(b.allow_retry());
  for (int i = 0; i < 4; ++i) {
    b.on_failure();
  }
  CHECK(b.tokens() == doctest::Approx(6));
  CHECK(b.allow_retry());
  b.on_failure();  // 5 == max / 2: not above it
  CHECK(b.tokens() == doctest::Approx(5));
  CHECK_FALSE(b.allow_retry());
  for (int i = 0; i < 20; ++i) {
    b.on_failure();
  }
  CHECK(b.tokens() == doctest::Approx(0));  // never below zero
}

TEST_CASE("retry_budget: successes refill by token_ratio, exactly, up to max") {
  ftq::retry_budget b(10, 0.1);
  for (int i = 0; i < 5; ++i) {
    b.on_failure();
  }
  REQUIRE_FALSE(b.allow_retry());
  b.on_success();
  CHECK(b.tokens() == doctest::Approx(5.1));
  CHECK(b.allow_retry());
  for (int i = 0; i < 1000; ++i) {
    b.on_success();
  }
  CHECK(b.tokens() == 10.0);  // exact: kept in thousandths, no drift
}

TEST_CASE("retry_budget: concurrent failures and successes are all counted") {
  ftq::retry_budget b(100000, 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        b.on_failure();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(b.tokens() == 80000.0);
}

TEST_CASE("retry_budget: invalid sizes are refused") {
  CHECK_THROWS_AS(ftq::retry_budget(0, 0.1), ftq::error);
  CHECK_THROWS_AS(ftq::retry_budget(10, -0.1), ftq::error);
  CHECK_THROWS_AS(ftq::retry_budget(std::nan(""), 0.1), ftq::error);
}
