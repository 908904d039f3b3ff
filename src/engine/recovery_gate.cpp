#include "engine/recovery_gate.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/this_coro.hpp>

namespace ftq::engine_detail {

recovery_gate::recovery_gate(std::size_t max_concurrent) : max_(std::max<std::size_t>(1, max_concurrent)) {}

void recovery_gate::admitted(std::string who) {
  std::lock_guard lock(mutex_);
  if (order_.size() == 256) {
    order_.erase(order_.begin());
  }
  order_.push_back(std::move(who));
}

boost::asio::awaitable<recovery_gate::permit> recovery_gate::acquire(std::uint32_t priority, std::uint64_t cost,
                                                                     std::string who) {
  const auto executor = co_await boost::asio::this_coro::executor;
  std::optional<priority_wait_queue::ticket> ticket;
  {
    std::lock_guard lock(mutex_);
    // Nobody may pass a waiter: a free slot goes to the queue's best when there is a queue.
    if (running_ < max_ && queue_.waiting() == 0) {
      ++running_;
    } else {
      ticket.emplace(queue_.enqueue({-static_cast<std::int64_t>(priority), cost}, executor));
    }
  }
  if (ticket) {
    // The slot is handed over by release(): running_ stays counted for the woken waiter.
    co_await ticket->wait();
  }
  admitted(std::move(who));
  co_return permit(this);
}

void recovery_gate::release() {
  std::lock_guard lock(mutex_);
  if (!queue_.wake_best()) {
    --running_;
  }
}

std::size_t recovery_gate::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

std::vector<std::string> recovery_gate::order() const {
  std::lock_guard lock(mutex_);
  return order_;
}

}  // namespace ftq::engine_detail
