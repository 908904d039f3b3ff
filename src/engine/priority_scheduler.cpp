#include "engine/priority_scheduler.hpp"

#include <algorithm>
#include <optional>

#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ftq::engine_detail {

priority_scheduler::priority_scheduler(std::size_t turns) : free_turns_(std::max<std::size_t>(1, turns)) {}

priority_scheduler::entry& priority_scheduler::entry_of(const exec::execution_context* ctx) {
  auto it = queries_.find(ctx);
  if (it == queries_.end()) {
    it = queries_.emplace(ctx, entry{virtual_time_, stride_unit, 0}).first;
  }
  return it->second;
}

void priority_scheduler::add(const exec::execution_context* ctx, std::uint32_t priority) {
  std::lock_guard lock(mutex_);
  entry& e = entry_of(ctx);
  e.stride = stride_unit / std::max<std::int64_t>(1, priority);
  e.pass = virtual_time_;
}

void priority_scheduler::remove(const exec::execution_context* ctx) {
  std::lock_guard lock(mutex_);
  queries_.erase(ctx);
}

std::uint64_t priority_scheduler::slices(const exec::execution_context* ctx) const {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(ctx);
  return it == queries_.end() ? 0 : it->second.slices;
}

boost::asio::awaitable<void> priority_scheduler::enter(exec::execution_context& ctx) {
  std::optional<priority_wait_queue::ticket> ticket;
  {
    std::lock_guard lock(mutex_);
    entry& e = entry_of(&ctx);
    // Time spent waiting is not owed: come back no further behind than the current slice.
    e.pass = std::max(e.pass, virtual_time_);
    if (free_turns_ > 0 && queue_.waiting() == 0) {
      --free_turns_;
    } else {
      ticket.emplace(queue_.enqueue({e.pass, 0}, ctx.executor()));
    }
  }
  if (ticket) {
    co_await ticket->wait();  // the turn is handed over by leave() or yield()
  }
}

void priority_scheduler::leave(exec::execution_context&) {
  std::lock_guard lock(mutex_);
  if (!queue_.wake_best()) {
    ++free_turns_;
  }
}

boost::asio::awaitable<void> priority_scheduler::yield(exec::execution_context& ctx) {
  // Other handlers on the executor (timers, I/O completions, a status server) get a turn first.
  co_await boost::asio::post(ctx.executor(), boost::asio::use_awaitable);
  std::optional<priority_wait_queue::ticket> ticket;
  {
    std::lock_guard lock(mutex_);
    entry& e = entry_of(&ctx);
    ++e.slices;
    e.pass += e.stride;
    const auto best = queue_.best_rank();
    if (best && std::get<0>(*best) < e.pass) {
      ticket.emplace(queue_.enqueue({e.pass, 0}, ctx.executor()));
      queue_.wake_best();  // not this query: its pass is higher than the best's
    }
    virtual_time_ = std::max(virtual_time_, best ? std::min(std::get<0>(*best), e.pass) : e.pass);
  }
  if (ticket) {
    co_await ticket->wait();
  }
}

}  // namespace ftq::engine_detail
