#pragma once
/// Renders parts of an engine snapshot as the JSON bodies docs/status-endpoint.md specifies:
/// /healthz, /status, one query, the failure history, the checkpoint lists, the cluster view,
/// action and error bodies. Durations are seconds (double), timestamps unix ms (the cluster
/// view's ISO 8601 UTC, as `ftq status --json` prints them), ages measured from the snapshot's
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
/// {"engine": ..., "queries": [...], "cluster": ...} with every query and its operators, and the
/// cluster view (null without one).
std::string status_json(const engine_snapshot& snap);
/// The cluster view alone (/cluster, and /status's "cluster"): {"worker", "store", "takeovers",
/// "leases_held", "fenced_commits", "queries": [{"id", "state", "owner", "lease_until" (ISO 8601
/// UTC with ms, or null), "lease_current", "last_epoch" (or null), "error", "result" ({"sha256",
/// "bytes", "rows", "committed_by", "committed_at"} or null), "history": [{"at", "from", "to",
/// "why"}]}]}.
std::string cluster_json(const cluster_view& c);
/// {"store", "queries": [...]} with the queries exactly as cluster_json() writes them: the shape
/// of `ftq status --json`.
std::string cluster_store_json(const cluster_view& c);
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
