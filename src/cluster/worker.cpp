#include "cluster/worker.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "checkpoint/manager_impl.hpp"
#include "csv/csv_writer.hpp"
#include "inject/checkpoint_fault_router.hpp"
#include "inject/fault_plan.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"

namespace ftq::cluster {

namespace {

using sys_clock = std::chrono::system_clock;
using steady = std::chrono::steady_clock;

bool has_code(const error& e, errc c) { return e.code() == make_error_code(c); }

/// Relative csv_scan paths made absolute against the job's data directory, so queries with
/// different data directories share one engine.
void resolve_paths(plan_node& n, const std::filesystem::path& data_dir) {
  if (n.kind == node_kind::csv_scan && !n.path.empty() && std::filesystem::path(n.path).is_relative()) {
    n.path = (data_dir / n.path).string();
  }
  for (plan_node& child : n.inputs) {
    resolve_paths(child, data_dir);
  }
}

/// The result as `ftq run --out` writes it: the same CSV writer, byte for byte (through a temp
/// file it removes again).
std::string render_csv(const schema& columns, const std::vector<batch>& batches, const std::string& tag) {
  static std::atomic<std::uint64_t> counter{0};
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("ftq-result-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + "-" + tag + ".csv");
  csv::writer_options options;
  options.temp_path = path;
  csv::csv_writer writer(path, columns, options);
  for (const batch& b : batches) {
    writer.write(b);
  }
  writer.flush();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw io_error(path.string(), std::error_code(errno, std::system_category()), "read back the result");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() != writer.bytes_written()) {
    throw io_error(path.string(), make_error_code(errc::io_failed),
                   "read back the result: " + std::to_string(text.size()) + " of " +
                       std::to_string(writer.bytes_written()) + " bytes");
  }
  writer.abort();
  return text;
}

std::string what_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

std::string default_worker_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  std::random_device rd;
  char tail[8];
  std::snprintf(tail, sizeof tail, "%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + tail;
}

cluster_query to_cluster_query(const job_status& s, sys_clock::time_point now) {
  cluster_query c;
  c.id = s.query_id;
  c.state = s.owner.state;
  c.owner = s.owner.owner;
  if (!s.owner.owner.empty() && s.owner.lease_until != sys_clock::time_point{}) {
    c.lease_until = s.owner.lease_until;
  }
  c.lease_current = s.owner.lease_current(now);
  c.last_epoch = s.last_epoch;
  c.error = s.error;
  if (s.result) {
    c.result = cluster_result{s.result->sha256, s.result->bytes, s.result->rows, s.result->committed_by,
                              s.result->committed_at};
  }
  c.history.reserve(s.owner.history.size());
  for (const handover& h : s.owner.history) {
    c.history.push_back(cluster_handover{h.at, h.from, h.to, h.why});
  }
  return c;
}

namespace worker_detail {

/// One query this worker holds the lease of, from the take to the release.
struct active_job {
  std::string id;
  job_status status;  // as the poll that took it read it
  std::shared_ptr<lease> held;
  query_ptr q;             // once prepared
  bool lost = false;       // the lease was reported lost
  bool settled = false;    // the outcome is committed (or refused): a loss no longer matters
  bool announced = false;  // "resumed ..." or "... from scratch" said
};

}  // namespace worker_detail

using worker_detail::active_job;

struct worker::impl : std::enable_shared_from_this<worker::impl> {
  impl(boost::asio::io_context& context, worker_options o) : io(context), options(std::move(o)), poll_timer(context) {}

  boost::asio::io_context& io;
  worker_options options;
  rados::store_uri uri;
  std::string store_text;
  std::string name;
  std::shared_ptr<rados::connection> connection;
  // Each job's --inject checkpoint rules apply to its own commits only: the engine routes them
  // through the worker's one checkpoint manager (whose store the leases fence).
  std::shared_ptr<inject::checkpoint_fault_router> faults = std::make_shared<inject::checkpoint_fault_router>();
  std::shared_ptr<checkpoint_manager> manager;
  std::shared_ptr<io::rados_store> store;
  std::unique_ptr<job_registry> registry;
  std::unique_ptr<engine> home_engine;  // runs every job (batch size and faults are per query)
  std::map<std::string, std::shared_ptr<active_job>> active;
  std::map<std::string, steady::time_point> delivery_retry;  // after a failed delivery
  mutable std::mutex view_mutex;
  cluster_view view;  // as of the last poll (the status endpoint reads it from its thread)
  std::uint64_t takeovers = 0;
  std::uint64_t fenced_commits = 0;
  bool stopping = false;
  bool ran = false;
  boost::asio::steady_timer poll_timer;

  void log(std::string_view event) const {
    std::string line = iso_utc(sys_clock::now());
    line.append(" ftq worker ").append(name).append(": ").append(event);
    if (options.log) {
      options.log(line);
      return;
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

  boost::asio::awaitable<void> loop();
  boost::asio::awaitable<bool> poll_once();
  boost::asio::awaitable<bool> deliver_if_missing(job_status st);
  void start_job(job_status st, std::shared_ptr<lease> held);
  boost::asio::awaitable<void> run_job(std::shared_ptr<active_job> job);
  boost::asio::awaitable<void> watch_resume(std::shared_ptr<active_job> job);
  void announce_start(active_job& job);
  void on_lost(const std::shared_ptr<active_job>& job, const std::string& why);
  boost::asio::awaitable<void> finish_failed(std::shared_ptr<active_job> job, std::string why);
  boost::asio::awaitable<void> release(std::shared_ptr<active_job> job, bool announce);
  void stop();
  /// The view of the last poll, with this worker's counters now.
  void publish(const std::vector<job_status>& seen);
  /// The store refused a fenced change: said, unless the loss of the lease was said already.
  void refused_commit(active_job& job, const std::string& why) {
    ++fenced_commits;
    if (!job.lost) {
      log("refused commit for " + job.id + ": " + why);
    }
  }
};

worker::worker(boost::asio::io_context& io, worker_options options)
    : impl_(std::make_shared<impl>(io, std::move(options))) {
  impl& w = *impl_;
  w.uri = rados::parse_store_uri(w.options.store);
  w.store_text = w.uri.text();
  w.name = w.options.name.empty() ? default_worker_name() : w.options.name;
  if (w.options.max_queries == 0) {
    throw error(errc::setting_invalid, "worker: max_queries must be at least 1");
  }
  rados::connect_options co;
  co.pool = w.uri.pool;
  co.conf_path = w.options.ceph_conf.string();
  w.connection = rados::connection::connect(co);

  checkpoint_options cp;
  cp.store = w.store_text;
  cp.ceph_conf = w.options.ceph_conf;
  cp.rados = w.connection;
  // Checkpoints stay until the result is committed: a worker that dies between the query's
  // end and the commit leaves its successor the last checkpoint, not a rerun from scratch.
  cp.retain_on_success = true;
  cp.faults = w.faults;
  cp.log = [raw = impl_.get()](std::string_view line) { raw->log(line); };
  w.manager = std::make_shared<checkpoint_manager>(io.get_executor(), cp);
  w.store = w.manager->internals().rados_store_shared();
  w.registry = std::make_unique<job_registry>(w.store, w.uri.prefix);
  w.home_engine = std::make_unique<engine>(io.get_executor(), engine_options{});
  w.view.worker = w.name;
  w.view.store = w.store_text;
  w.home_engine->set_cluster_view([weak = std::weak_ptr<impl>(impl_)] {
    auto self = weak.lock();
    if (!self) {
      throw error(errc::internal, "the worker is gone");
    }
    std::lock_guard lock(self->view_mutex);
    return self->view;
  });
}

worker::~worker() = default;

const std::string& worker::name() const noexcept { return impl_->name; }
const std::string& worker::store() const noexcept { return impl_->store_text; }
engine& worker::query_engine() noexcept { return *impl_->home_engine; }
cluster_view worker::view() const {
  std::lock_guard lock(impl_->view_mutex);
  return impl_->view;
}

boost::asio::awaitable<void> worker::run() {
  std::shared_ptr<impl> self = impl_;
  if (self->ran) {
    throw error(errc::internal, "worker::run() called twice");
  }
  self->ran = true;
  co_await self->loop();
}

void worker::stop() { impl_->stop(); }
void worker::log(std::string_view event) const { impl_->log(event); }

void worker::impl::publish(const std::vector<job_status>& seen) {
  cluster_view v;
  v.worker = name;
  v.store = store_text;
  const auto now = sys_clock::now();
  v.queries.reserve(seen.size());
  for (const job_status& s : seen) {
    v.queries.push_back(to_cluster_query(s, now));
  }
  v.takeovers = takeovers;
  v.leases_held = active.size();
  v.fenced_commits = fenced_commits;
  std::lock_guard lock(view_mutex);
  view = std::move(v);
}

void worker::impl::stop() {
  if (stopping) {
    return;
  }
  stopping = true;
  poll_timer.cancel();
  for (auto& [id, job] : active) {
    if (job->q) {
      job->q->stop();
    }
  }
}

boost::asio::awaitable<void> worker::impl::loop() {
  auto self = shared_from_this();
  auto idle_since = steady::now();
  while (!stopping) {
    bool busy = false;
    try {
      busy = co_await poll_once();
    } catch (const std::exception& e) {
      log(std::string("poll failed: ") + e.what());
    }
    if (busy || !active.empty()) {
      idle_since = steady::now();
    }
    if (options.exit_when_idle && steady::now() - idle_since >= *options.exit_when_idle) {
      break;
    }
    if (stopping) {
      break;
    }
    poll_timer.expires_after(options.poll);
    (void)co_await poll_timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  stop();
  // Every job ends on its own (stopped after a final checkpoint) and releases its lease.
  boost::asio::steady_timer wait(io);
  while (!active.empty()) {
    wait.expires_after(std::chrono::milliseconds(10));
    (void)co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

boost::asio::awaitable<bool> worker::impl::poll_once() {
  auto self = shared_from_this();
  bool busy = false;
  const std::vector<std::string> ids = co_await registry->list();
  std::vector<job_status> seen;
  seen.reserve(ids.size());
  for (const std::string& id : ids) {
    job_status st;
    try {
      st = co_await registry->status(id);
    } catch (const std::exception&) {
      // A query without a job (`ftq run --checkpoint-store`), or one removed meanwhile.
      continue;
    }
    seen.push_back(st);
    const std::string& state = st.owner.state;
    if (state == "succeeded") {
      busy = co_await deliver_if_missing(st) || busy;
      continue;
    }
    if (stopping || active.count(id) != 0 || active.size() >= options.max_queries) {
      continue;
    }
    if ((state != "queued" && state != "running") || st.owner.lease_current(sys_clock::now())) {
      continue;
    }
    std::shared_ptr<lease> held;
    try {
      const std::string dir = registry->dir_of(id);  // a named local: no temporary across the co_await
      held = co_await lease::try_acquire(store, dir, name, options.lease);
    } catch (const std::exception& e) {
      log("cannot take " + id + ": " + e.what());
      continue;
    }
    if (!held) {
      continue;  // another worker was faster, or the query ended meanwhile
    }
    if (stopping) {
      co_await held->release();
      continue;
    }
    busy = true;
    start_job(std::move(st), std::move(held));
  }
  publish(seen);
  co_return busy;
}

boost::asio::awaitable<bool> worker::impl::deliver_if_missing(job_status st) {
  const std::string& out = st.spec.output_path;
  std::error_code ec;
  if (out.empty() || std::filesystem::exists(out, ec)) {
    co_return false;
  }
  if (auto it = delivery_retry.find(st.query_id); it != delivery_retry.end() && steady::now() < it->second) {
    co_return false;
  }
  std::string failure;
  try {
    const bool wrote = co_await registry->deliver(st.query_id);
    delivery_retry.erase(st.query_id);
    if (wrote) {
      log("delivered " + st.query_id + " -> " + out);
    }
    co_return wrote;
  } catch (const std::exception& e) {
    failure = e.what();
  }
  delivery_retry[st.query_id] = steady::now() + std::chrono::seconds(5);
  log("cannot deliver " + st.query_id + " -> " + out + ": " + failure);
  co_return false;
}

void worker::impl::start_job(job_status st, std::shared_ptr<lease> held) {
  auto job = std::make_shared<active_job>();
  job->id = st.query_id;
  job->status = std::move(st);
  job->held = std::move(held);
  active[job->id] = job;
  boost::asio::co_spawn(io, run_job(job), [self = shared_from_this(), job](std::exception_ptr e) {
    if (e) {
      self->log("internal error running " + job->id + ": " + what_of(e));
    }
    self->active.erase(job->id);
  });
}

void worker::impl::on_lost(const std::shared_ptr<active_job>& job, const std::string& why) {
  if (job->settled || job->lost) {
    return;
  }
  job->lost = true;
  log("lost " + job->id + ": " + why + "; stopped it");
  if (job->q) {
    job->q->abandon(make_error_code(errc::lease_lost), "lost the lease of " + job->id + ": " + why);
  }
}

void worker::impl::announce_start(active_job& job) {
  if (job.announced || !job.q) {
    return;
  }
  const fault_tolerance_stats ft = job.q->fault_tolerance();
  if (ft.resumed) {
    job.announced = true;
    log("resumed " + job.id + " from epoch " + std::to_string(ft.resumed_epoch));
    return;
  }
  // No checkpoint was restored once the query committed one of its own or succeeded (every
  // checkpoint it found may have been unreadable).
  if (job.q->checkpoints().commits > 0 || job.q->state() == query_state::succeeded) {
    job.announced = true;
    log("started " + job.id + " from scratch (no checkpoint)");
  }
}

boost::asio::awaitable<void> worker::impl::watch_resume(std::shared_ptr<active_job> job) {
  auto self = shared_from_this();
  boost::asio::steady_timer timer(io);
  while (!job->announced && job->q) {
    const query_state s = job->q->state();
    if (s != query_state::prepared && s != query_state::running) {
      co_return;
    }
    announce_start(*job);
    timer.expires_after(std::chrono::milliseconds(10));
    (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

boost::asio::awaitable<void> worker::impl::release(std::shared_ptr<active_job> job, bool announce) {
  auto self = shared_from_this();
  job->settled = true;
  try {
    co_await job->held->release();
  } catch (const std::exception& e) {
    log("cannot release " + job->id + ": " + e.what());
  }
  if (announce) {
    log("released " + job->id);
  }
}

boost::asio::awaitable<void> worker::impl::finish_failed(std::shared_ptr<active_job> job, std::string why) {
  auto self = shared_from_this();
  std::string refused;
  try {
    co_await registry->mark_failed(*job->held, why);
    job->settled = true;
    log("failed " + job->id + ": " + why);
  } catch (const error& e) {
    if (has_code(e, errc::lease_lost)) {
      refused = e.what();
    } else {
      log("failed " + job->id + ": " + why + " (not recorded: " + e.what() + ")");
    }
  } catch (const std::exception& e) {
    log("failed " + job->id + ": " + why + " (not recorded: " + e.what() + ")");
  }
  if (!refused.empty()) {
    refused_commit(*job, refused);
  }
  co_await release(job, false);
}

boost::asio::awaitable<void> worker::impl::run_job(std::shared_ptr<active_job> job) {
  auto self = shared_from_this();
  const std::string id = job->id;
  const job_spec& spec = job->status.spec;
  if (const std::string& previous = job->held->previous_owner(); !previous.empty()) {
    long long lapsed = 0;
    if (const auto until = job->held->previous_lease_until()) {
      lapsed = std::max<long long>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(job->held->acquired_at() - *until).count());
    }
    ++takeovers;
    log("took over " + id + " from " + previous + " (its lease lapsed " + std::to_string(lapsed) + " ms ago)");
  } else {
    log("started " + id + " (first owner)");
  }
  std::weak_ptr<impl> weak = self;
  job->held->start_renewing([weak, job](std::string why) {
    if (auto w = weak.lock()) {
      w->on_lost(job, why);
    }
  });

  std::string refused;
  std::string setup_failure;
  try {
    co_await registry->mark_running(*job->held);
  } catch (const error& e) {
    (has_code(e, errc::lease_lost) ? refused : setup_failure) = e.what();
  } catch (const std::exception& e) {
    setup_failure = e.what();
  }
  if (!refused.empty() || !setup_failure.empty()) {
    if (!refused.empty()) {
      refused_commit(*job, refused);
    } else {
      log("cannot start " + id + ": " + setup_failure);
    }
    co_await release(job, false);
    co_return;
  }

  // The plan as submitted, against its data directory, with its faults and checkpoint schedule.
  std::string bad_job;
  engine& eng = *home_engine;
  try {
    plan p = parse_plan(spec.plan_json);
    resolve_paths(p.root, spec.data_dir);
    if (p.name.empty()) {
      p.name = spec.plan_name.empty() ? id : spec.plan_name;
    }
    query_options qo;
    qo.checkpoints.manager = manager;
    qo.checkpoints.query_id = id;
    qo.checkpoints.interval = spec.checkpoint_interval;
    qo.batch_rows = spec.batch_rows;  // 0: the engine's
    if (!spec.inject.empty()) {
      qo.faults = std::make_shared<inject::fault_plan>(inject::fault_plan::parse(spec.inject));
    }
    job->q = eng.prepare(p, qo);
  } catch (const std::exception& e) {
    bad_job = e.what();
  }
  if (!bad_job.empty()) {
    co_await finish_failed(job, bad_job);
    co_return;
  }
  if (stopping || job->lost) {
    co_await release(job, stopping && !job->lost);
    co_return;
  }
  if (!job->status.last_epoch) {
    job->announced = true;
    log("started " + id + " from scratch (no checkpoint)");
  } else {
    boost::asio::co_spawn(io, watch_resume(job), boost::asio::detached);
  }

  std::exception_ptr failure;
  query_result result;
  try {
    result = co_await eng.run(job->q);
  } catch (...) {
    failure = std::current_exception();
  }
  announce_start(*job);
  if (failure) {
    std::string why = what_of(failure);
    bool lease_lost = false;
    bool cancelled = false;
    try {
      std::rethrow_exception(failure);
    } catch (const error& e) {
      lease_lost = has_code(e, errc::lease_lost);
      cancelled = has_code(e, errc::query_cancelled);
    } catch (...) {
    }
    if (job->lost) {
      co_await release(job, false);  // "lost ..." was said when it happened
    } else if (lease_lost) {
      refused_commit(*job, why);
      co_await release(job, false);
    } else if (cancelled && stopping) {
      co_await release(job, true);
    } else {
      co_await finish_failed(job, why);
    }
    co_return;
  }

  // Succeeded: commit the result (fenced: exactly one worker's commit is ever accepted).
  std::string csv;
  try {
    csv = render_csv(result.columns, result.batches, id);
  } catch (const std::exception& e) {
    bad_job = e.what();
  }
  if (!bad_job.empty()) {
    co_await finish_failed(job, bad_job);
    co_return;
  }
  result.batches.clear();
  result_info info;
  std::string commit_failure;
  try {
    info = co_await registry->commit_result(*job->held, std::move(csv), result.rows);
    job->settled = true;
  } catch (const error& e) {
    (has_code(e, errc::lease_lost) ? refused : commit_failure) = e.what();
  } catch (const std::exception& e) {
    commit_failure = e.what();
  }
  if (!refused.empty()) {
    refused_commit(*job, refused);
    co_await release(job, false);
    co_return;
  }
  if (!commit_failure.empty()) {
    // Not committed: the query stays running with its checkpoints; a worker takes it again.
    log("cannot commit the result of " + id + ": " + commit_failure);
    co_await release(job, false);
    co_return;
  }
  log("succeeded " + id + ": " + std::to_string(info.rows) + " rows, result committed (sha256 " +
      info.sha256.substr(0, 12) + ")");
  std::string deliver_failure;
  try {
    co_await registry->deliver(id);
    delivery_retry.erase(id);
    log("delivered " + id + " -> " + spec.output_path);
  } catch (const std::exception& e) {
    deliver_failure = e.what();
  }
  if (!deliver_failure.empty()) {
    delivery_retry[id] = steady::now() + std::chrono::seconds(5);
    log("cannot deliver " + id + " -> " + spec.output_path + ": " + deliver_failure);
  }
  // The committed result supersedes the checkpoints kept until now.
  try {
    co_await manager->remove_query(id);
  } catch (const std::exception& e) {
    log("cannot remove the checkpoints of " + id + ": " + e.what());
  }
  co_await release(job, false);
}

}  // namespace ftq::cluster
