#pragma once
// Runs a coroutine body to completion on a fresh io_context with a watchdog, rethrowing what
// it throws. Tests never call io_context::run() by hand.

#include <chrono>
#include <exception>
#include <stdexcept>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace ftq::test {

/// Runs `body` on `io` (restarted first), for objects made with io's executor that must be
/// driven by the same io_context (an io_uring store's completions, say).
template <class Body>
auto run_coro_on(boost::asio::io_context& io, Body&& body, std::chrono::seconds watchdog = std::chrono::seconds(60)) {
  io.restart();
  using awaitable_t = decltype(body(io.get_executor()));
  using value_t = typename awaitable_t::value_type;
  std::exception_ptr error;
  bool done = false;
  if constexpr (std::is_void_v<value_t>) {
    boost::asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
    io.run_for(watchdog);
    if (error)
      std::rethrow_exception(error);
    if (!done)
      throw std::runtime_error("run_coro: watchdog expired");
  } else {
    value_t result{};
    boost::asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e, value_t v) {
      error = e;
      result = std::move(v);
      done = true;
    });
    io.run_for(watchdog);
    if (error)
      std::rethrow_exception(error);
    if (!done)
      throw std::runtime_error("run_coro: watchdog expired");
    return result;
  }
}

template <class Body>
auto run_coro(Body&& body, std::chrono::seconds watchdog = std::chrono::seconds(60)) {
  boost::asio::io_context io;
  return run_coro_on(io, std::forward<Body>(body), watchdog);
}

}  // namespace ftq::test
