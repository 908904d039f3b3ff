#include "engine/fault_tolerant_operator.hpp"

#include <algorithm>

#include <ftq/error.hpp>

#include "engine/engine_metrics.hpp"
#include "engine/query_checkpointer.hpp"
#include "engine/query_recovery.hpp"
#include "inject/fault_plan.hpp"

namespace ftq::engine_detail {

namespace {

// Seeds one operator's backoff jitter from its identity, so a run's delays are reproducible.
std::uint64_t jitter_seed(const std::string& query, std::size_t op) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : query) {
    h = (h ^ c) * 1099511628211ull;
  }
  return (h ^ op) * 1099511628211ull;
}

// Keeps the query's stack of active operators right however next() is left.
class active_scope {
 public:
  active_scope(query_recovery& q, std::size_t op) : q_(q) { q_.enter(op); }
  ~active_scope() { q_.leave(); }
  active_scope(const active_scope&) = delete;
  active_scope& operator=(const active_scope&) = delete;

 private:
  query_recovery& q_;
};

}  // namespace

fault_tolerant_operator::fault_tolerant_operator(query_recovery& query, const exec::physical_operator& op)
    : query_(query),
      op_(op),
      id_(op.id()),
      retries_(query.context().policy().retry, query.context().time(), jitter_seed(query.context().query_id(), op.id()),
               &query.context().budget(), &query.context().engine_budget()) {}

void fault_tolerant_operator::set_skip(std::uint64_t rows) noexcept {
  if (skip_rows_ == 0 && rows > 0) {
    query_.replay_started();
  } else if (skip_rows_ > 0 && rows == 0) {
    query_.replay_finished();
  }
  skip_rows_ = rows;
}

boost::asio::awaitable<void> fault_tolerant_operator::before_produce(exec::execution_context& ctx) {
  if (ctx.cancelled()) {
    // A graceful stop: the innermost operator to see it takes the final checkpoint here, where
    // every state is between batches (the same cut as a scheduled checkpoint).
    if (query_.take_final_checkpoint_turn() && !query_.replaying()) {
      if (exec::checkpoint_trigger* t = ctx.trigger()) {
        query_.set_waiting(true);
        std::exception_ptr refused;
        try {
          co_await t->take(ctx);
        } catch (...) {
          refused = std::current_exception();
        }
        query_.set_waiting(false);
        end_if_refused(refused);
      }
    }
    ctx.check_cancelled();
  }
  if (exec::checkpoint_trigger* t = ctx.trigger(); t != nullptr && !query_.replaying() && t->due(ctx)) {
    ctx.pause_turn();
    query_.set_waiting(true);  // a commit is not a stall
    std::exception_ptr refused;
    try {
      co_await t->take(ctx);
    } catch (...) {
      refused = std::current_exception();
    }
    query_.set_waiting(false);
    co_await ctx.resume_turn();  // the turn is taken back even when the commit threw
    end_if_refused(refused);
    ctx.check_cancelled();
  }
}

void fault_tolerant_operator::end_if_refused(const std::exception_ptr& failure) {
  if (!failure) {
    return;
  }
  // A commit the store fenced (errc::lease_lost): another process owns the query now. Every
  // operator above passes it up untouched: no recovery, no retry, no rollback.
  if (classify(failure) == error_class::cancelled) {
    query_.set_failing();
  }
  std::rethrow_exception(failure);
}

boost::asio::awaitable<void> fault_tolerant_operator::inject(exec::execution_context& ctx) {
  inject::fault_plan* plan = query_.context().faults();
  ++calls_;
  if (plan == nullptr || plan->empty()) {
    co_return;
  }
  const std::uint64_t batch_no = ctx.stats(id_).batches_out + 1;
  const std::optional<inject::operator_fault> fault =
      plan->on_produce(query_.fault_scope(), static_cast<std::uint32_t>(id_), op_.name(), batch_no, calls_);
  if (!fault) {
    co_return;
  }
  switch (fault->kind) {
    case inject::fault_kind::throw_transient:
    case inject::fault_kind::throw_fault:
      throw inject::injected_error(*fault);
    case inject::fault_kind::crash:
      inject::crash_now(fault->rule + " in operator " + std::to_string(id_) + " (" + std::string(op_.name()) + ")");
    case inject::fault_kind::stall: {
      // Sleeps like a hung call would, but on an interruptible timer: the stall detector (or a
      // cancellation) ends it early.
      ctx.pause_turn();
      const bool slept_through = co_await query_.context().time()->sleep(
          std::chrono::duration_cast<clock::duration>(fault->stall_for), ctx.wait_slot());
      co_await ctx.resume_turn();
      ctx.check_cancelled();
      if (!slept_through || ctx.take_interrupt()) {
        throw error(errc::operator_stalled, "operator " + std::to_string(id_) + " (" + std::string(op_.name()) +
                                                ") made no progress beyond the stall detector's threshold (" +
                                                fault->rule + ")");
      }
      break;
    }
  }
}

void fault_tolerant_operator::drop_replayed(batch& b) {
  const std::size_t live = b.live_rows();
  const std::size_t drop = static_cast<std::size_t>(std::min<std::uint64_t>(skip_rows_, live));
  if (drop == live) {
    b.has_selection = true;
    b.selection.clear();
  } else if (b.has_selection) {
    b.selection.erase(b.selection.begin(), b.selection.begin() + static_cast<std::ptrdiff_t>(drop));
  } else {
    b.has_selection = true;
    b.selection.resize(b.rows - drop);
    for (std::size_t i = 0; i < b.selection.size(); ++i) {
      b.selection[i] = static_cast<std::uint32_t>(drop + i);
    }
  }
  query_.context().update_stats([drop](fault_tolerance_stats& s) { s.rows_replayed += drop; });
  set_skip(skip_rows_ - drop);
}

std::uint32_t fault_tolerant_operator::retry_attempts_left() const noexcept {
  const std::uint32_t max = retries_.policy().max_attempts;
  const std::uint32_t used = attempts_used_.load();
  return used >= max ? 0 : max - used;
}

void fault_tolerant_operator::delivered(const batch& b, exec::execution_context& ctx) {
  auto& s = ctx.stats(id_);
  ++s.batches_out;
  s.rows_out += b.live_rows();
}

void fault_tolerant_operator::made_progress(exec::execution_context& ctx) {
  // Every batch produce() returns counts, replayed ones too: a long replay is progress, not
  // silence (the stall detector) nor a run of failures (the retry sequence).
  fault_tolerant_context& ft = query_.context();
  if (!ft.enabled()) {
    return;
  }
  const operator_key& key = query_.key(id_);
  const auto now = ft.time()->now();
  ft.detector().heartbeat(key, now);
  ft.detector().record_success(key);
  retries_.on_success();
  attempts_used_ = 0;
  if (probe_) {
    probe_->succeed();
    probe_.reset();
  }
  if (pending_seq_) {
    ft.detector().set_outcome(*pending_seq_, pending_action_, "recovered");
    const auto took = std::chrono::steady_clock::now() - failed_at_;
    ft.update_stats([took](fault_tolerance_stats& st) { st.recovery_time += took; });
    if (engine_metrics* m = query_.metrics()) {
      m->recovered(took);
    }
    pending_seq_.reset();
  }
  (void)ctx.take_interrupt();  // a stall that ended by itself leaves nothing to interrupt
}

boost::asio::awaitable<std::optional<batch>> fault_tolerant_operator::next(const exec::physical_operator& op,
                                                                           exec::execution_context& ctx) {
  const active_scope active(query_, id_);
  for (;;) {
    co_await before_produce(ctx);
    std::exception_ptr failure;
    std::optional<batch> out;
    ctx.stats(id_).phase = operator_phase::running;
    try {
      co_await inject(ctx);
      out = co_await op.produce_once(ctx);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      co_await recover(failure, ctx);  // no co_await inside a handler: recover outside it
      continue;
    }
    if (!out) {
      if (skip_rows_ > 0) {
        throw error(errc::internal, "operator " + std::to_string(id_) + " (" + std::string(op_.name()) +
                                        ") ended its replay " + std::to_string(skip_rows_) +
                                        " rows short of what it had delivered: its output is not deterministic");
      }
      ctx.stats(id_).phase = operator_phase::finished;
      co_return std::nullopt;
    }
    ctx.stats(id_).rows_produced += out->live_rows();
    if (out->live_rows() > 0) {
      made_progress(ctx);
    }
    if (skip_rows_ > 0) {
      drop_replayed(*out);
    }
    if (out->live_rows() == 0) {
      co_await ctx.yield_if_due();
      continue;
    }
    delivered(*out, ctx);
    co_await ctx.yield_if_due();
    co_return out;
  }
}

boost::asio::awaitable<void> fault_tolerant_operator::recover(std::exception_ptr failure,
                                                              exec::execution_context& ctx) {
  // Not this operator's own failure: pass it up untouched.
  if (query_.failing()) {
    std::rethrow_exception(failure);
  }
  if (const auto target = query_.pending_rollback()) {
    if (*target != id_) {
      std::rethrow_exception(failure);
    }
    query_.clear_pending_rollback();
    co_await query_.rollback(id_);
    co_return;
  }
  fault_tolerant_context& ft = query_.context();
  const error_class cls = classify(failure);
  if (cls == error_class::cancelled || !ft.enabled()) {
    query_.set_failing();
    std::rethrow_exception(failure);
  }
  const std::string message = detail::failure_message(failure);
  const operator_key& key = query_.key(id_);
  failure_detector& detector = ft.detector();
  if (probe_) {
    probe_->fail();  // the attempt admitted as a probe failed: the breaker opens again
    probe_.reset();
  }
  failure_record record;
  record.query = key.query;
  record.operator_id = static_cast<std::uint32_t>(id_);
  record.operator_name = std::string(op_.name());
  record.cls = cls;
  record.message = message;
  record.attempt = retries_.attempts();
  record.outcome = "pending";
  const recovery_rule rule = ft.policy().rule_for(cls);
  record.recovery = std::string(recovery_action_name(rule.action));
  const std::uint64_t seq = detector.record_failure(record);
  if (query_checkpointer* cp = query_.checkpointer()) {
    cp->record_failure();  // the adaptive interval shortens as failures come more often
  }
  ft.update_stats([cls](fault_tolerance_stats& s) {
    ++s.failures;
    s.stalls += cls == error_class::stall ? 1 : 0;
  });
  if (engine_metrics* m = query_.metrics()) {
    m->failure(cls);
  }
  if (pending_seq_ && *pending_seq_ != seq) {
    detector.set_outcome(*pending_seq_, pending_action_, "failed again before recovering");
  }
  pending_seq_.reset();

  if (rule.action == recovery_action::fail || never_retryable(cls)) {
    detector.set_outcome(seq, "fail", "failed");
    query_.set_failing();
    std::rethrow_exception(failure);
  }
  const retry_controller::decision d = retries_.on_failure(failure, detector.failure_rate(key));
  attempts_used_ = retries_.attempts();
  if (!d.retry) {
    detector.set_outcome(seq, std::string(recovery_action_name(rule.action)), "failed: " + d.reason);
    query_.set_failing();
    throw operator_error(d.stop_code, id_, std::string(op_.name()), d.reason + ": " + message, retries_.attempts());
  }
  if (!rule.handler.empty()) {
    failure_event event{key.query,          static_cast<std::uint32_t>(id_), std::string(op_.name()), cls, message,
                        retries_.attempts()};
    co_await ft.run_handler(rule.handler, std::move(event));
  }

  // Back off, and wait out an open breaker: neither holds the executor.
  std::chrono::nanoseconds delay = d.delay;
  if (detector.state(key) == breaker_state::open) {
    delay = std::max<std::chrono::nanoseconds>(delay, detector.reopens_at(key) - ft.time()->now());
  }
  const auto wait_started = std::chrono::steady_clock::now();
  ctx.pause_turn();
  ctx.stats(id_).phase = operator_phase::backing_off;
  query_.set_waiting(true);  // deliberate silence: not a stall
  std::exception_ptr wait_failure;
  try {
    std::function<bool()> cancelled = [&ctx] { return ctx.cancelled(); };
    auto wait = retries_.wait(delay, ctx.wait_slot(), std::move(cancelled));
    co_await std::move(wait);
  } catch (...) {
    // Only a real cancellation ends the query here; a stall interrupt that raced the wait
    // merely cut the backoff short.
    if (ctx.cancelled()) {
      wait_failure = std::current_exception();
    }
    (void)ctx.take_interrupt();
  }
  query_.set_waiting(false);
  co_await ctx.resume_turn();
  const auto waited = std::chrono::steady_clock::now() - wait_started;
  ft.update_stats([waited](fault_tolerance_stats& s) { s.backoff_time += waited; });
  if (wait_failure) {
    detector.set_outcome(seq, std::string(recovery_action_name(rule.action)), "cancelled");
    query_.set_failing();
    std::rethrow_exception(wait_failure);
  }
  std::optional<failure_detector::probe> admitted = detector.admit(key);
  if (!admitted) {
    detector.set_outcome(seq, std::string(recovery_action_name(rule.action)), "failed: breaker open");
    query_.set_failing();
    throw operator_error(errc::circuit_open, id_, std::string(op_.name()),
                         "the failure detector holds the operator open and admits no probe: " + message,
                         retries_.attempts());
  }
  if (admitted->is_probe()) {
    probe_.emplace(std::move(*admitted));
  }
  pending_seq_ = seq;
  pending_action_ = std::string(recovery_action_name(rule.action));
  failed_at_ = wait_started;
  if (engine_metrics* m = query_.metrics()) {
    m->recovery(rule.action);
  }

  switch (rule.action) {
    case recovery_action::retry:
      ft.update_stats([](fault_tolerance_stats& s) { ++s.retries; });
      break;
    case recovery_action::restore_operator:
      ft.update_stats([](fault_tolerance_stats& s) { ++s.operator_restores; });
      co_await query_.rollback(id_);
      break;
    case recovery_action::restart_pipeline: {
      ft.update_stats([](fault_tolerance_stats& s) { ++s.pipeline_restarts; });
      const std::size_t top = query_.pipeline_top(id_);
      if (top == id_) {
        co_await query_.rollback(id_);
      } else {
        // Unwind to the top of the pipeline: its supervisor rolls the pipeline back and runs on.
        query_.request_rollback(top);
        std::rethrow_exception(failure);
      }
      break;
    }
    case recovery_action::fail:
      break;  // handled above
  }
}

}  // namespace ftq::engine_detail
