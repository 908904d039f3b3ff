#pragma once
/// Renders the engine's metrics, the status server's own counters and each running query's
/// progress in the Prometheus text exposition format 0.0.4: a # HELP and # TYPE line per metric,
/// label values escaped, every error class listed (zeros too), histograms as cumulative
/// _bucket{le=...} lines ending at le="+Inf" (equal to _count), then _sum and _count.

#include <string>

#include <ftq/status.hpp>
#include <ftq/status_server.hpp>

namespace ftq::status {

/// The Content-Type of what prometheus_text() returns.
inline constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Uses snap.metrics, snap.engine, snap.queries (the running ones' progress) and, when present,
/// snap.cluster (the ftq_cluster_* families appear only then).
std::string prometheus_text(const engine_snapshot& snap, const status_server_stats& server);

}  // namespace ftq::status
