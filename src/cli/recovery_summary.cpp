#include "cli/recovery_summary.hpp"

#include <cstdio>

namespace ftq::cli {

namespace {

std::string count_of(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::chrono::nanoseconds time_lost(const fault_tolerance_stats& ft) { return ft.backoff_time + ft.restore_time; }

std::string seconds_text(std::chrono::nanoseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", std::chrono::duration<double>(d).count());
  return buf;
}

std::string recovery_summary(const fault_tolerance_stats& ft, const checkpoint_stats& cs) {
  std::string s;
  if (ft.failures > 0) {
    s = count_of(ft.failures, "failure", "failures");
    if (ft.stalls > 0) {
      s += " (" + count_of(ft.stalls, "stall", "stalls") + ")";
    }
    s += ": " + std::to_string(ft.retries) + " retried, " + std::to_string(ft.operator_restores) +
         " operator restored, " + std::to_string(ft.pipeline_restarts) + " pipeline restarted; " +
         count_of(ft.rows_replayed, "row", "rows") + " replayed; " + seconds_text(time_lost(ft)) +
         " lost to recovery (backoff " + seconds_text(ft.backoff_time) + ", restore " + seconds_text(ft.restore_time) +
         ")";
    if (ft.handler_runs > 0) {
      s += "; " + count_of(ft.handler_runs, "handler run", "handler runs") + ", " +
           std::to_string(ft.handler_failures) + " failed";
    }
  }
  if (cs.failures > 0) {
    if (!s.empty()) {
      s += "; ";
    }
    s += count_of(cs.failures, "checkpoint write", "checkpoint writes") + " failed (last: " + cs.last_error + ")";
  }
  return s;
}

}  // namespace ftq::cli
