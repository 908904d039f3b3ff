#pragma once
/// Shares an engine's executor threads among running queries by priority (stride scheduling,
/// Waldspurger 1995). A query needs a turn to compute; there are as many turns as threads. Each
/// query has a pass that advances by 1/priority per time slice; at a yield, a query hands its
/// turn to the waiting query with the lowest pass if that is lower than its own. While several
/// are runnable, a query of priority 4 gets four slices for each one a query of priority 1 gets,
/// and none starves. A query gives up its turn while it waits (a backoff, a commit, a restore),
/// so waiting never holds others back.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "engine/priority_wait_queue.hpp"
#include "exec/execution_context.hpp"

namespace ftq::engine_detail {

class priority_scheduler final : public exec::yield_scheduler {
 public:
  explicit priority_scheduler(std::size_t turns);

  /// A query joins at the pass of the latest slice handed out, so it neither inherits old
  /// queries' debts nor jumps ahead of them.
  void add(const exec::execution_context* ctx, std::uint32_t priority);
  void remove(const exec::execution_context* ctx);

  boost::asio::awaitable<void> yield(exec::execution_context& ctx) override;
  void leave(exec::execution_context& ctx) override;
  boost::asio::awaitable<void> enter(exec::execution_context& ctx) override;

  /// Slices handed out per query so far (for tests and the status page).
  std::uint64_t slices(const exec::execution_context* ctx) const;

 private:
  static constexpr std::int64_t stride_unit = std::int64_t{1} << 20;
  struct entry {
    std::int64_t pass = 0;
    std::int64_t stride = stride_unit;
    std::uint64_t slices = 0;
  };
  entry& entry_of(const exec::execution_context* ctx);

  mutable std::mutex mutex_;
  std::size_t free_turns_;
  std::map<const exec::execution_context*, entry> queries_;
  std::int64_t virtual_time_ = 0;
  priority_wait_queue queue_;
};

}  // namespace ftq::engine_detail
