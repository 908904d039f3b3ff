#include <ftq/engine.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>
#include <ftq/retry.hpp>
#include <ftq/status.hpp>

#include "checkpoint/manager_impl.hpp"
#include "engine/engine_impl.hpp"
#include "engine/lower.hpp"
#include "engine/priority_scheduler.hpp"
#include "engine/query_impl.hpp"
#include "engine/recovery_gate.hpp"
#include "exec/operators/csv_sink.hpp"
#include "exec/operators/memory_sink.hpp"
#include "inject/checkpoint_fault_router.hpp"
#include "inject/fault_plan.hpp"
#include "plan/binder.hpp"

namespace ftq {

std::string_view query_state_name(query_state s) noexcept {
  switch (s) {
    case query_state::prepared:
      return "prepared";
    case query_state::running:
      return "running";
    case query_state::succeeded:
      return "succeeded";
    case query_state::failed:
      return "failed";
    case query_state::cancelled:
      return "cancelled";
  }
  return "?";
}

double query_progress_snapshot::fraction() const noexcept {
  double f = 0;
  if (bytes_total > 0) {
    f = static_cast<double>(bytes_scanned) / static_cast<double>(bytes_total);
  } else if (rows_total > 0) {
    f = static_cast<double>(rows_scanned) / static_cast<double>(rows_total);
  }
  return f < 0 ? 0 : (f > 1 ? 1 : f);
}

query::query(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
query::~query() = default;
std::uint64_t query::id() const noexcept { return impl_->id; }
const std::string& query::name() const noexcept { return impl_->name; }
const schema& query::output_schema() const noexcept { return impl_->bound->output; }
query_state query::state() const noexcept { return impl_->state.load(); }

query_progress_snapshot query::progress() const noexcept {
  const auto& p = *impl_->progress;
  query_progress_snapshot s;
  s.rows_scanned = p.rows_scanned.load(std::memory_order_relaxed);
  s.rows_total = p.rows_total.load(std::memory_order_relaxed);
  s.bytes_scanned = p.bytes_scanned.load(std::memory_order_relaxed);
  s.bytes_total = p.bytes_total.load(std::memory_order_relaxed);
  s.rows_out = p.rows_out.load(std::memory_order_relaxed);
  if (s.rows_total < s.rows_scanned)
    s.rows_total = s.rows_scanned;
  return s;
}

void query::cancel() noexcept { impl_->context->cancel(); }
void query::stop() noexcept {
  if (impl_->recovery) {
    impl_->recovery->want_final_checkpoint();
  }
  impl_->context->cancel();
}
void query::abandon(std::error_code code, std::string why) {
  {
    std::lock_guard lock(impl_->ended_mutex);
    if (impl_->state.load() != query_state::running || impl_->abandoned) {
      return;
    }
    impl_->abandoned = impl::abandonment{code, std::move(why)};
  }
  if (impl_->checkpointer) {
    impl_->checkpointer->stop_checkpointing();
  }
  impl_->context->cancel();
}
const std::string& query::checkpoint_id() const noexcept { return impl_->checkpoint_id; }
checkpoint_stats query::checkpoints() const {
  return impl_->checkpointer ? impl_->checkpointer->stats() : checkpoint_stats{};
}
interval_choice query::checkpoint_interval() const {
  return impl_->checkpointer ? impl_->checkpointer->interval() : interval_choice{};
}
fault_tolerance_stats query::fault_tolerance() const { return impl_->fault_tolerance->stats(); }
std::vector<failure_record> query::failures() const {
  history_filter f;
  f.query = impl_->fault_tolerance->query_id();
  return impl_->fault_tolerance->detector().history(f);
}
const fault_tolerant_context& query::context() const noexcept { return *impl_->fault_tolerance; }
std::uint32_t query::priority() const noexcept { return impl_->options.priority; }
bool query::request_checkpoint() noexcept {
  if (!impl_->checkpointer || impl_->state.load() != query_state::running) {
    return false;
  }
  impl_->checkpointer->request_now();
  return true;
}

namespace {

void explain_into(const exec::physical_operator& op, int depth, std::ostringstream& out) {
  out << std::string(static_cast<std::size_t>(depth) * 2, ' ') << op.name() << " #" << op.id() << "  ["
      << op.plan_path() << "]  -> (" << op.output_schema().names_joined() << ")\n";
  for (const auto& c : op.children())
    explain_into(*c, depth + 1, out);
}

}  // namespace

std::string query::explain() const {
  std::ostringstream out;
  explain_into(*impl_->root, 0, out);
  return out.str();
}

fault_tolerant_execution_engine::fault_tolerant_execution_engine(boost::asio::any_io_executor executor,
                                                                 engine_options options)
    : impl_(std::make_unique<impl>()) {
  impl_->executor = std::move(executor);
  impl_->options = std::move(options);
  if (impl_->options.batch_rows == 0)
    impl_->options.batch_rows = default_batch_rows;
  fault_tolerance_options& ft = impl_->options.fault_tolerance;
  if (!ft.handlers) {
    ft.handlers = std::make_shared<handler_registry>();
  }
  ft.detector.validate();
  ft.checkpoint_interval.validate();
  ft.recovery.validate(*ft.handlers);
  impl_->time = ft.time ? ft.time : steady_clock_source();
  impl_->detector = std::make_shared<failure_detector>(ft.detector, impl_->time);
  impl_->budget = std::make_shared<retry_budget>(ft.engine_budget_tokens, ft.engine_budget_ratio);
  impl_->gate = std::make_unique<engine_detail::recovery_gate>(ft.max_concurrent_recoveries);
  impl_->scheduler = std::make_unique<engine_detail::priority_scheduler>(impl_->options.concurrency);
  impl_->pressure = std::make_unique<exec::yield_pressure>(
      std::min(impl_->options.interactive_yield_interval, impl_->options.yield_interval));
}

fault_tolerant_execution_engine::~fault_tolerant_execution_engine() = default;

failure_detector& engine::detector() noexcept { return *impl_->detector; }
handler_registry& engine::handlers() noexcept { return *impl_->options.fault_tolerance.handlers; }

std::vector<query_ptr> engine::running() const {
  std::lock_guard lock(impl_->running_mutex);
  std::vector<query_ptr> out;
  for (const auto& w : impl_->running) {
    if (query_ptr q = w.lock()) {
      out.push_back(std::move(q));
    }
  }
  return out;
}

query_ptr engine::find_running(std::uint64_t id) const {
  for (query_ptr& q : running()) {
    if (q->id() == id) {
      return q;
    }
  }
  return nullptr;
}

void engine::serve_interactively(std::chrono::nanoseconds window) noexcept { impl_->pressure->demand(window); }

void engine::set_io_backend(std::string backend, std::string reason) {
  std::lock_guard lock(impl_->running_mutex);
  impl_->io_backend = std::move(backend);
  impl_->io_backend_reason = std::move(reason);
}

void engine::set_cluster_view(std::function<cluster_view()> provider) {
  auto p = provider ? std::make_shared<const std::function<cluster_view()>>(std::move(provider)) : nullptr;
  std::lock_guard lock(impl_->cluster_mutex);
  impl_->cluster_provider = std::move(p);
}

std::size_t engine::stop_all() {
  const std::vector<query_ptr> queries = running();
  for (const query_ptr& q : queries) {
    q->stop();
  }
  return queries.size();
}

const engine_options& engine::options() const noexcept { return impl_->options; }
const boost::asio::any_io_executor& engine::executor() const noexcept { return impl_->executor; }

void engine::register_table(table_ptr t) {
  std::lock_guard lock(impl_->tables_mutex);
  std::string name = t->name();
  impl_->tables[name] = std::move(t);
}

query_ptr engine::prepare(const plan& p, query_options options) {
  plan_detail::bind_context bind_ctx;
  bind_ctx.data_dir = impl_->options.data_dir;
  {
    std::lock_guard lock(impl_->tables_mutex);
    for (const auto& [name, t] : impl_->tables)
      bind_ctx.table_names.push_back(name);
  }
  bind_ctx.find_table = [this](std::string_view name) -> table_ptr {
    std::lock_guard lock(impl_->tables_mutex);
    auto it = impl_->tables.find(name);
    return it == impl_->tables.end() ? nullptr : it->second;
  };

  auto q = std::make_unique<query::impl>();
  q->id = impl_->next_query_id.fetch_add(1);
  q->name = p.name.empty() ? "query-" + std::to_string(q->id) : p.name;
  q->options = std::move(options);
  q->bound = plan_detail::bind(p, bind_ctx);
  q->root = engine_detail::lower(*q->bound);
  std::string json;
  if (const checkpoint_schedule& cs = q->options.checkpoints; cs.manager) {
    json = to_json(p);
    q->checkpoint_id = cs.query_id.empty()
                           ? engine_detail::default_checkpoint_id(q->name, json, q->options.output_csv.string())
                           : cs.query_id;
  }
  // The result is part of the consistent cut: a sink on top holds it (a CSV file, or with
  // checkpoints the rows in memory), so a resumed query delivers every row exactly once.
  if (!q->options.output_csv.empty()) {
    const std::size_t sink_id = q->root->subtree_size();
    q->root =
        std::make_unique<exec::csv_sink_operator>(sink_id, q->options.output_csv, std::move(q->root), q->checkpoint_id);
  } else if (!q->checkpoint_id.empty()) {
    const std::size_t sink_id = q->root->subtree_size();
    q->root = std::make_unique<exec::memory_sink_operator>(sink_id, std::move(q->root));
    q->memory_sink = sink_id;
  }
  q->progress = std::make_shared<exec::query_progress>();
  if (q->options.batch_rows == 0) {
    q->options.batch_rows = impl_->options.batch_rows;
  }
  q->context = std::make_unique<exec::execution_context>(
      impl_->executor, q->options.batch_rows, q->root->subtree_size(), q->progress, impl_->options.yield_interval);
  const fault_tolerance_options& ft = impl_->options.fault_tolerance;
  // A fault plan of the query's own takes the engine's place for it: in its operators and
  // recovery (through its fault_tolerant_context) and, where the manager routes faults per
  // query, in its checkpoint commits.
  std::optional<fault_tolerance_options> own_ft;
  if (q->options.faults) {
    own_ft = ft;
    own_ft->faults = q->options.faults;
    if (const checkpoint_schedule& cs = q->options.checkpoints; cs.manager) {
      q->fault_router = std::dynamic_pointer_cast<inject::checkpoint_fault_router>(cs.manager->options().faults);
      if (q->fault_router) {
        q->fault_dir = cs.manager->internals().query_dir(q->checkpoint_id);
      } else if (q->options.faults->checkpoint_faults()) {
        throw error(errc::setting_invalid,
                    "query '" + q->name + "': its fault plan has checkpoint rules, but its checkpoint manager " +
                        "cannot route faults per query (make it with an inject::checkpoint_fault_router as " +
                        "checkpoint_options::faults)");
      }
    }
  }
  const fault_tolerance_options& query_ft = own_ft ? *own_ft : ft;
  if (const checkpoint_schedule& cs = q->options.checkpoints; cs.manager) {
    q->checkpointer = std::make_unique<engine_detail::query_checkpointer>(
        cs, q->checkpoint_id, engine_detail::plan_hash(json), ft.checkpoint_interval);
    q->context->set_checkpoint_trigger(q->checkpointer.get());
    q->checkpointer->set_metrics(&impl_->metrics);
    std::lock_guard lock(impl_->running_mutex);
    impl_->io_backend = std::string(cs.manager->backend());
    impl_->io_backend_reason = cs.manager->backend_reason();
  }
  // Recovery is declarative and checked now, before anything runs.
  recovery_policy policy = ft.recovery;
  if (q->options.recovery) {
    policy = *q->options.recovery;
    policy.validate(*ft.handlers);
  } else if (!p.recovery.empty()) {
    try {
      policy = recovery_policy::parse(p.recovery);
      policy.validate(*ft.handlers);
    } catch (const error& e) {
      throw plan_error("recovery", e.what());
    }
  }
  q->options.priority = std::max<std::uint32_t>(1, q->options.priority);
  q->fault_tolerance = std::make_unique<fault_tolerant_context>(q->checkpoint_id.empty() ? q->name : q->checkpoint_id,
                                                                query_ft, std::move(policy), impl_->detector,
                                                                impl_->budget, q->options.checkpoints.manager);
  if (ft.enabled) {
    q->recovery = std::make_unique<engine_detail::query_recovery>(
        *q->root, *q->context, *q->fault_tolerance, q->checkpointer.get(), *impl_->gate, q->options.priority, q->name);
    q->recovery->set_metrics(&impl_->metrics);
    if (q->checkpointer) {
      q->checkpointer->add_state(q->recovery->runtime_state_id(), &q->recovery->runtime_state());
    }
  }
  q->context->set_yield_scheduler(impl_->scheduler.get());
  q->context->set_yield_pressure(impl_->pressure.get());
  return std::make_shared<query>(std::move(q));
}

namespace {

// Runs beside a query while it runs; holds the query so that neither outlives the other.
boost::asio::awaitable<void> watch_for_stalls(query_ptr q,
                                              std::shared_ptr<engine_detail::query_recovery::watchdog_stop> stop) {
  co_await q->internals().recovery->watch_stalls(std::move(stop));
}

// Keeps the engine's list of running queries and the query's scheduler entry right however
// run() ends.
class running_registration {
 public:
  running_registration(std::mutex& m, std::vector<std::weak_ptr<query>>& list, const query_ptr& q)
      : m_(m), list_(list), q_(q.get()) {
    std::lock_guard lock(m_);
    std::erase_if(list_, [](const std::weak_ptr<query>& w) { return w.expired(); });
    list_.push_back(q);
  }
  ~running_registration() {
    std::lock_guard lock(m_);
    std::erase_if(list_, [this](const std::weak_ptr<query>& w) {
      const query_ptr q = w.lock();
      return !q || q.get() == q_;
    });
  }
  running_registration(const running_registration&) = delete;
  running_registration& operator=(const running_registration&) = delete;

 private:
  std::mutex& m_;
  std::vector<std::weak_ptr<query>>& list_;
  const query* q_;
};

// Routes the query's checkpoint I/O to its own fault plan's checkpoint rules (none: no
// injected checkpoint faults at all) for as long as run() runs.
class checkpoint_fault_route {
 public:
  explicit checkpoint_fault_route(const query::impl& qi) : router_(qi.fault_router), dir_(qi.fault_dir) {
    if (router_) {
      router_->route(dir_, qi.options.faults->checkpoint_faults());
    }
  }
  ~checkpoint_fault_route() {
    if (router_) {
      router_->unroute(dir_);
    }
  }
  checkpoint_fault_route(const checkpoint_fault_route&) = delete;
  checkpoint_fault_route& operator=(const checkpoint_fault_route&) = delete;

 private:
  std::shared_ptr<inject::checkpoint_fault_router> router_;
  std::filesystem::path dir_;
};

// The query ended: its last status joins the finished list and its rows the metrics' totals,
// in the same step that takes it off the running list.
void retire(fault_tolerant_execution_engine::impl& e, query& q) {
  auto& qi = q.internals();
  const query_state how = qi.state.load();
  for (std::size_t id = 0; id < qi.context->operator_count(); ++id) {
    auto& phase = qi.context->stats(id).phase;
    if (phase.load() != operator_phase::finished) {
      phase = how == query_state::succeeded ? operator_phase::finished : operator_phase::failed;
    }
  }
  query_status final_status = engine_detail::status_of(q, snapshot_parts::all);
  std::lock_guard lock(e.running_mutex);
  std::erase_if(e.running, [&q](const std::weak_ptr<query>& w) {
    const query_ptr r = w.lock();
    return !r || r.get() == &q;
  });
  e.metrics.query_ended(how, engine_detail::rows_scanned_by(q), qi.progress->rows_out.load(std::memory_order_relaxed));
  e.finished.push_back(std::move(final_status));
  while (e.finished.size() > e.options.status_history) {
    e.finished.pop_front();
  }
}

std::error_code code_of(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const error& e) {
    return e.code();
  } catch (...) {
  }
  return {};
}

// Decides how the query ended, under the same lock as query::abandon(): an abandon() that came
// before this replaces the cancellation it caused (or a success that raced it) by its own error.
// A lost lease, however it was found, means the query's checkpoints are another's now.
void settle(query::impl& qi, std::exception_ptr& failure) {
  std::lock_guard lock(qi.ended_mutex);
  const std::error_code lease_lost = make_error_code(errc::lease_lost);
  if (qi.abandoned && (!failure || (classify(failure) == error_class::cancelled && code_of(failure) != lease_lost))) {
    failure = std::make_exception_ptr(error(qi.abandoned->code, qi.abandoned->why));
  }
  if (!failure) {
    qi.state = query_state::succeeded;
    return;
  }
  const std::error_code code = code_of(failure);
  if (code == lease_lost && qi.checkpointer) {
    qi.checkpointer->stop_checkpointing();
  }
  qi.state = code == make_error_code(errc::query_cancelled) ? query_state::cancelled : query_state::failed;
}

void record_end(query::impl& qi, const std::exception_ptr& failure) {
  std::lock_guard lock(qi.ended_mutex);
  qi.finished_wall = std::chrono::system_clock::now();
  qi.elapsed_final = std::chrono::steady_clock::now() - qi.started;
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      qi.error_message = e.what();
    } catch (...) {
      qi.error_message = "unknown exception";
    }
  }
}

}  // namespace

boost::asio::awaitable<query_result> engine::run(query_ptr q) {
  auto& qi = q->internals();
  auto expected = query_state::prepared;
  if (!qi.state.compare_exchange_strong(expected, query_state::running)) {
    throw error(errc::internal, "query " + std::to_string(qi.id) + " was already run");
  }
  const auto started = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(qi.ended_mutex);
    qi.started = started;
    qi.started_wall = std::chrono::system_clock::now();
  }
  impl_->metrics.query_started();
  const running_registration registration(impl_->running_mutex, impl_->running, q);
  const checkpoint_fault_route fault_route(qi);
  query_result result;
  result.columns = qi.bound->output;
  auto& ctx = *qi.context;
  impl_->scheduler->add(&ctx, qi.options.priority);
  co_await ctx.resume_turn();
  std::shared_ptr<engine_detail::query_recovery::watchdog_stop> watchdog;
  std::optional<boost::asio::strand<boost::asio::any_io_executor>> watchdog_strand;
  std::exception_ptr failure;  // rethrown after cleanup (co_await is not allowed in a handler)
  try {
    qi.root->init_states(ctx);
    if (qi.checkpointer) {
      co_await qi.checkpointer->start(ctx);
      if (qi.options.checkpoints.fresh) {
        co_await qi.checkpointer->discard_all();
        if (!qi.options.output_csv.empty()) {
          std::error_code ignored;
          std::filesystem::remove(exec::csv_sink_operator::partial_path(qi.options.output_csv, qi.checkpoint_id),
                                  ignored);
        }
      } else {
        // Resume where an earlier run of the same query left off, if it left a checkpoint.
        const checkpoint::restore_report report = co_await qi.checkpointer->restore(ctx, [&] {
          qi.root->init_states(ctx);
          for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
            ctx.stats(id) = {};
          }
        });
        if (report.restored) {
          qi.fault_tolerance->update_stats([&](fault_tolerance_stats& s) {
            s.resumed = true;
            s.resumed_epoch = report.restored->epoch;
          });
          qi.progress->rows_out.store(ctx.stats(qi.root->id()).rows_out, std::memory_order_relaxed);
        }
      }
    }
    const fault_tolerance_options& ft = impl_->options.fault_tolerance;
    if (qi.recovery && ft.stall_detection) {
      watchdog = std::make_shared<engine_detail::query_recovery::watchdog_stop>();
      watchdog_strand.emplace(boost::asio::make_strand(impl_->executor));
      boost::asio::co_spawn(*watchdog_strand, watch_for_stalls(q, watchdog), boost::asio::detached);
    }
    while (auto b = co_await qi.root->next(ctx)) {
      result.rows += b->live_rows();
      qi.progress->rows_out.store(result.rows, std::memory_order_relaxed);
      result.batches.push_back(b->has_selection ? b->compacted() : std::move(*b));
    }
    if (qi.memory_sink) {
      auto& sink = ctx.state<exec::memory_sink_state>(*qi.memory_sink);
      result.rows = sink.rows();
      result.batches = sink.take_batches();
      qi.progress->rows_out.store(result.rows, std::memory_order_relaxed);
    } else if (!qi.options.output_csv.empty()) {
      result.rows = qi.progress->rows_out.load(std::memory_order_relaxed);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (watchdog) {
    boost::asio::post(*watchdog_strand, [watchdog] {
      watchdog->stopped.store(true, std::memory_order_release);
      watchdog->wake.emit(boost::asio::cancellation_type::all);
    });
  }
  ctx.pause_turn();
  impl_->scheduler->remove(&ctx);
  // A checkpointer stopped by a lost lease or abandon() leaves the store alone: what is there
  // belongs to the query's new owner.
  if (!failure && qi.checkpointer && !qi.checkpointer->stopped()) {
    try {
      co_await qi.checkpointer->finish(true);
    } catch (...) {
      failure = std::current_exception();
    }
  }
  settle(qi, failure);
  if (failure) {
    if (qi.checkpointer && !qi.checkpointer->stopped()) {
      // Keep what a later run resumes from; only retention applies. A cleanup failure must not
      // mask the query's own error.
      try {
        co_await qi.checkpointer->finish(false);
      } catch (const std::exception&) {
      }
    }
    record_end(qi, failure);
    retire(*impl_, *q);
    std::rethrow_exception(failure);
  }
  result.elapsed = std::chrono::steady_clock::now() - started;
  record_end(qi, nullptr);
  retire(*impl_, *q);
  co_return result;
}

boost::asio::awaitable<query_result> engine::execute(plan p) { return execute(std::move(p), query_options{}); }

boost::asio::awaitable<query_result> engine::execute(plan p, query_options options) {
  // Named locals, not temporaries inside the co_await: GCC 12 mis-destroys temporaries that
  // live across a suspension point in some coroutine expressions.
  query_ptr q = prepare(p, std::move(options));
  query_result r = co_await run(q);
  co_return r;
}

}  // namespace ftq
