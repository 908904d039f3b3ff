#include <ftq/retry.hpp>

#include <cmath>

namespace ftq {

namespace {

// gRPC's token_ratio has three decimals; so do the tokens here.
constexpr double milli = 1000.0;

}  // namespace

retry_budget::retry_budget(double max_tokens, double token_ratio)
    : max_tokens_(max_tokens), token_ratio_(token_ratio), milli_tokens_(0) {
  if (!(max_tokens > 0) || max_tokens > 1e12) {
    throw error(errc::recovery_policy_invalid,
                "retry_budget.max_tokens (" + std::to_string(max_tokens) + ") must be in (0, 1e12]");
  }
  if (!(token_ratio >= 0) || token_ratio > max_tokens) {
    throw error(errc::recovery_policy_invalid,
                "retry_budget.token_ratio (" + std::to_string(token_ratio) + ") must be in [0, max_tokens]");
  }
  milli_tokens_.store(std::llround(max_tokens * milli));
}

bool retry_budget::allow_retry() const noexcept {
  return static_cast<double>(milli_tokens_.load(std::memory_order_acquire)) * 2 > max_tokens_ * milli;
}

void retry_budget::on_failure() noexcept {
  std::int64_t cur = milli_tokens_.load(std::memory_order_relaxed);
  while (!milli_tokens_.compare_exchange_weak(cur, std::max<std::int64_t>(cur - 1000, 0), std::memory_order_acq_rel)) {
  }
}

void retry_budget::on_success() noexcept {
  const std::int64_t full = std::llround(max_tokens_ * milli);
  const std::int64_t gain = std::llround(token_ratio_ * milli);
  std::int64_t cur = milli_tokens_.load(std::memory_order_relaxed);
  while (!milli_tokens_.compare_exchange_weak(cur, std::min(cur + gain, full), std::memory_order_acq_rel)) {
  }
}

double retry_budget::tokens() const noexcept {
  return static_cast<double>(milli_tokens_.load(std::memory_order_acquire)) / milli;
}

double retry_budget::max_tokens() const noexcept { return max_tokens_; }

double retry_budget::token_ratio() const noexcept { return token_ratio_; }

}  // namespace ftq
