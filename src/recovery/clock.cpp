#include <ftq/clock.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ftq {

namespace asio = boost::asio;

namespace {

class steady_source final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }

  asio::awaitable<bool> sleep(duration d, asio::cancellation_slot slot) override {
    // Named locals, not temporaries inside co_await expressions (GCC 12 coroutine bugs).
    asio::any_io_executor ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, d);
    if (slot.is_connected()) {
      auto [ec] = co_await timer.async_wait(asio::bind_cancellation_slot(slot, asio::as_tuple(asio::use_awaitable)));
      // The completed wait leaves its handler in the slot, pointing at this timer: a later emit
      // (a cancel long after) must not reach it.
      slot.clear();
      co_return !ec;
    }
    // No slot of its own: the timer inherits the awaiting coroutine's cancellation slot.
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  }
};

}  // namespace

std::shared_ptr<clock> steady_clock_source() {
  static const std::shared_ptr<clock> source = std::make_shared<steady_source>();
  return source;
}

manual_clock::manual_clock(time_point start) noexcept : start_(start) {}

clock::time_point manual_clock::now() const noexcept {
  return start_ + duration(elapsed_.load(std::memory_order_acquire));
}

void manual_clock::advance(duration d) noexcept {
  if (d > duration::zero()) {
    elapsed_.fetch_add(d.count(), std::memory_order_acq_rel);
  }
}

std::vector<clock::duration> manual_clock::sleeps() const {
  std::lock_guard lock(mutex_);
  return sleeps_;
}

void manual_clock::clear_sleeps() {
  std::lock_guard lock(mutex_);
  sleeps_.clear();
}

asio::awaitable<bool> manual_clock::sleep(duration d, asio::cancellation_slot slot) {
  asio::cancellation_state own = co_await asio::this_coro::cancellation_state;
  if (own.cancelled() != asio::cancellation_type::none) {
    co_return false;
  }
  {
    std::lock_guard lock(mutex_);
    sleeps_.push_back(d);
  }
  advance(d);
  // Shared with the handler: should the coroutine be destroyed mid-post, a later emit still
  // writes to live memory.
  auto fired = std::make_shared<bool>(false);
  if (slot.is_connected()) {
    slot.assign([fired](asio::cancellation_type type) {
      if (type != asio::cancellation_type::none) {
        *fired = true;
      }
    });
  }
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
  if (slot.is_connected()) {
    slot.clear();
  }
  co_return !*fired;
}

}  // namespace ftq
