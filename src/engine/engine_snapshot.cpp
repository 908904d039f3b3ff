// engine::snapshot(): what the status endpoint shows, copied from counters the queries publish
// (atomics, or copies under short locks), so taking it never waits for a query's coroutine.

#include <algorithm>
#include <functional>

#include <ftq/checkpoint.hpp>
#include <ftq/status.hpp>

#include "engine/engine_impl.hpp"
#include "engine/fault_tolerant_operator.hpp"
#include "engine/query_impl.hpp"

namespace ftq {

namespace engine_detail {

namespace {

void for_each_operator(const exec::physical_operator& op,
                       const std::function<void(const exec::physical_operator&)>& f) {
  f(op);
  for (const auto& c : op.children()) {
    for_each_operator(*c, f);
  }
}

void fill_operators(query& q, query_status& s) {
  auto& qi = q.internals();
  exec::execution_context& ctx = *qi.context;
  const std::size_t n = ctx.operator_count();
  s.operators.resize(n);
  const std::vector<std::optional<operator_checkpoint>> sections =
      qi.checkpointer ? qi.checkpointer->last_sections(n) : std::vector<std::optional<operator_checkpoint>>(n);
  const fault_tolerant_context& ft = *qi.fault_tolerance;
  failure_detector& detector = ft.detector();
  const auto detector_now = ft.time()->now();
  for_each_operator(*qi.root, [&](const exec::physical_operator& op) {
    const std::size_t id = op.id();
    if (id >= n) {
      return;
    }
    operator_status& o = s.operators[id];
    const exec::operator_stats& st = ctx.stats(id);
    o.id = static_cast<std::uint32_t>(id);
    o.name = std::string(op.name());
    o.plan_path = op.plan_path();
    o.phase = st.phase.load();
    o.rows_out = st.rows_out.load();
    o.batches_out = st.batches_out.load();
    for (const auto& c : op.children()) {
      o.children.push_back(static_cast<std::uint32_t>(c->id()));
      o.rows_in += ctx.stats(c->id()).rows_out.load();
    }
    const operator_key key{ft.query_id(), static_cast<std::uint32_t>(id)};
    o.breaker = detector.state(key);
    o.failure_rate = detector.failure_rate(key);
    // Suspicion means something only while the operator is expected to produce: a finished or
    // idle one is silent by design.
    const bool producing = o.phase == operator_phase::running || o.phase == operator_phase::backing_off ||
                           o.phase == operator_phase::recovering;
    o.phi = producing ? detector.phi(key, detector_now) : 0.0;
    o.retry_attempts_left =
        qi.recovery ? qi.recovery->supervisor(id).retry_attempts_left() : ft.policy().retry.max_attempts;
    o.last_checkpoint = sections[id];
  });
  history_filter f;
  f.query = ft.query_id();
  for (const failure_record& r : detector.history(f)) {
    if (r.operator_id < n) {
      ++s.operators[r.operator_id].failures;
    }
  }
}

}  // namespace

std::uint64_t rows_scanned_by(query& q) {
  auto& qi = q.internals();
  std::uint64_t rows = 0;
  for_each_operator(*qi.root, [&](const exec::physical_operator& op) {
    if (op.children().empty()) {
      rows += qi.context->stats(op.id()).rows_produced.load();
    }
  });
  return rows;
}

query_status status_of(query& q, snapshot_parts parts) {
  auto& qi = q.internals();
  query_status s;
  s.id = qi.id;
  s.name = qi.name;
  s.checkpoint_id = qi.checkpoint_id;
  s.state = qi.state.load();
  s.priority = qi.options.priority;
  s.progress = q.progress();
  {
    std::lock_guard lock(qi.ended_mutex);
    s.started = qi.started_wall;
    s.finished = qi.finished_wall;
    s.error = qi.error_message;
    if (qi.finished_wall) {
      s.elapsed = qi.elapsed_final;
    } else if (qi.started != std::chrono::steady_clock::time_point{}) {
      s.elapsed = std::chrono::steady_clock::now() - qi.started;
    }
  }
  if (s.state == query_state::running) {
    const double f = s.progress.fraction();
    if (f > 0 && f < 1) {
      s.eta = std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(s.elapsed.count()) * (1 - f) / f));
    } else if (f >= 1) {
      s.eta = std::chrono::nanoseconds(0);
    }
  }
  s.fault_tolerance = qi.fault_tolerance->stats();
  s.retry_budget_left = s.fault_tolerance.budget_tokens;
  s.recovery_policy = qi.fault_tolerance->policy().describe();
  if (qi.checkpointer) {
    s.checkpoints = qi.checkpointer->stats();
    s.adaptive_interval = qi.checkpointer->adaptive();
    s.interval = qi.checkpointer->interval();
    s.checkpoint_backend = std::string(qi.options.checkpoints.manager->backend());
    if (has(parts, snapshot_parts::checkpoints) || has(parts, snapshot_parts::operators)) {
      s.checkpoint_list = qi.checkpointer->recent();
    }
  }
  if (has(parts, snapshot_parts::operators)) {
    fill_operators(q, s);
  }
  return s;
}

}  // namespace engine_detail

engine_snapshot engine::snapshot(snapshot_parts parts) const {
  engine_snapshot snap;
  const auto now = std::chrono::system_clock::now();
  engine_status& e = snap.engine;
  e.version = FTQ_VERSION;
  e.started = impl_->started_wall;
  e.now = now;
  e.uptime = std::chrono::steady_clock::now() - impl_->started;
  e.concurrency = impl_->options.concurrency;
  e.batch_rows = impl_->options.batch_rows;

  std::vector<query_ptr> live;
  std::vector<query_status> finished;
  {
    std::lock_guard lock(impl_->running_mutex);
    for (const auto& w : impl_->running) {
      if (query_ptr q = w.lock()) {
        live.push_back(std::move(q));
      }
    }
    e.io_backend = impl_->io_backend.empty() ? "none" : impl_->io_backend;
    e.io_backend_reason = impl_->io_backend.empty() ? "no query has taken checkpoints" : impl_->io_backend_reason;
    if (has(parts, snapshot_parts::queries)) {
      finished.assign(impl_->finished.begin(), impl_->finished.end());
    }
    if (has(parts, snapshot_parts::metrics)) {
      // Under the lock: a query retiring meanwhile moves its rows into the totals exactly once.
      snap.metrics = impl_->metrics.snapshot();
      for (const query_ptr& q : live) {
        snap.metrics.rows_scanned += engine_detail::rows_scanned_by(*q);
        snap.metrics.rows_output += q->progress().rows_out;
      }
    }
  }
  e.queries_running = live.size();
  if (has(parts, snapshot_parts::queries)) {
    std::sort(live.begin(), live.end(), [](const query_ptr& a, const query_ptr& b) { return a->id() < b->id(); });
    snap.queries.reserve(live.size() + finished.size());
    for (const query_ptr& q : live) {
      snap.queries.push_back(engine_detail::status_of(*q, parts));
    }
    for (auto it = finished.rbegin(); it != finished.rend(); ++it) {
      query_status& f = *it;
      if (!has(parts, snapshot_parts::operators)) {
        f.operators.clear();
      }
      if (!has(parts, snapshot_parts::checkpoints) && !has(parts, snapshot_parts::operators)) {
        f.checkpoint_list.clear();
      }
      snap.queries.push_back(std::move(f));
    }
  }
  if (has(parts, snapshot_parts::failures)) {
    snap.failures = impl_->detector->history();
  }
  if (has(parts, snapshot_parts::cluster)) {
    std::shared_ptr<const std::function<cluster_view()>> provider;
    {
      std::lock_guard lock(impl_->cluster_mutex);
      provider = impl_->cluster_provider;
    }
    if (provider) {
      try {
        snap.cluster = (*provider)();
      } catch (...) {
        // Documented: a provider that fails leaves the view out; the rest of the snapshot stands.
      }
    }
  }
  return snap;
}

}  // namespace ftq
