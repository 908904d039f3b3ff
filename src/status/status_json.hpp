#pragma once
/// Renders parts of an engine snapshot as the JSON bodies docs/status-endpoint.md specifies:
/// /healthz, /status, one query, the failure history, the checkpoint lists, action and error
/// bodies. Durations are seconds (double), timestamps unix ms, ages measured from the snapshot's
/// own `engine.now` (never the clock), so the same snapshot always renders the same bytes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <ftq/status.hpp>

namespace ftq::status {

std::string healthz_json(const engine_status& engine);
/// {"engine": ..., "queries": [...]} with every query and its operators.
std::string status_json(const engine_snapshot& snap);
/// One element of /status's "queries".
std::string query_json(const query_status& q, std::chrono::system_clock::time_point now);
/// {"failures": [...], "total": total}: `records` are the ones to list (already filtered and
/// limited), `total` how many matched before the limit.
std::string failures_json(std::span<const failure_record* const> records, std::size_t total);
/// {"queries": [{"id", "name", "checkpoint_id", "backend", "checkpoints": [...]}]}.
std::string checkpoints_json(std::span<const query_status* const> queries, std::chrono::system_clock::time_point now);
/// {"query": id, "action": action, "accepted": true}: a POST that was accepted.
std::string action_json(std::uint64_t query, std::string_view action);
/// {"error": message, "status": status}.
std::string error_json(unsigned status, std::string_view message);

}  // namespace ftq::status
