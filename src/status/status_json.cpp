#include "status/status_json.hpp"

#include <algorithm>
#include <ctime>

#include <ftq/engine.hpp>
#include <ftq/failure_detector.hpp>
#include <ftq/retry.hpp>

#include "status/json_writer.hpp"

namespace ftq::status {

namespace {

using time_point = std::chrono::system_clock::time_point;

std::int64_t unix_ms(time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Microsecond resolution: nanosecond digits are noise to a reader and lengthen every number.
// Printed from integers (Ryu for a double costs more than the rest of a checkpoint's entry).
void seconds(json_writer& w, std::chrono::nanoseconds d) {
  const std::int64_t ns = d.count();
  const std::int64_t rem = ns % 1000;
  w.fixed(ns / 1000 + (rem >= 500 ? 1 : 0) - (rem <= -500 ? 1 : 0), 6);
}

// A clock step between the snapshot's `now` and a record's time must not show a negative age.
void age_seconds(json_writer& w, time_point then, time_point now) {
  seconds(w,
          then > now ? std::chrono::nanoseconds(0) : std::chrono::duration_cast<std::chrono::nanoseconds>(now - then));
}

// "2025-11-26T05:16:40.123Z": UTC, millisecond precision, as `ftq status --json` prints times.
void iso_time(json_writer& w, time_point t) {
  const std::int64_t ms = unix_ms(t);
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  char buf[48];
  if (gmtime_r(&tt, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
    w.null();
    return;
  }
  std::string text(buf);
  const char digits[] = {'.', static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                         static_cast<char>('0' + frac % 10), 'Z'};
  text.append(digits, sizeof digits);
  w.string(text);
}

void write_cluster_query(json_writer& w, const cluster_query& q) {
  w.begin_object();
  w.key("id").string(q.id);
  w.key("state").string(q.state);
  w.key("owner").string(q.owner);
  w.key("lease_until");
  if (q.lease_until) {
    iso_time(w, *q.lease_until);
  } else {
    w.null();
  }
  w.key("lease_current").boolean(q.lease_current);
  w.key("last_epoch");
  if (q.last_epoch) {
    w.uint(*q.last_epoch);
  } else {
    w.null();
  }
  w.key("error").string(q.error);
  w.key("result");
  if (q.result) {
    const cluster_result& r = *q.result;
    w.begin_object();
    w.key("sha256").string(r.sha256);
    w.key("bytes").uint(r.bytes);
    w.key("rows").uint(r.rows);
    w.key("committed_by").string(r.committed_by);
    iso_time(w.key("committed_at"), r.committed_at);
    w.end_object();
  } else {
    w.null();
  }
  w.key("history").begin_array();
  for (const cluster_handover& h : q.history) {
    w.begin_object();
    iso_time(w.key("at"), h.at);
    w.key("from").string(h.from);
    w.key("to").string(h.to);
    w.key("why").string(h.why);
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

void write_cluster_queries(json_writer& w, const cluster_view& c) {
  w.key("queries").begin_array();
  for (const cluster_query& q : c.queries) {
    write_cluster_query(w, q);
  }
  w.end_array();
}

void write_cluster(json_writer& w, const cluster_view& c) {
  w.begin_object();
  w.key("worker").string(c.worker);
  w.key("store").string(c.store);
  w.key("takeovers").uint(c.takeovers);
  w.key("leases_held").uint(c.leases_held);
  w.key("fenced_commits").uint(c.fenced_commits);
  write_cluster_queries(w, c);
  w.end_object();
}

std::size_t cluster_size(const cluster_view& c) {
  std::size_t size = 256;
  for (const cluster_query& q : c.queries) {
    size += 384 + 160 * q.history.size();
  }
  return size;
}

bool finished(const query_status& q) {
  return q.finished.has_value() || q.state == query_state::succeeded || q.state == query_state::failed ||
         q.state == query_state::cancelled;
}

void write_engine(json_writer& w, const engine_status& e) {
  w.begin_object();
  w.key("version").string(e.version);
  w.key("io_backend").string(e.io_backend);
  w.key("io_backend_reason").string(e.io_backend_reason);
  w.key("started_unix_ms").sint(unix_ms(e.started));
  w.key("now_unix_ms").sint(unix_ms(e.now));
  seconds(w.key("uptime_s"), e.uptime);
  w.key("concurrency").uint(e.concurrency);
  w.key("batch_rows").uint(e.batch_rows);
  w.key("queries_running").uint(e.queries_running);
  w.end_object();
}

void write_fault_tolerance(json_writer& w, const fault_tolerance_stats& f) {
  w.begin_object();
  w.key("failures").uint(f.failures);
  w.key("retries").uint(f.retries);
  w.key("operator_restores").uint(f.operator_restores);
  w.key("pipeline_restarts").uint(f.pipeline_restarts);
  w.key("stalls").uint(f.stalls);
  w.key("handler_runs").uint(f.handler_runs);
  w.key("handler_failures").uint(f.handler_failures);
  w.key("rows_replayed").uint(f.rows_replayed);
  w.key("states_restored").uint(f.states_restored);
  seconds(w.key("backoff_s"), f.backoff_time);
  seconds(w.key("restore_s"), f.restore_time);
  seconds(w.key("recovery_s"), f.recovery_time);
  w.key("resumed").boolean(f.resumed);
  w.key("resumed_epoch").uint(f.resumed_epoch);
  w.end_object();
}

// When the query's newest checkpoint was made: checkpoint_stats has no time, so it comes from
// the checkpoint list or, without one, from an operator's section of that epoch.
std::optional<time_point> last_checkpoint_time(const query_status& q) {
  const std::uint64_t epoch = q.checkpoints.last_epoch;
  for (auto it = q.checkpoint_list.rbegin(); it != q.checkpoint_list.rend(); ++it) {
    if (it->epoch == epoch) {
      return it->created;
    }
  }
  for (const operator_status& op : q.operators) {
    if (op.last_checkpoint && op.last_checkpoint->epoch == epoch) {
      return op.last_checkpoint->created;
    }
  }
  return std::nullopt;
}

void write_checkpoint(json_writer& w, const query_status& q, time_point now) {
  if (q.checkpoint_id.empty()) {
    w.null();
    return;
  }
  const checkpoint_stats& c = q.checkpoints;
  w.begin_object();
  w.key("backend").string(q.checkpoint_backend);
  w.key("commits").uint(c.commits);
  w.key("deltas").uint(c.deltas);
  w.key("failures").uint(c.failures);
  w.key("last");
  if (c.commits == 0 && c.last_epoch == 0) {
    w.null();
  } else {
    w.begin_object();
    w.key("epoch").uint(c.last_epoch);
    w.key("age_s");
    if (const auto created = last_checkpoint_time(q)) {
      age_seconds(w, *created, now);
    } else {
      w.null();
    }
    w.key("raw_bytes").uint(c.last_raw_bytes);
    w.key("stored_bytes").uint(c.last_stored_bytes);
    w.key("kind").string(c.last_delta ? "delta" : "full");
    seconds(w.key("commit_s"), c.last_commit_time);
    w.end_object();
  }
  w.key("last_error").string(c.last_error);
  const interval_choice& i = q.interval;
  w.key("interval").begin_object();
  w.key("adaptive").boolean(q.adaptive_interval);
  seconds(w.key("interval_s"), i.interval);
  seconds(w.key("cost_s"), i.cost);
  seconds(w.key("mtbf_s"), i.mtbf);
  w.key("failures").uint(i.failures);
  seconds(w.key("observed_s"), i.observed);
  w.key("formula").string(i.formula);
  w.end_object();
  w.end_object();
}

void write_operator(json_writer& w, const operator_status& op, time_point now) {
  w.begin_object();
  w.key("id").uint(op.id);
  w.key("name").string(op.name);
  w.key("plan_path").string(op.plan_path);
  w.key("children").begin_array();
  for (const std::uint32_t c : op.children) {
    w.uint(c);
  }
  w.end_array();
  w.key("state").string(operator_phase_name(op.phase));
  w.key("rows_in").uint(op.rows_in);
  w.key("rows_out").uint(op.rows_out);
  w.key("batches_out").uint(op.batches_out);
  w.key("failures").uint(op.failures);
  w.key("breaker").string(breaker_state_name(op.breaker));
  w.key("failure_rate").real(op.failure_rate);
  w.key("phi").real(op.phi);
  w.key("retry_attempts_left").uint(op.retry_attempts_left);
  w.key("last_checkpoint");
  if (op.last_checkpoint) {
    const operator_checkpoint& c = *op.last_checkpoint;
    w.begin_object();
    w.key("epoch").uint(c.epoch);
    age_seconds(w.key("age_s"), c.created, now);
    w.key("raw_bytes").uint(c.raw_bytes);
    w.key("stored_bytes").uint(c.stored_bytes);
    w.key("kind").string(c.delta ? "delta" : "full");
    w.end_object();
  } else {
    w.null();
  }
  w.end_object();
}

void write_query(json_writer& w, const query_status& q, time_point now) {
  const query_progress_snapshot& p = q.progress;
  w.begin_object();
  w.key("id").uint(q.id);
  w.key("name").string(q.name);
  w.key("state").string(query_state_name(q.state));
  w.key("error").string(q.error);
  w.key("priority").uint(q.priority);
  w.key("checkpoint_id").string(q.checkpoint_id);
  w.key("rows_done").uint(p.rows_scanned);
  w.key("rows_total").uint(p.rows_total);
  w.key("bytes_done").uint(p.bytes_scanned);
  w.key("bytes_total").uint(p.bytes_total);
  w.key("rows_out").uint(p.rows_out);
  // A CSV source's row total is an estimate: a query that succeeded is done whatever it says.
  w.key("percent").real(q.state == query_state::succeeded ? 100.0 : p.fraction() * 100.0);
  w.key("started_unix_ms").sint(unix_ms(q.started));
  w.key("finished_unix_ms");
  if (q.finished) {
    w.sint(unix_ms(*q.finished));
  } else {
    w.null();
  }
  seconds(w.key("elapsed_s"), q.elapsed);
  w.key("eta_s");
  if (q.eta && !finished(q)) {
    seconds(w, *q.eta);
  } else {
    w.null();
  }
  w.key("fault_tolerance");
  write_fault_tolerance(w, q.fault_tolerance);
  w.key("retry_budget_left").real(q.retry_budget_left);
  w.key("recovery_policy").string(q.recovery_policy);
  w.key("checkpoint");
  write_checkpoint(w, q, now);
  w.key("operators").begin_array();
  for (const operator_status& op : q.operators) {
    write_operator(w, op, now);
  }
  w.end_array();
  w.end_object();
}

// Typical sizes, so a render seldom grows its string.
constexpr std::size_t engine_bytes = 512;
constexpr std::size_t query_bytes = 1536;
constexpr std::size_t operator_bytes = 512;
constexpr std::size_t checkpoint_bytes = 192;
constexpr std::size_t failure_bytes = 256;

}  // namespace

std::string healthz_json(const engine_status& engine) {
  json_writer w(128);
  w.begin_object();
  w.key("status").string("ok");
  w.key("version").string(engine.version);
  seconds(w.key("uptime_s"), engine.uptime);
  w.end_object();
  return w.take();
}

std::string status_json(const engine_snapshot& snap) {
  std::size_t size = engine_bytes;
  for (const query_status& q : snap.queries) {
    size += query_bytes + operator_bytes * q.operators.size();
  }
  if (snap.cluster) {
    size += cluster_size(*snap.cluster);
  }
  json_writer w(size);
  w.begin_object();
  w.key("engine");
  write_engine(w, snap.engine);
  w.key("queries").begin_array();
  for (const query_status& q : snap.queries) {
    write_query(w, q, snap.engine.now);
  }
  w.end_array();
  w.key("cluster");
  if (snap.cluster) {
    write_cluster(w, *snap.cluster);
  } else {
    w.null();
  }
  w.end_object();
  return w.take();
}

std::string cluster_json(const cluster_view& c) {
  json_writer w(cluster_size(c));
  write_cluster(w, c);
  return w.take();
}

std::string cluster_store_json(const cluster_view& c) {
  json_writer w(cluster_size(c));
  w.begin_object();
  w.key("store").string(c.store);
  write_cluster_queries(w, c);
  w.end_object();
  return w.take();
}

std::string query_json(const query_status& q, time_point now) {
  json_writer w(query_bytes + operator_bytes * q.operators.size());
  write_query(w, q, now);
  return w.take();
}

std::string failures_json(std::span<const failure_record* const> records, std::size_t total) {
  json_writer w(64 + failure_bytes * records.size());
  w.begin_object();
  w.key("failures").begin_array();
  for (const failure_record* r : records) {
    w.begin_object();
    w.key("seq").uint(r->seq);
    w.key("time_unix_ms").sint(unix_ms(r->time));
    w.key("query").string(r->query);
    w.key("operator_id").uint(r->operator_id);
    w.key("operator").string(r->operator_name);
    w.key("class").string(error_class_name(r->cls));
    w.key("message").string(r->message);
    w.key("attempt").uint(r->attempt);
    w.key("recovery").string(r->recovery);
    w.key("outcome").string(r->outcome);
    w.end_object();
  }
  w.end_array();
  w.key("total").uint(total);
  w.end_object();
  return w.take();
}

std::string checkpoints_json(std::span<const query_status* const> queries, time_point now) {
  std::size_t size = 64;
  for (const query_status* q : queries) {
    size += 256 + checkpoint_bytes * q->checkpoint_list.size();
  }
  json_writer w(size);
  w.begin_object();
  w.key("queries").begin_array();
  for (const query_status* q : queries) {
    w.begin_object();
    w.key("id").uint(q->id);
    w.key("name").string(q->name);
    w.key("checkpoint_id").string(q->checkpoint_id);
    w.key("backend").string(q->checkpoint_backend);
    w.key("checkpoints").begin_array();
    for (const checkpoint_entry& c : q->checkpoint_list) {
      w.begin_object();
      w.key("epoch").uint(c.epoch);
      w.key("kind").string(c.delta ? "delta" : "full");
      w.key("base_epoch").uint(c.base_epoch);
      w.key("created_unix_ms").sint(unix_ms(c.created));
      age_seconds(w.key("age_s"), c.created, now);
      w.key("raw_bytes").uint(c.raw_bytes);
      w.key("stored_bytes").uint(c.stored_bytes);
      seconds(w.key("commit_s"), c.commit_time);
      w.key("retained").boolean(c.retained);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

std::string action_json(std::uint64_t query, std::string_view action) {
  json_writer w(64);
  w.begin_object();
  w.key("query").uint(query);
  w.key("action").string(action);
  w.key("accepted").boolean(true);
  w.end_object();
  return w.take();
}

std::string error_json(unsigned status, std::string_view message) {
  json_writer w(64 + message.size());
  w.begin_object();
  w.key("error").string(message);
  w.key("status").uint(status);
  w.end_object();
  return w.take();
}

}  // namespace ftq::status
