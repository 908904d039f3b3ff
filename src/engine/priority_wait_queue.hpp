#pragma once
/// Lets coroutines wait in order of a rank instead of arrival: wait(rank) suspends the caller
/// until some wake_best() picks it, and wake_best() resumes the waiter with the lowest rank
/// (ties: first come). Thread-safe: waiters and wakers may run on any threads of a pool.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

namespace ftq::engine_detail {

class priority_wait_queue {
 public:
  /// Lower ranks go first: (first, second), then arrival.
  using rank = std::tuple<std::int64_t, std::uint64_t>;

  using channel = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  /// A place in the queue, taken synchronously (so a caller can take it under its own lock) and
  /// awaited later; a wake that comes first is kept.
  class ticket {
   public:
    explicit ticket(std::shared_ptr<channel> c) : wake_(std::move(c)) {}
    boost::asio::awaitable<void> wait();

   private:
    std::shared_ptr<channel> wake_;
  };
  ticket enqueue(rank r, const boost::asio::any_io_executor& executor);
  /// enqueue() then wait().
  boost::asio::awaitable<void> wait(rank r);
  /// Resumes the best waiter; false when nobody waits.
  bool wake_best();
  std::size_t waiting() const;
  /// The best waiter's rank, if anyone waits.
  std::optional<rank> best_rank() const;

 private:
  struct waiter {
    rank r;
    std::uint64_t seq;
    std::shared_ptr<channel> wake;
    bool operator<(const waiter& o) const { return std::tie(r, seq) < std::tie(o.r, o.seq); }
  };

  mutable std::mutex mutex_;
  std::set<waiter> waiters_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace ftq::engine_detail
