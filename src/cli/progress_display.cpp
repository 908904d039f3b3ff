#include "cli/progress_display.hpp"

#include <unistd.h>

#include <cstdio>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace ftq::cli {

std::string human_count(double v) {
  char buf[32];
  if (v >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  } else if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

progress_display::progress_display(bool enabled) : enabled_(enabled), started_(std::chrono::steady_clock::now()) {}

progress_display::~progress_display() { entries_.clear(); }

bool progress_display::stderr_is_terminal() noexcept { return ::isatty(STDERR_FILENO) == 1; }

void progress_display::add(std::string label, query_ptr q) { entries_.push_back({std::move(label), std::move(q)}); }

void progress_display::note(std::string line) {
  if (!enabled_) {
    line += '\n';
    std::fputs(line.c_str(), stderr);
    return;
  }
  std::lock_guard lock(notes_mutex_);
  notes_.push_back(std::move(line));
}

void progress_display::draw() {
  if (!enabled_)
    return;
  std::string frame;
  if (lines_drawn_ > 0)
    frame += "\x1b[" + std::to_string(lines_drawn_) + "A";
  {
    // Notes take the bars' place and the bars move down below them.
    std::lock_guard lock(notes_mutex_);
    for (const auto& n : notes_) {
      frame += "\r\x1b[2K" + n + "\n";
    }
    notes_.clear();
  }
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  constexpr int width = 30;
  for (auto& e : entries_) {
    const auto p = e.query->progress();
    const auto state = e.query->state();
    const bool ended = state != query_state::prepared && state != query_state::running;
    if (ended && e.finished_s < 0)
      e.finished_s = elapsed;
    const double seconds = ended ? e.finished_s : elapsed;
    double f = p.fraction();
    if (state == query_state::succeeded)
      f = 1;
    const int filled = static_cast<int>(f * width);
    // What fault tolerance did shows on the bar, so a recovery is visible while it happens.
    const fault_tolerance_stats ft = e.query->fault_tolerance();
    std::string extra;
    if (ft.resumed) {
      extra += "  resumed@" + std::to_string(ft.resumed_epoch);
    }
    if (ft.failures > 0) {
      const std::uint64_t recovered = ft.retries + ft.operator_restores + ft.pipeline_restarts;
      extra += "  " + std::to_string(ft.failures) + " failed/" + std::to_string(recovered) + " recovered";
    }
    char line[320];
    const double rate = seconds > 0 ? static_cast<double>(p.rows_scanned) / seconds : 0;
    std::snprintf(line, sizeof line, "\r\x1b[2K%-9s [%s%s] %3.0f%%  %s/%s rows  %s rows/s  %.1fs  %s%s\n",
                  e.label.c_str(), std::string(static_cast<std::size_t>(filled), '#').c_str(),
                  std::string(static_cast<std::size_t>(width - filled), '.').c_str(), f * 100,
                  human_count(static_cast<double>(p.rows_scanned)).c_str(),
                  human_count(static_cast<double>(p.rows_total)).c_str(), human_count(rate).c_str(), seconds,
                  std::string(query_state_name(state)).c_str(), extra.c_str());
    frame += line;
  }
  std::fputs(frame.c_str(), stderr);
  std::fflush(stderr);
  lines_drawn_ = entries_.size();
}

boost::asio::awaitable<void> progress_display::run() { return run(std::chrono::milliseconds(100)); }

boost::asio::awaitable<void> progress_display::run(std::chrono::milliseconds period) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    draw();
    bool running = false;
    for (const auto& e : entries_) {
      const auto s = e.query->state();
      running = running || s == query_state::prepared || s == query_state::running;
    }
    if (!running)
      break;
    timer.expires_after(period);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace ftq::cli
