#include "engine/priority_wait_queue.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ftq::engine_detail {

priority_wait_queue::ticket priority_wait_queue::enqueue(rank r, const boost::asio::any_io_executor& executor) {
  // Room for one message: a wake that comes before the receive starts is kept, not lost.
  auto wake = std::make_shared<channel>(executor, 1);
  std::lock_guard lock(mutex_);
  waiters_.insert(waiter{r, next_seq_++, wake});
  return ticket(std::move(wake));
}

boost::asio::awaitable<void> priority_wait_queue::ticket::wait() {
  co_await wake_->async_receive(boost::asio::use_awaitable);
}

boost::asio::awaitable<void> priority_wait_queue::wait(rank r) {
  const auto executor = co_await boost::asio::this_coro::executor;
  ticket t = enqueue(r, executor);
  co_await t.wait();
}

bool priority_wait_queue::wake_best() {
  std::shared_ptr<channel> wake;
  {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) {
      return false;
    }
    wake = waiters_.begin()->wake;
    waiters_.erase(waiters_.begin());
  }
  wake->try_send(boost::system::error_code{});
  return true;
}

std::size_t priority_wait_queue::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace ftq::engine_detail

namespace ftq::engine_detail {

std::optional<priority_wait_queue::rank> priority_wait_queue::best_rank() const {
  std::lock_guard lock(mutex_);
  if (waiters_.empty()) {
    return std::nullopt;
  }
  return waiters_.begin()->r;
}

}  // namespace ftq::engine_detail
