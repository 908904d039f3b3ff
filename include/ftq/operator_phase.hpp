#pragma once
/// What one operator of a running query is doing now (for the status endpoint and tools).

#include <cstdint>
#include <string_view>

namespace ftq {

enum class operator_phase : std::uint8_t {
  idle,         // not called yet
  running,      // producing batches
  backing_off,  // waiting out a retry backoff or an open breaker
  recovering,   // its state (or its pipeline's) is being restored from a checkpoint
  finished,     // returned its last batch
  failed,       // a failure ended it for good (the query failed or was cancelled)
};
/// "idle", "running", "backing_off", "recovering", "finished", "failed".
std::string_view operator_phase_name(operator_phase p) noexcept;

}  // namespace ftq
