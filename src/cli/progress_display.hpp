#pragma once
/// Draws one progress bar per running query on stderr (rows done of total, rate, elapsed, and
/// failures recovered so far), redrawn in place on a timer while the queries run, with notes
/// (resumed, stopping, checkpoint events) printed above the bars. Draws no bars when disabled
/// (stderr not a terminal), so logs and CI output stay clean; notes are then printed at once.

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/engine.hpp>

namespace ftq::cli {

class progress_display {
 public:
  /// `enabled` false draws nothing; use stderr_is_terminal() for the usual choice.
  explicit progress_display(bool enabled);
  /// Releases the queries before the notes: a query's checkpoint manager may log as it goes.
  ~progress_display();
  progress_display(const progress_display&) = delete;
  progress_display& operator=(const progress_display&) = delete;
  static bool stderr_is_terminal() noexcept;

  void add(std::string label, query_ptr q);
  /// Prints `line` above the bars on the next frame (at once when disabled). Thread-safe: the
  /// checkpoint manager logs from its own threads.
  void note(std::string line);
  /// Redraws every `period` until every added query has finished, then draws a final frame.
  /// (Two overloads: a coroutine must not take a defaulted argument under GCC 12.)
  boost::asio::awaitable<void> run(std::chrono::milliseconds period);
  boost::asio::awaitable<void> run();
  /// Draws the current frame once (and any pending notes).
  void draw();

 private:
  struct entry {
    std::string label;
    query_ptr query;
    double finished_s = -1;  // elapsed seconds when the query ended; rate and time freeze there
  };
  bool enabled_;
  std::vector<entry> entries_;
  std::size_t lines_drawn_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::mutex notes_mutex_;
  std::vector<std::string> notes_;  // waiting for the next frame
};

/// "1.23M", "45.6k", "789".
std::string human_count(double v);

}  // namespace ftq::cli
