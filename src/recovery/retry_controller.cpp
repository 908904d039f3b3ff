#include <ftq/retry.hpp>

#include <cstdio>

#include <boost/system/system_error.hpp>

#include "core/duration_text.hpp"

namespace ftq {

namespace {

// Weight of the newest outcome in the controller's own failure-rate estimate: about the last
// ten outcomes matter.
constexpr double ewma_weight = 0.2;

// The code a never-retryable failure stops with: its own when it has one.
std::error_code own_code(const std::exception_ptr& e, error_class cls) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const error& x) {
    return x.code();
  } catch (const std::system_error& x) {
    return x.code();
  } catch (const boost::system::system_error& x) {
    return std::error_code(x.code());
  } catch (...) {
  }
  return cls == error_class::cancelled ? make_error_code(errc::query_cancelled)
                                       : make_error_code(errc::operator_failed);
}

std::string tokens_text(const retry_budget& b) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.3g of %.3g tokens left", b.tokens(), b.max_tokens());
  return buf;
}

}  // namespace

retry_controller::retry_controller(retry_policy p, std::shared_ptr<clock> c, std::uint64_t seed,
                                   retry_budget* query_budget, retry_budget* engine_budget)
    : policy_((p.validate(), p)),
      clock_(c ? std::move(c) : steady_clock_source()),
      schedule_(policy_, seed),
      query_budget_(query_budget),
      engine_budget_(engine_budget) {}

retry_controller::decision retry_controller::on_failure(const std::exception_ptr& e, double recent_failure_rate) {
  decision d;
  d.cls = classify(e);
  failure_ewma_ = (1 - ewma_weight) * failure_ewma_ + ewma_weight;
  if (never_retryable(d.cls)) {
    d.stop_code = e ? own_code(e, d.cls) : make_error_code(errc::internal);
    d.reason = std::string(error_class_name(d.cls)) + " is never retried";
    return d;
  }
  if (query_budget_ != nullptr) {
    query_budget_->on_failure();
  }
  if (engine_budget_ != nullptr) {
    engine_budget_->on_failure();
  }
  if (attempts_ >= policy_.max_attempts) {
    d.stop_code = make_error_code(errc::retries_exhausted);
    d.reason = policy_.max_attempts == 0
                   ? std::string("retries are off (max_attempts 0)")
                   : std::to_string(attempts_) + " of " + std::to_string(policy_.max_attempts) + " retries used";
    return d;
  }
  if (query_budget_ != nullptr && !query_budget_->allow_retry()) {
    d.stop_code = make_error_code(errc::retry_budget_exhausted);
    d.reason = "the query's retry budget is spent (" + tokens_text(*query_budget_) + ")";
    return d;
  }
  if (engine_budget_ != nullptr && !engine_budget_->allow_retry()) {
    d.stop_code = make_error_code(errc::retry_budget_exhausted);
    d.reason = "the engine's retry budget is spent (" + tokens_text(*engine_budget_) + ")";
    return d;
  }
  d.delay = schedule_.next(recent_failure_rate);
  ++attempts_;
  d.retry = true;
  d.reason = "retry " + std::to_string(attempts_) + " of " + std::to_string(policy_.max_attempts) + " after " +
             duration_text(d.delay);
  return d;
}

void retry_controller::on_success() noexcept {
  attempts_ = 0;
  schedule_.reset();
  failure_ewma_ *= 1 - ewma_weight;
  if (query_budget_ != nullptr) {
    query_budget_->on_success();
  }
  if (engine_budget_ != nullptr) {
    engine_budget_->on_success();
  }
}

std::uint32_t retry_controller::attempts() const noexcept { return attempts_; }

double retry_controller::recent_failure_rate() const noexcept { return failure_ewma_; }

const retry_policy& retry_controller::policy() const noexcept { return policy_; }

const std::shared_ptr<clock>& retry_controller::clock_source() const noexcept { return clock_; }

boost::asio::awaitable<void> retry_controller::wait(std::chrono::nanoseconds d, boost::asio::cancellation_slot slot,
                                                    std::function<bool()> cancelled) {
  if (cancelled && cancelled()) {
    throw error(errc::query_cancelled, "query cancelled before a retry backoff of " + duration_text(d));
  }
  boost::asio::awaitable<bool> pause = clock_->sleep(std::chrono::duration_cast<clock::duration>(d), slot);
  const bool slept = co_await std::move(pause);
  // Checked again after the wait: a cancellation that arrived while the timer ran must win over
  // the retry that would follow.
  if (!slept || (cancelled && cancelled())) {
    throw error(errc::query_cancelled, "query cancelled during a retry backoff of " + duration_text(d));
  }
}

namespace detail {

std::string failure_message(const std::exception_ptr& e) {
  if (!e) {
    return "no exception";
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

void throw_stop(const retry_controller::decision& d, const std::exception_ptr& failure) {
  if (never_retryable(d.cls) && failure) {
    std::rethrow_exception(failure);
  }
  throw error(d.stop_code, d.reason + ": " + failure_message(failure));
}

}  // namespace detail

}  // namespace ftq
