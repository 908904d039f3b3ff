#pragma once
/// Describes in one line what fault tolerance did for a query: failures, how each kind was
/// recovered, rows replayed, time lost, checkpoint writes that failed. Empty when nothing
/// failed, so a clean run prints nothing extra.

#include <string>

#include <ftq/engine.hpp>

namespace ftq::cli {

std::string recovery_summary(const fault_tolerance_stats& ft, const checkpoint_stats& cs);

/// Time recovery cost the query: waiting in backoff plus restoring states. (recovery_time also
/// counts the replay, which is work the query would have done anyway.)
std::chrono::nanoseconds time_lost(const fault_tolerance_stats& ft);

/// Seconds with three decimals: "0.153s".
std::string seconds_text(std::chrono::nanoseconds d);

}  // namespace ftq::cli
