#pragma once
/// Decides whether a failed attempt is tried again and after how long, and waits that long on an
/// awaitable clock (no thread sleeps). Consumes exceptions (classified into error classes), a
/// retry_policy (backoff kind, base, cap, attempts), and optional retry budgets shared per query
/// and per engine; produces delays, stop decisions with a reason, and retry(), the one primitive
/// that runs an attempt until it succeeds or recovery gives up. Cancellation is never retried.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <ftq/clock.hpp>
#include <ftq/error.hpp>

namespace ftq {

/// What kind of failure an exception is; recovery policies map classes to actions.
enum class error_class : std::uint8_t {
  transient,       // expected to pass when tried again: EIO, EAGAIN, a flaky source, injected faults
  resource,        // out of memory, disk space or descriptors: may pass once load drops
  operator_fault,  // an operator threw something ftq does not know (a bug or a bad UDF)
  stall,           // the stall detector cancelled an operator that stopped making progress
  bad_input,       // the plan or the data is wrong: trying again gives the same answer
  checkpoint,      // a checkpoint could not be written or read back
  cancelled,       // the query was cancelled: never retried
  internal,        // a broken invariant, or recovery already gave up on the cause
};

/// "transient", "resource", "operator_fault", "stall", "bad_input", "checkpoint", "cancelled", "internal".
std::string_view error_class_name(error_class c) noexcept;
std::optional<error_class> parse_error_class(std::string_view name) noexcept;

/// Maps an exception to its class. ftq::error by code: query_cancelled, lease_lost -> cancelled;
/// transient_failure, store_unavailable -> transient; operator_stalled -> stall;
/// operator_failed -> operator_fault; plan_invalid, csv_malformed, lease_held -> bad_input;
/// checkpoint_* -> checkpoint; internal -> internal; io_error / std::system_error by errno:
/// ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE -> resource; ENOENT, EACCES, EPERM, ENOTDIR, EISDIR,
/// EINVAL, EROFS -> bad_input; any other errno (EIO, EAGAIN, EINTR, ETIMEDOUT, ECONNRESET,
/// EBUSY...) -> transient. ftq::error with retries_exhausted, retry_budget_exhausted,
/// circuit_open, recovery_failed, handler_timeout, recovery_policy_invalid -> internal (recovery
/// already gave up). io_failed and io_backend_unavailable -> transient and internal.
/// std::bad_alloc -> resource; std::overflow_error, std::invalid_argument, std::out_of_range,
/// std::domain_error, std::length_error -> bad_input; other std::exception -> operator_fault;
/// anything else (including a null exception_ptr) -> internal.
error_class classify(const std::exception_ptr& e) noexcept;
/// Never retried whatever a policy says: cancelled, bad_input.
bool never_retryable(error_class c) noexcept;

/// How one operator (or one I/O step) retries. The defaults retry 5 times with exponential
/// backoff and full jitter from 10 ms, which rides out a blip of ~0.3 s on average without
/// holding a failing query for long; no delay exceeds 5 s.
struct retry_policy {
  enum class backoff : std::uint8_t { fixed, exponential, decorrelated, adaptive };
  /// Full-jitter exponential spreads retries of many queries apart (no thundering herd).
  backoff kind = backoff::exponential;
  /// The first delay's bound (fixed: every delay).
  std::chrono::nanoseconds base{std::chrono::milliseconds(10)};
  /// No delay exceeds it, any kind.
  std::chrono::nanoseconds cap{std::chrono::seconds(5)};
  /// Exponential/adaptive growth per attempt.
  double multiplier = 2.0;
  /// Retries after the first failure; 0: none.
  std::uint32_t max_attempts = 5;
  /// Adaptive: the exponential bound times (1 + gain * recent failure rate); at rate 1 the bound
  /// is 5x the exponential one.
  double adaptive_gain = 4.0;

  /// Throws ftq::error(recovery_policy_invalid) naming the field (base > cap, multiplier < 1, ...).
  void validate() const;
};

/// "fixed", "exponential", "decorrelated", "adaptive".
std::string_view backoff_name(retry_policy::backoff b) noexcept;
std::optional<retry_policy::backoff> parse_backoff(std::string_view name) noexcept;

/// Delays of one retry sequence. fixed: min(base, cap). exponential: full jitter, uniform in
/// [0, min(cap, base * multiplier^attempt)]. decorrelated: min(cap, uniform in [base, 3 * previous])
/// (AWS architecture blog's "decorrelated jitter"; previous starts at base). adaptive: full
/// jitter under min(cap, base * multiplier^attempt * (1 + gain * rate)), `rate` the recent
/// failure rate in [0, 1]. attempt counts from 0. Seeded: the same seed gives the same delays.
/// Allocation-free; not thread-safe (one per retry sequence).
class backoff_schedule {
 public:
  backoff_schedule(const retry_policy& p, std::uint64_t seed);
  /// The delay before the next attempt; `recent_failure_rate` is clamped to [0, 1] (NaN: 0).
  std::chrono::nanoseconds next(double recent_failure_rate);
  /// Delays handed out since construction or reset().
  std::uint32_t attempts() const noexcept;
  /// Starts a new sequence (attempt 0, decorrelated's previous back to base); the random
  /// stream continues.
  void reset() noexcept;

 private:
  double uniform() noexcept;  // in [0, 1)

  retry_policy policy_;
  std::uint64_t state_;
  std::uint32_t attempts_ = 0;
  double previous_ns_ = 0;
};

/// gRPC-style retry throttling: a token bucket shared by every retry it governs (one per query,
/// one per engine), so retries cannot multiply load when everything fails. Starts full at
/// max_tokens; each failure takes 1 token (down to 0), each success gives back token_ratio (up to
/// max_tokens); a retry is allowed only while tokens > max_tokens / 2. With the defaults a burst
/// of 5 failures stops retries, and 10 successes earn one retry back. Thread-safe.
class retry_budget {
 public:
  explicit retry_budget(double max_tokens = 10, double token_ratio = 0.1);
  bool allow_retry() const noexcept;
  void on_failure() noexcept;
  void on_success() noexcept;
  double tokens() const noexcept;
  double max_tokens() const noexcept;
  double token_ratio() const noexcept;

 private:
  double max_tokens_;
  double token_ratio_;
  // Stored in thousandths of a token: integer atomics add exactly, and 0.1 steps do not drift.
  std::atomic<std::int64_t> milli_tokens_;
};

/// The one retry primitive: decides, per failure, whether to try again and after how long, and
/// waits on the clock (an Asio timer: no thread sleeps). One per retry sequence (an operator of a
/// query); not thread-safe. The budgets must outlive it.
class retry_controller {
 public:
  retry_controller(retry_policy p, std::shared_ptr<clock> c, std::uint64_t seed, retry_budget* query_budget,
                   retry_budget* engine_budget);  // budgets may be null

  struct decision {
    bool retry = false;
    std::chrono::nanoseconds delay{0};
    error_class cls{};
    /// Why not: the cause's own code (never retryable; operator_failed or query_cancelled for
    /// an exception without a code), retries_exhausted, retry_budget_exhausted. Empty on retry.
    std::error_code stop_code{};
    /// Human-readable: "bad_input is never retried", "5 of 5 retries used", "the query's retry
    /// budget is spent (5.0 of 10 tokens)", "retry 2 of 5 after 35ms".
    std::string reason{};
  };

  /// Classifies the failure; a never-retryable class, spent attempts or an empty budget (either)
  /// give retry=false; otherwise returns the next delay and counts the attempt. Every failure of
  /// a retryable class takes a token from both budgets first (gRPC: failed attempts drain the
  /// bucket whether or not they are retried).
  decision on_failure(const std::exception_ptr& e, double recent_failure_rate);
  /// Resets attempts and the schedule; gives tokens back to both budgets.
  void on_success() noexcept;
  /// Retries granted since construction or the last success.
  std::uint32_t attempts() const noexcept;
  /// The controller's own estimate of the recent failure rate: an exponentially weighted mean of
  /// its outcomes (failure 1, success 0, weight 0.2 on the newest), for callers without a
  /// failure detector. retry() without a rate source feeds it to the adaptive policy.
  double recent_failure_rate() const noexcept;
  const retry_policy& policy() const noexcept;
  const std::shared_ptr<clock>& clock_source() const noexcept;

  /// Waits `d` on the clock; throws ftq::error(errc::query_cancelled) when `slot` fires or when
  /// `cancelled()` is true after the wait (cancellation is checked again after every wait).
  /// `cancelled` may be empty.
  boost::asio::awaitable<void> wait(std::chrono::nanoseconds d, boost::asio::cancellation_slot slot,
                                    std::function<bool()> cancelled);

 private:
  retry_policy policy_;
  std::shared_ptr<clock> clock_;
  backoff_schedule schedule_;
  retry_budget* query_budget_;
  retry_budget* engine_budget_;
  std::uint32_t attempts_ = 0;
  double failure_ewma_ = 0;
};

namespace detail {

/// what() of an exception for messages ("unknown exception" when it has none).
std::string failure_message(const std::exception_ptr& e);
/// Throws what retry() throws when the controller stops: the failure itself when it was never
/// retryable, else ftq::error(d.stop_code, d.reason + ": " + the failure's what()).
[[noreturn]] void throw_stop(const retry_controller::decision& d, const std::exception_ptr& failure);

}  // namespace detail

/// Runs attempt() until it succeeds or the controller says stop, feeding `failure_rate()` to the
/// adaptive policy. Stop: a never-retryable failure is rethrown as it is; spent attempts or
/// budget throw ftq::error(decision.stop_code, reason + ": " + the last failure's what()).
/// Cancellation is never retried: a cancelled failure is rethrown, and a cancellation during a
/// backoff throws ftq::error(query_cancelled).
template <class T>
boost::asio::awaitable<T> retry(retry_controller& rc, std::function<boost::asio::awaitable<T>()> attempt,
                                boost::asio::cancellation_slot slot, std::function<bool()> cancelled,
                                std::function<double()> failure_rate) {
  for (;;) {
    std::exception_ptr failure;
    try {
      if constexpr (std::is_void_v<T>) {
        co_await attempt();
        rc.on_success();
        co_return;
      } else {
        T value = co_await attempt();
        rc.on_success();
        co_return value;
      }
    } catch (...) {
      // Only recorded here: a coroutine cannot co_await inside a handler.
      failure = std::current_exception();
    }
    const double rate = failure_rate ? failure_rate() : rc.recent_failure_rate();
    retry_controller::decision d = rc.on_failure(failure, rate);
    if (!d.retry) {
      detail::throw_stop(d, failure);
    }
    // Built before the co_await: GCC 12 mishandles temporaries with destructors inside a
    // co_await expression.
    boost::asio::awaitable<void> pause = rc.wait(d.delay, slot, cancelled);
    co_await std::move(pause);
  }
}

/// retry() with the controller's own failure-rate estimate (recent_failure_rate()).
template <class T>
boost::asio::awaitable<T> retry(retry_controller& rc, std::function<boost::asio::awaitable<T>()> attempt,
                                boost::asio::cancellation_slot slot, std::function<bool()> cancelled) {
  boost::asio::awaitable<T> run = retry<T>(rc, std::move(attempt), slot, std::move(cancelled), {});
  co_return co_await std::move(run);
}

}  // namespace ftq
