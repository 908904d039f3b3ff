#pragma once
// Builds engine snapshots for the status handler's tests, its fuzzer and its render benchmark:
// sample_snapshot() is fixed and small (every value below is what the tests expect);
// large_snapshot() scales queries, operators and failures. Header-only so the fuzzer and the
// benchmark use it without the doctest support library.

#include <chrono>
#include <cstdint>
#include <string>

#include <ftq/status.hpp>

namespace ftq::test {

using std::chrono::milliseconds;
using sys_time = std::chrono::system_clock::time_point;

// 2025-11-26T04:56:40Z: the engine started here; every time below is an offset from it.
inline constexpr std::int64_t sample_start_ms = 1764133000000;
inline sys_time at_ms(std::int64_t offset_ms) { return sys_time(milliseconds(sample_start_ms + offset_ms)); }

inline operator_status sample_operator(std::uint32_t id, std::string name, std::string path, operator_phase phase) {
  operator_status op;
  op.id = id;
  op.name = std::move(name);
  op.plan_path = std::move(path);
  if (id > 0) {
    op.children = {id - 1};
  }
  op.phase = phase;
  op.rows_in = id == 0 ? 0 : 5000000;
  op.rows_out = 5000000 - 1000 * id;
  op.batches_out = 1221;
  op.breaker = breaker_state::closed;
  op.retry_attempts_left = 5;
  return op;
}

inline histogram_snapshot sample_histogram(std::vector<double> bounds, std::vector<std::uint64_t> counts, double sum) {
  histogram_snapshot h;
  h.bounds = std::move(bounds);
  h.counts = std::move(counts);
  h.sum = sum;
  for (const std::uint64_t c : h.counts) {
    h.count += c;
  }
  return h;
}

inline failure_record sample_failure(std::uint64_t seq, std::int64_t offset_ms, std::string query, std::uint32_t op,
                                     std::string op_name, error_class cls, std::string recovery) {
  failure_record r;
  r.seq = seq;
  r.time = at_ms(offset_ms);
  r.query = std::move(query);
  r.operator_id = op;
  r.operator_name = std::move(op_name);
  r.cls = cls;
  r.message = "injected failure #" + std::to_string(seq);
  r.attempt = 1;
  r.recovery = std::move(recovery);
  r.outcome = "recovered";
  return r;
}

// Queries: 3 "q1" running with checkpoints (3 operators); 4 "join" running without checkpoints
// and without progress (4 operators); 2 "topk" succeeded with checkpoints; 1 "q6" failed.
// Failures: 6 records, seq 1..6, at start + 2s .. 7s.
inline engine_snapshot sample_snapshot() {
  engine_snapshot s;
  s.engine.version = "0.1.0";
  s.engine.io_backend = "io_uring";
  s.engine.io_backend_reason = "probe passed";
  s.engine.started = at_ms(0);
  s.engine.now = at_ms(12345);
  s.engine.uptime = milliseconds(12345);
  s.engine.concurrency = 1;
  s.engine.batch_rows = 4096;
  s.engine.queries_running = 2;

  query_status q1;
  q1.id = 3;
  q1.name = "q1";
  q1.checkpoint_id = "q1-0123456789abcdef";
  q1.state = query_state::running;
  q1.priority = 2;
  q1.progress = {
      .rows_scanned = 5000000, .rows_total = 10000000, .bytes_scanned = 250, .bytes_total = 1000, .rows_out = 7};
  q1.started = at_ms(1000);
  q1.elapsed = milliseconds(11345);
  q1.eta = milliseconds(34035);
  q1.fault_tolerance.failures = 3;
  q1.fault_tolerance.retries = 1;
  q1.fault_tolerance.operator_restores = 1;
  q1.fault_tolerance.rows_replayed = 8192;
  q1.fault_tolerance.states_restored = 1;
  q1.fault_tolerance.backoff_time = milliseconds(200);
  q1.fault_tolerance.restore_time = milliseconds(10);
  q1.fault_tolerance.recovery_time = milliseconds(300);
  q1.retry_budget_left = 18.5;
  q1.recovery_policy = "transient=retry,operator_fault=restore_operator";
  q1.checkpoints.commits = 4;
  q1.checkpoints.deltas = 3;
  q1.checkpoints.last_epoch = 4;
  q1.checkpoints.last_raw_bytes = 123456;
  q1.checkpoints.last_stored_bytes = 23456;
  q1.checkpoints.last_delta = true;
  q1.checkpoints.last_commit_time = milliseconds(4);
  q1.checkpoint_backend = "io_uring";
  q1.adaptive_interval = true;
  q1.interval = {.interval = milliseconds(2000),
                 .cost = milliseconds(4),
                 .mtbf = milliseconds(3600000),
                 .failures = 2,
                 .observed = milliseconds(11300),
                 .formula = "daly"};
  for (std::uint64_t e = 1; e <= 4; ++e) {
    checkpoint_entry c;
    c.epoch = e;
    c.delta = e > 1;
    c.base_epoch = e > 1 ? 1 : 0;
    c.created = at_ms(2000 + 2500 * static_cast<std::int64_t>(e));  // epoch 4 at 12000: 0.345 s old
    c.raw_bytes = 100000 + e;
    c.stored_bytes = 20000 + e;
    c.commit_time = milliseconds(4);
    c.retained = e != 2;
    q1.checkpoint_list.push_back(c);
  }
  q1.operators.push_back(sample_operator(0, "csv_scan", "input.input", operator_phase::running));
  q1.operators.push_back(sample_operator(1, "filter", "input", operator_phase::backing_off));
  q1.operators.push_back(sample_operator(2, "hash_aggregate", "", operator_phase::running));
  q1.operators[1].failures = 2;
  q1.operators[1].breaker = breaker_state::half_open;
  q1.operators[1].failure_rate = 0.25;
  q1.operators[1].phi = 0.5;
  q1.operators[1].retry_attempts_left = 3;
  for (auto& op : q1.operators) {
    op.last_checkpoint = operator_checkpoint{
        .epoch = 4, .created = at_ms(12000), .raw_bytes = 120, .stored_bytes = 80, .delta = op.id != 2};
  }
  s.queries.push_back(q1);

  query_status join;
  join.id = 4;
  join.name = "join";
  join.state = query_state::running;
  join.started = at_ms(12000);
  join.elapsed = milliseconds(345);
  join.progress.rows_total = 20000;
  join.recovery_policy = "transient=retry";
  join.retry_budget_left = 20;
  join.operators.push_back(sample_operator(0, "table_scan", "input.probe", operator_phase::idle));
  join.operators.push_back(sample_operator(1, "table_scan", "input.build", operator_phase::running));
  join.operators.push_back(sample_operator(2, "hash_join", "input", operator_phase::recovering));
  join.operators.push_back(sample_operator(3, "project", "", operator_phase::idle));
  join.operators[2].breaker = breaker_state::open;
  join.operators[2].children = {0, 1};
  s.queries.push_back(join);

  query_status topk;
  topk.id = 2;
  topk.name = "topk";
  topk.checkpoint_id = "topk-fedcba9876543210";
  topk.state = query_state::succeeded;
  topk.progress = {.rows_scanned = 900, .rows_total = 1000, .bytes_scanned = 0, .bytes_total = 0, .rows_out = 10};
  topk.started = at_ms(500);
  topk.finished = at_ms(9000);
  topk.elapsed = milliseconds(8500);
  topk.eta = milliseconds(0);
  topk.checkpoint_backend = "threads";
  topk.checkpoints.commits = 1;
  topk.checkpoints.last_epoch = 1;
  topk.checkpoints.last_raw_bytes = 64;
  topk.checkpoints.last_stored_bytes = 48;
  topk.checkpoints.last_commit_time = std::chrono::microseconds(1500);
  checkpoint_entry only;
  only.epoch = 1;
  only.created = at_ms(8000);
  only.raw_bytes = 64;
  only.stored_bytes = 48;
  only.commit_time = std::chrono::microseconds(1500);
  topk.checkpoint_list.push_back(only);
  topk.operators.push_back(sample_operator(0, "table_scan", "input", operator_phase::finished));
  topk.operators.push_back(sample_operator(1, "top_k", "", operator_phase::finished));
  s.queries.push_back(topk);

  query_status q6;
  q6.id = 1;
  q6.name = "q6";
  q6.state = query_state::failed;
  q6.error = "operator 1 (filter) failed: \"boom\"\nretries exhausted";
  q6.started = at_ms(100);
  q6.finished = at_ms(400);
  q6.elapsed = milliseconds(300);
  q6.operators.push_back(sample_operator(0, "csv_scan", "input", operator_phase::failed));
  s.queries.push_back(q6);

  s.failures.push_back(sample_failure(1, 2000, "q1-0123456789abcdef", 1, "filter", error_class::transient, "retry"));
  s.failures.push_back(
      sample_failure(2, 3000, "q1-0123456789abcdef", 1, "filter", error_class::operator_fault, "restore_operator"));
  s.failures.push_back(sample_failure(3, 4000, "join", 2, "hash_join", error_class::resource, "restore_operator"));
  s.failures.push_back(sample_failure(4, 5000, "q6", 1, "filter", error_class::operator_fault, "fail"));
  s.failures.push_back(sample_failure(5, 6000, "q1-0123456789abcdef", 0, "csv_scan", error_class::transient, "retry"));
  s.failures.push_back(sample_failure(6, 7000, "join", 2, "hash_join", error_class::stall, "restore_operator"));
  s.failures[3].outcome = "failed";

  metrics_snapshot& m = s.metrics;
  m.queries_started = 4;
  m.queries_succeeded = 1;
  m.queries_failed = 1;
  m.rows_scanned = 5000900;
  m.rows_output = 10;
  m.failures_by_class[static_cast<std::size_t>(error_class::transient)] = 2;
  m.failures_by_class[static_cast<std::size_t>(error_class::resource)] = 1;
  m.failures_by_class[static_cast<std::size_t>(error_class::operator_fault)] = 2;
  m.failures_by_class[static_cast<std::size_t>(error_class::stall)] = 1;
  m.retries = 2;
  m.operator_restores = 2;
  m.stalls = 1;
  m.checkpoint_commits = 5;
  m.checkpoint_deltas = 3;
  m.checkpoint_failures = 1;
  m.checkpoint_raw_bytes = 400074;
  m.checkpoint_stored_bytes = 80058;
  m.checkpoint_commit_seconds = sample_histogram({0.001, 0.005, 0.025, 0.1}, {1, 4, 0, 0, 0}, 0.0175);
  m.checkpoint_stored_bytes_per_commit = sample_histogram({1024, 65536, 1048576}, {1, 4, 0, 0}, 80058);
  m.recovery_seconds = sample_histogram({0.01, 0.1, 1, 10}, {0, 1, 2, 0, 1}, 12.5);
  return s;
}

inline cluster_handover sample_handover(std::int64_t offset_ms, std::string from, std::string to, std::string why) {
  return cluster_handover{at_ms(offset_ms), std::move(from), std::move(to), std::move(why)};
}

// The view of worker "worker-a" on rados://ftq/jobs (2 takeovers, 1 lease held, 1 fenced commit):
//   q1-jobs   running, owned by worker-a until start + 14.5 s (current), epoch 7; first owned by
//             worker-b at 2 s, taken over by worker-a at 3.25 s when worker-b's lease lapsed
//   q6-jobs   succeeded: the result (rows 4, 120 bytes) committed by worker-b at 9.001 s; the
//             lease lapsed at 9 s
//   join-jobs queued, never owned (no lease, no epoch, no history)
//   bad-jobs  failed, "operator 1 (filter) failed", owner worker-c whose lease lapsed at 5 s, epoch 0
inline cluster_view sample_cluster() {
  cluster_view c;
  c.worker = "worker-a";
  c.store = "rados://ftq/jobs";
  c.takeovers = 2;
  c.leases_held = 1;
  c.fenced_commits = 1;

  cluster_query q1;
  q1.id = "q1-jobs";
  q1.state = "running";
  q1.owner = "worker-a";
  q1.lease_until = at_ms(14500);
  q1.lease_current = true;
  q1.last_epoch = 7;
  q1.history.push_back(sample_handover(2000, "", "worker-b", "first owner"));
  q1.history.push_back(sample_handover(3250, "worker-b", "worker-a", "took over: lease of worker-b lapsed"));
  c.queries.push_back(q1);

  cluster_query q6;
  q6.id = "q6-jobs";
  q6.state = "succeeded";
  q6.owner = "worker-b";
  q6.lease_until = at_ms(9000);
  q6.last_epoch = 3;
  q6.result = cluster_result{
      .sha256 = std::string(64, 'a'), .bytes = 120, .rows = 4, .committed_by = "worker-b", .committed_at = at_ms(9001)};
  q6.history.push_back(sample_handover(100, "", "worker-b", "first owner"));
  q6.history.push_back(sample_handover(9001, "worker-b", "", "succeeded"));
  c.queries.push_back(q6);

  cluster_query join;
  join.id = "join-jobs";
  join.state = "queued";
  c.queries.push_back(join);

  cluster_query bad;
  bad.id = "bad-jobs";
  bad.state = "failed";
  bad.owner = "worker-c";
  bad.lease_until = at_ms(5000);
  bad.last_epoch = 0;
  bad.error = "operator 1 (filter) failed: \"boom\"";
  bad.history.push_back(sample_handover(1000, "", "worker-c", "first owner"));
  bad.history.push_back(sample_handover(4000, "worker-c", "", "failed: operator 1 (filter) failed"));
  c.queries.push_back(bad);
  return c;
}

// `queries` running queries of `operators` operators each with 32 checkpoints, and `failures`
// failure records spread over them: the size a busy engine's snapshot has.
inline engine_snapshot large_snapshot(std::size_t queries, std::size_t operators, std::size_t failures) {
  const engine_snapshot base = sample_snapshot();
  engine_snapshot s;
  s.engine = base.engine;
  s.metrics = base.metrics;
  s.engine.queries_running = queries;
  const query_status& model = base.queries[0];
  for (std::size_t i = 0; i < queries; ++i) {
    query_status q = model;
    q.id = 10 + i;
    q.name = "query-" + std::to_string(i);
    q.checkpoint_id = q.name + "-0123456789abcdef";
    q.operators.clear();
    for (std::size_t o = 0; o < operators; ++o) {
      q.operators.push_back(model.operators[o % model.operators.size()]);
      q.operators.back().id = static_cast<std::uint32_t>(o);
    }
    q.checkpoint_list.clear();
    for (std::uint64_t e = 1; e <= 32; ++e) {
      q.checkpoint_list.push_back(model.checkpoint_list[e % model.checkpoint_list.size()]);
      q.checkpoint_list.back().epoch = e;
    }
    s.queries.push_back(std::move(q));
  }
  for (std::size_t f = 0; f < failures; ++f) {
    const query_status& q = s.queries[f % queries];
    s.failures.push_back(sample_failure(f + 1, static_cast<std::int64_t>(f * 10), q.checkpoint_id,
                                        static_cast<std::uint32_t>(f % operators), "filter", error_class::transient,
                                        "retry"));
  }
  return s;
}

}  // namespace ftq::test
