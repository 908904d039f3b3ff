#include <ftq/engine.hpp>

#include <map>
#include <mutex>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

#include "engine/lower.hpp"
#include "engine/query_impl.hpp"
#include "exec/operators/csv_sink.hpp"
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
const std::string& query::checkpoint_id() const noexcept { return impl_->checkpoint_id; }
checkpoint_stats query::checkpoints() const {
  return impl_->checkpointer ? impl_->checkpointer->stats() : checkpoint_stats{};
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

struct engine::impl {
  boost::asio::any_io_executor executor;
  engine_options options;
  std::mutex tables_mutex;
  std::map<std::string, table_ptr, std::less<>> tables;
  std::atomic<std::uint64_t> next_query_id{1};
};

engine::engine(boost::asio::any_io_executor executor, engine_options options) : impl_(std::make_unique<impl>()) {
  impl_->executor = std::move(executor);
  impl_->options = std::move(options);
  if (impl_->options.batch_rows == 0)
    impl_->options.batch_rows = default_batch_rows;
}

engine::~engine() = default;

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
  if (!q->options.output_csv.empty()) {
    const std::size_t sink_id = q->root->subtree_size();
    q->root = std::make_unique<exec::csv_sink_operator>(sink_id, q->options.output_csv, std::move(q->root));
  }
  q->progress = std::make_shared<exec::query_progress>();
  q->context = std::make_unique<exec::execution_context>(
      impl_->executor, impl_->options.batch_rows, q->root->subtree_size(), q->progress, impl_->options.yield_interval);
  if (const checkpoint_schedule& cs = q->options.checkpoints; cs.manager) {
    const std::string json = to_json(p);
    q->checkpoint_id = cs.query_id.empty()
                           ? engine_detail::default_checkpoint_id(q->name, json, q->options.output_csv.string())
                           : cs.query_id;
    q->checkpointer =
        std::make_unique<engine_detail::query_checkpointer>(cs, q->checkpoint_id, engine_detail::plan_hash(json));
    q->context->set_checkpoint_trigger(q->checkpointer.get());
  }
  return std::make_shared<query>(std::move(q));
}

boost::asio::awaitable<query_result> engine::run(query_ptr q) {
  auto& qi = q->internals();
  auto expected = query_state::prepared;
  if (!qi.state.compare_exchange_strong(expected, query_state::running)) {
    throw error(errc::internal, "query " + std::to_string(qi.id) + " was already run");
  }
  const auto started = std::chrono::steady_clock::now();
  query_result result;
  result.columns = qi.bound->output;
  auto& ctx = *qi.context;
  std::exception_ptr failure;  // rethrown after cleanup (co_await is not allowed in a handler)
  try {
    qi.root->init_states(ctx);
    if (qi.checkpointer) {
      co_await qi.checkpointer->start(ctx);
    }
    while (auto b = co_await qi.root->next(ctx)) {
      result.rows += b->live_rows();
      qi.progress->rows_out.store(result.rows, std::memory_order_relaxed);
      result.batches.push_back(b->has_selection ? b->compacted() : std::move(*b));
    }
    if (!qi.options.output_csv.empty()) {
      result.rows = qi.progress->rows_out.load(std::memory_order_relaxed);
    }
  } catch (const error& e) {
    qi.state = e.code() == make_error_code(errc::query_cancelled) ? query_state::cancelled : query_state::failed;
    failure = std::current_exception();
  } catch (...) {
    qi.state = query_state::failed;
    failure = std::current_exception();
  }
  if (failure) {
    if (qi.checkpointer) {
      // Keep what a later run resumes from; only retention applies. A cleanup failure must not
      // mask the query's own error.
      try {
        co_await qi.checkpointer->finish(false);
      } catch (const std::exception&) {
      }
    }
    std::rethrow_exception(failure);
  }
  if (qi.checkpointer) {
    co_await qi.checkpointer->finish(true);
  }
  qi.state = query_state::succeeded;
  result.elapsed = std::chrono::steady_clock::now() - started;
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
