#pragma once
/// Bounds how many recoveries (state restores) run at once across an engine's queries. When
/// more are due than may run, they go in order of query priority (highest first), then of
/// restore cost (cheapest first, so many small recoveries are not held behind one large one),
/// then of arrival.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "engine/priority_wait_queue.hpp"

namespace ftq::engine_detail {

class recovery_gate {
 public:
  explicit recovery_gate(std::size_t max_concurrent);

  /// Held while a recovery runs; releasing it admits the next waiter.
  class permit {
   public:
    permit() = default;
    explicit permit(recovery_gate* g) noexcept : gate_(g) {}
    permit(permit&& o) noexcept : gate_(o.gate_) { o.gate_ = nullptr; }
    permit& operator=(permit&&) = delete;
    ~permit() {
      if (gate_ != nullptr) {
        gate_->release();
      }
    }

   private:
    recovery_gate* gate_ = nullptr;
  };

  /// Waits for a slot. `who` names the recovery in order() (for tests and the status page).
  boost::asio::awaitable<permit> acquire(std::uint32_t priority, std::uint64_t cost, std::string who);

  std::size_t max_concurrent() const noexcept { return max_; }
  std::size_t running() const;
  std::size_t waiting() const { return queue_.waiting(); }
  /// Who was admitted, in order (the last 256).
  std::vector<std::string> order() const;

 private:
  void release();
  void admitted(std::string who);

  const std::size_t max_;
  mutable std::mutex mutex_;
  std::size_t running_ = 0;
  priority_wait_queue queue_;
  std::vector<std::string> order_;
};

}  // namespace ftq::engine_detail
