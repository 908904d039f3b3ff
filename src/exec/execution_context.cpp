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

void execution_context::check_cancelled() const {
  if (cancelled())
    throw error(errc::query_cancelled, "query cancelled");
}

boost::asio::awaitable<void> execution_context::maybe_yield() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_yield_ < yield_interval_)
    co_return;
  ++yields_;
  co_await boost::asio::post(executor_, boost::asio::use_awaitable);
  last_yield_ = std::chrono::steady_clock::now();
  check_cancelled();
}

}  // namespace ftq::exec
