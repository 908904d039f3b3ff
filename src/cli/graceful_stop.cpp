#include "cli/graceful_stop.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ftq::cli {

namespace {

// A second signal means "now": no destructor, flush or checkpoint; only async-signal-safe calls.
extern "C" void exit_at_once(int signo) {
  static const char message[] = "ftq: second signal: exiting now; the last checkpoint stands\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, message, sizeof message - 1);
  ::_exit(128 + signo);
}

std::string describe_duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) {
    return std::to_string(d.count() / 1000) + "s";
  }
  return std::to_string(d.count()) + "ms";
}

}  // namespace

graceful_stop::graceful_stop(boost::asio::io_context& io, std::function<void()> stop, std::chrono::milliseconds timeout,
                             std::function<void(std::string)> say)
    : signals_(io, SIGINT, SIGTERM), stop_(std::move(stop)), timeout_(timeout), say_(std::move(say)) {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (!ec) {
      on_signal(signo);
    }
  });
}

graceful_stop::~graceful_stop() {
  finish();
  if (deadline_.joinable()) {
    deadline_.join();
  }
}

void graceful_stop::finish() {
  boost::system::error_code ignored;  // nothing to do about a failed cancel at the end of a run
  signals_.cancel(ignored);
  std::lock_guard lock(mutex_);
  finished_ = true;
  finished_cv_.notify_all();
}

void graceful_stop::on_signal(int signo) {
  signal_ = signo;
  // From here on the signals are ours, not Asio's: a second one must work even if the executor
  // thread is busy, so it is handled in the signal handler itself.
  boost::system::error_code ignored;  // clear() only restores SIG_DFL; we replace it next anyway
  signals_.clear(ignored);
  struct sigaction sa {};
  sa.sa_handler = exit_at_once;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  say_(std::string("ftq: ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") +
       ": stopping after a final checkpoint (within " + describe_duration(timeout_) +
       "; a second signal exits at once)");
  deadline_ = std::thread([this] { watch_deadline(); });
  stop_();
}

void graceful_stop::watch_deadline() {
  std::unique_lock lock(mutex_);
  if (finished_cv_.wait_for(lock, timeout_, [this] { return finished_; })) {
    return;
  }
  std::fprintf(stderr, "\nftq: not stopped within %s: exiting; the last checkpoint stands\n",
               describe_duration(timeout_).c_str());
  std::fflush(stderr);
  std::_Exit(exit_code());
}

}  // namespace ftq::cli
