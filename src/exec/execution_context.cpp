#include "exec/execution_context.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

namespace ftq::exec {

execution_context::execution_context(boost::asio::any_io_executor executor, std::size_t batch_rows,
                                     std::size_t operator_count, std::shared_ptr<query_progress> progress,
                                     std::chrono::microseconds yield_interval)
    : executor_(std::move(executor)),
      batch_rows_(batch_rows == 0 ? 1 : batch_rows),
      states_(operator_count),
      stats_(operator_count),
      progress_(progress ? std::move(progress) : std::make_shared<query_progress>()),
      yield_interval_(yield_interval),
      last_yield_(std::chrono::steady_clock::now()) {}

void execution_context::set_state(std::size_t operator_id, std::unique_ptr<operator_state> state) {
  states_.at(operator_id) = std::move(state);
}

void execution_context::set_supervisor(std::size_t operator_id, operator_supervisor* s) {
  if (supervisors_.empty()) {
    supervisors_.assign(states_.size(), nullptr);
  }
  supervisors_.at(operator_id) = s;
}

void execution_context::wake_waiter() noexcept {
  // The signal belongs to the executor's thread, like the timer whose wait it cancels.
  boost::asio::post(executor_, [signal = wait_signal_] { signal->emit(boost::asio::cancellation_type::all); });
}

void execution_context::cancel() noexcept {
  cancelled_.store(true, std::memory_order_relaxed);
  wake_waiter();
}

void execution_context::interrupt(std::size_t operator_id) noexcept {
  interrupted_.store(static_cast<std::int64_t>(operator_id), std::memory_order_relaxed);
  wake_waiter();
}

std::optional<std::size_t> execution_context::take_interrupt() noexcept {
  const std::int64_t id = interrupted_.exchange(-1, std::memory_order_relaxed);
  if (id < 0) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(id);
}

boost::asio::awaitable<void> execution_context::resume_turn() {
  if (scheduler_ != nullptr) {
    co_await scheduler_->enter(*this);
  }
}

void execution_context::check_cancelled() const {
  if (cancelled())
    throw error(errc::query_cancelled, "query cancelled");
}

boost::asio::awaitable<void> execution_context::maybe_yield() {
  co_await yield_if_due();
  check_cancelled();
}

boost::asio::awaitable<void> execution_context::yield_if_due() {
  const auto now = std::chrono::steady_clock::now();
  const std::chrono::microseconds slice =
      pressure_ != nullptr ? pressure_->slice(now, yield_interval_) : yield_interval_;
  if (now - last_yield_ < slice)
    co_return;
  ++yields_;
  if (scheduler_ != nullptr) {
    co_await scheduler_->yield(*this);
  } else {
    co_await boost::asio::post(executor_, boost::asio::use_awaitable);
  }
  last_yield_ = std::chrono::steady_clock::now();
}

}  // namespace ftq::exec
