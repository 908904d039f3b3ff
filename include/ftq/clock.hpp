#pragma once
/// Gives recovery code its notion of time: now() and a sleep that suspends the calling coroutine
/// (never its thread) and ends early when a cancellation slot fires. Production code uses
/// steady_clock_source() (an Asio steady_timer); tests use manual_clock, whose time moves only
/// when told, so backoff and window tests are exact and take no real time.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>

namespace ftq {

class clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~clock() = default;
  virtual time_point now() const noexcept = 0;
  /// Suspends the calling coroutine for `d` without blocking its thread. Returns true when the
  /// time passed, false when `slot` was signalled first (any cancellation type). An unconnected
  /// `slot` leaves the awaiting coroutine's own cancellation in charge. Emit the slot's signal
  /// from the executor the sleeper runs on (Asio cancellation signals are not thread-safe).
  virtual boost::asio::awaitable<bool> sleep(duration d, boost::asio::cancellation_slot slot) = 0;
};

/// The real clock: std::chrono::steady_clock; sleep() is a steady_timer on the awaiting
/// coroutine's executor (this_coro::executor). One shared, stateless instance.
std::shared_ptr<clock> steady_clock_source();

/// A clock for tests: now() is a fixed start plus everything advanced; nothing waits for real.
/// sleep(d) returns false at once if the awaiting coroutine is already cancelled; otherwise it
/// records d (sleeps()), advances now() by d, lets other coroutines run once (one post() through
/// the executor) and returns false if `slot` was signalled meanwhile, true otherwise.
/// Thread-safe.
class manual_clock final : public clock {
 public:
  /// Starts at `start`: by default an hour after the steady clock's epoch, so that subtracting a
  /// window or timeout from now() never goes below the epoch.
  explicit manual_clock(time_point start = time_point{} + std::chrono::hours(1)) noexcept;

  time_point now() const noexcept override;
  boost::asio::awaitable<bool> sleep(duration d, boost::asio::cancellation_slot slot) override;

  /// Moves now() forward by `d` (a negative d is ignored: steady time never goes back).
  void advance(duration d) noexcept;
  /// Every duration sleep() was asked for, in order (including cancelled ones).
  std::vector<duration> sleeps() const;
  void clear_sleeps();

 private:
  std::atomic<duration::rep> elapsed_{0};
  time_point start_;
  mutable std::mutex mutex_;
  std::vector<duration> sleeps_;
};

}  // namespace ftq
