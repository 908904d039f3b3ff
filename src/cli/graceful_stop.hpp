#pragma once
/// Turns SIGINT and SIGTERM into a graceful stop of every query an engine runs: the first
/// signal asks the engine to stop (each query takes a final checkpoint and ends with
/// query_cancelled) and starts a deadline; if the process has not finished by then it exits
/// anyway with 128 + the signal, as does a second signal at once. Either way the last
/// checkpoint committed stands, so running the same command again resumes.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <ftq/engine.hpp>

namespace ftq::cli {

class graceful_stop {
 public:
  /// Listens for SIGINT and SIGTERM on `io` from now on. `stop` is what the first signal does
  /// (normally engine::stop_all()); `say` prints a line (the progress display's note()).
  graceful_stop(boost::asio::io_context& io, std::function<void()> stop, std::chrono::milliseconds timeout,
                std::function<void(std::string)> say);
  /// Waits for nothing: stops listening and disarms the deadline.
  ~graceful_stop();
  graceful_stop(const graceful_stop&) = delete;
  graceful_stop& operator=(const graceful_stop&) = delete;

  /// Stops listening, so that io_context::run() can return once the work is done. Call it when
  /// the queries have ended; the deadline is disarmed too.
  void finish();
  /// The signal that asked for the stop (SIGINT, SIGTERM), or 0.
  int signal_number() const noexcept { return signal_; }
  /// 128 + signal_number(): the exit status of a process ended by that signal.
  int exit_code() const noexcept { return 128 + signal_; }

 private:
  void on_signal(int signo);
  void watch_deadline();

  boost::asio::signal_set signals_;
  std::function<void()> stop_;
  std::chrono::milliseconds timeout_;
  std::function<void(std::string)> say_;
  int signal_ = 0;
  std::mutex mutex_;
  std::condition_variable finished_cv_;
  bool finished_ = false;
  std::thread deadline_;
};

}  // namespace ftq::cli
