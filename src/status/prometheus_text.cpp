#include "status/prometheus_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <ftq/engine.hpp>
#include <ftq/retry.hpp>

#include "status/utf8.hpp"

namespace ftq::status {

namespace {

// Appends one metric family at a time; names and help texts are the renderer's own literals.
class exposition {
 public:
  explicit exposition(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).push_back(' ');
    out_.append(help).push_back('\n');
    out_.append("# TYPE ").append(name).push_back(' ');
    out_.append(type).push_back('\n');
  }

  void sample(std::string_view name, std::uint64_t v) {
    out_.append(name).push_back(' ');
    integer(v);
  }
  void sample(std::string_view name, double v) {
    out_.append(name).push_back(' ');
    real(v);
  }
  void sample(std::string_view name, std::string_view label, std::string_view label_value, std::uint64_t v) {
    labelled(name, label, label_value);
    integer(v);
  }
  void sample(std::string_view name, std::string_view label, std::string_view label_value, double v) {
    labelled(name, label, label_value);
    real(v);
  }
  /// name{l1="v1",l2="v2"} v
  void sample(std::string_view name, std::string_view l1, std::string_view v1, std::string_view l2, std::string_view v2,
              double v) {
    out_.append(name).push_back('{');
    label(l1, v1);
    out_.push_back(',');
    label(l2, v2);
    out_.append("} ");
    real(v);
  }

  void histogram(std::string_view name, std::string_view help, const histogram_snapshot& h) {
    family(name, "histogram", help);
    std::string bucket(name);
    bucket.append("_bucket");
    std::uint64_t cumulative = 0;
    char le[32];
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      cumulative += i < h.counts.size() ? h.counts[i] : 0;
      labelled(bucket, "le", number_text(h.bounds[i], le));
      integer(cumulative);
    }
    // The overflow bucket, and any counts beyond it a malformed snapshot holds: +Inf must
    // count everything, and _count must equal it or Prometheus rejects the histogram.
    for (std::size_t i = h.bounds.size(); i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
    }
    labelled(bucket, "le", "+Inf");
    integer(cumulative);
    std::string sum(name);
    sample(sum.append("_sum"), h.sum);
    std::string count(name);
    sample(count.append("_count"), cumulative);
  }

  /// Go's ParseFloat reads this: shortest round-trip digits, "+Inf", "-Inf", "NaN"; no locale.
  static std::string_view number_text(double v, char (&buf)[32]) {
    if (std::isnan(v)) {
      return "NaN";
    }
    if (std::isinf(v)) {
      return v > 0 ? "+Inf" : "-Inf";
    }
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
  }

 private:
  void labelled(std::string_view name, std::string_view l, std::string_view v) {
    out_.append(name).push_back('{');
    label(l, v);
    out_.append("} ");
  }

  void label(std::string_view l, std::string_view v) {
    out_.append(l).append("=\"");
    // Prometheus refuses a scrape with a label value that is not UTF-8 (a plan name may be any bytes).
    std::string repaired;
    if (!valid_utf8(v)) {
      append_repaired_utf8(repaired, v);
      v = repaired;
    }
    for (const char c : v) {
      switch (c) {
        case '\\':
          out_.append("\\\\");
          break;
        case '"':
          out_.append("\\\"");
          break;
        case '\n':
          out_.append("\\n");
          break;
        default:
          out_.push_back(c);
      }
    }
    out_.push_back('"');
  }

  void integer(std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr).push_back('\n');
  }

  void real(double v) {
    char buf[32];
    out_.append(number_text(v, buf)).push_back('\n');
  }

  std::string& out_;
};

double seconds(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e9; }

}  // namespace

std::string prometheus_text(const engine_snapshot& snap, const status_server_stats& server) {
  const metrics_snapshot& m = snap.metrics;
  std::string out;
  out.reserve(6144 + 128 * snap.queries.size());
  exposition x(out);

  x.family("ftq_queries_total", "counter", "Queries since the engine started, by outcome.");
  x.sample("ftq_queries_total", "outcome", "started", m.queries_started);
  x.sample("ftq_queries_total", "outcome", "succeeded", m.queries_succeeded);
  x.sample("ftq_queries_total", "outcome", "failed", m.queries_failed);
  x.sample("ftq_queries_total", "outcome", "cancelled", m.queries_cancelled);
  x.family("ftq_rows_scanned_total", "counter", "Rows the scans produced, re-reads after a rollback included.");
  x.sample("ftq_rows_scanned_total", m.rows_scanned);
  x.family("ftq_rows_output_total", "counter", "Result rows delivered.");
  x.sample("ftq_rows_output_total", m.rows_output);

  x.family("ftq_failures_total", "counter", "Operator failures, by error class.");
  for (std::size_t c = 0; c < error_class_count; ++c) {
    x.sample("ftq_failures_total", "class", error_class_name(static_cast<error_class>(c)), m.failures_by_class[c]);
  }
  x.family("ftq_recoveries_total", "counter", "Failures recovered from, by recovery action.");
  x.sample("ftq_recoveries_total", "action", "retry", m.retries);
  x.sample("ftq_recoveries_total", "action", "restore_operator", m.operator_restores);
  x.sample("ftq_recoveries_total", "action", "restart_pipeline", m.pipeline_restarts);
  x.family("ftq_stalls_total", "counter", "Operators the stall detector interrupted.");
  x.sample("ftq_stalls_total", m.stalls);

  x.family("ftq_checkpoint_commits_total", "counter", "Checkpoints committed, by kind.");
  // A delta is counted in both totals the engine keeps; fulls are the rest.
  x.sample("ftq_checkpoint_commits_total", "kind", "full",
           m.checkpoint_commits >= m.checkpoint_deltas ? m.checkpoint_commits - m.checkpoint_deltas : std::uint64_t{0});
  x.sample("ftq_checkpoint_commits_total", "kind", "delta", m.checkpoint_deltas);
  x.family("ftq_checkpoint_failures_total", "counter", "Checkpoint commits that failed.");
  x.sample("ftq_checkpoint_failures_total", m.checkpoint_failures);
  x.family("ftq_checkpoint_bytes_total", "counter",
           "Checkpoint bytes committed, before (raw) and after (stored) compression.");
  x.sample("ftq_checkpoint_bytes_total", "stage", "raw", m.checkpoint_raw_bytes);
  x.sample("ftq_checkpoint_bytes_total", "stage", "stored", m.checkpoint_stored_bytes);

  x.family("ftq_queries_running", "gauge", "Queries running now.");
  x.sample("ftq_queries_running", static_cast<std::uint64_t>(snap.engine.queries_running));
  x.family("ftq_uptime_seconds", "gauge", "Seconds since the engine started.");
  x.sample("ftq_uptime_seconds", seconds(snap.engine.uptime));
  x.family("ftq_query_progress_ratio", "gauge", "Fraction of its input a running query has read, in [0, 1].");
  char id[24];
  for (const query_status& q : snap.queries) {
    if (q.state != query_state::running) {
      continue;
    }
    const auto r = std::to_chars(id, id + sizeof id, q.id);
    x.sample("ftq_query_progress_ratio", "query", std::string_view(id, static_cast<std::size_t>(r.ptr - id)), "name",
             q.name, q.progress.fraction());
  }

  x.histogram("ftq_checkpoint_commit_seconds", "Time to serialize and durably write one checkpoint.",
              m.checkpoint_commit_seconds);
  x.histogram("ftq_checkpoint_stored_bytes", "Bytes one checkpoint wrote.", m.checkpoint_stored_bytes_per_commit);
  x.histogram("ftq_recovery_seconds", "Time from a failure to the next batch the operator delivered.",
              m.recovery_seconds);

  if (snap.cluster) {
    const cluster_view& c = *snap.cluster;
    x.family("ftq_cluster_takeovers_total", "counter", "Queries this worker took over from a lapsed lease.");
    x.sample("ftq_cluster_takeovers_total", c.takeovers);
    x.family("ftq_cluster_leases_held", "gauge", "Query leases this worker holds now.");
    x.sample("ftq_cluster_leases_held", c.leases_held);
    x.family("ftq_cluster_fenced_commits_total", "counter",
             "Commits (checkpoints or results) the shared store refused this worker: another owned the query.");
    x.sample("ftq_cluster_fenced_commits_total", c.fenced_commits);
    x.family("ftq_cluster_query_owned", "gauge",
             "1 while the owner's lease on the query runs, 0 once it lapsed; one series per query with an owner.");
    for (const cluster_query& q : c.queries) {
      if (!q.owner.empty()) {
        x.sample("ftq_cluster_query_owned", "query", q.id, "owner", q.owner, q.lease_current ? 1.0 : 0.0);
      }
    }
  }

  x.family("ftq_status_requests_total", "counter", "Requests the status endpoint answered.");
  x.sample("ftq_status_requests_total", server.requests);
  x.family("ftq_status_bad_requests_total", "counter", "Requests the status endpoint answered with a 4xx status.");
  x.sample("ftq_status_bad_requests_total", server.bad_requests);
  x.family("ftq_status_connections_total", "counter",
           "Connections to the status endpoint, accepted or refused over the cap.");
  x.sample("ftq_status_connections_total", "result", "accepted", server.connections_accepted);
  x.sample("ftq_status_connections_total", "result", "refused", server.connections_refused);
  x.family("ftq_status_connections_open", "gauge", "Connections to the status endpoint open now.");
  x.sample("ftq_status_connections_open", server.connections_open);
  x.family("ftq_status_timeouts_total", "counter",
           "Status endpoint connections closed by a read, idle or write timeout.");
  x.sample("ftq_status_timeouts_total", server.timeouts);
  return out;
}

}  // namespace ftq::status
