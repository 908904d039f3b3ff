#pragma once
/// Draws one progress bar per running query on stderr (rows done of total, rate, elapsed),
/// redrawn in place on a timer while the queries run. Draws nothing when stderr is not a
/// terminal, so logs and CI output stay clean.

#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/engine.hpp>

namespace ftq::cli {

class progress_display {
 public:
  /// `enabled` false draws nothing; use stderr_is_terminal() for the usual choice.
  explicit progress_display(bool enabled);
  static bool stderr_is_terminal() noexcept;

  void add(std::string label, query_ptr q);
  /// Redraws every `period` until every added query has finished, then draws a final frame.
  boost::asio::awaitable<void> run(std::chrono::milliseconds period = std::chrono::milliseconds(100));
  /// Draws the current frame once.
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
};

/// "1.23M", "45.6k", "789".
std::string human_count(double v);

}  // namespace ftq::cli
