#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "checkpoint/manager_impl.hpp"
#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/graceful_stop.hpp"
#include "cli/progress_display.hpp"
#include "cli/recovery_summary.hpp"
#include "cli/status_option.hpp"
#include "cluster/lease.hpp"
#include "inject/fault_plan.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

std::string resume_line(const query& q, std::uint64_t epoch) {
  return "ftq: resuming " + q.checkpoint_id() + " from checkpoint epoch " + std::to_string(epoch);
}

// Says "resuming" as soon as the query has restored an earlier run's checkpoint (the restore
// happens when it starts), so a user sees it before a long run ends.
boost::asio::awaitable<void> announce_resume(query_ptr q, progress_display& display, bool& announced) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    const fault_tolerance_stats ft = q->fault_tolerance();
    if (ft.resumed) {
      announced = true;
      display.note(resume_line(*q, ft.resumed_epoch));
      co_return;
    }
    const query_state s = q->state();
    if (s != query_state::prepared && s != query_state::running) {
      co_return;
    }
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

std::string run_worker_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  return std::string(host) + "-" + std::to_string(::getpid()) + "-run";
}

std::string owned_by(const std::string& query_id, const cluster::ownership& owner) {
  if (owner.state == "succeeded" || owner.state == "failed") {
    return "query " + query_id + " has ended in the store (" + owner.state + ")";
  }
  return "query " + query_id + " is owned by " + (owner.owner.empty() ? std::string("another process") : owner.owner) +
         " (lease until " + cluster::iso_utc(owner.lease_until) + ")";
}

/// Takes the lease of the query's directory in the store for this run. A holder whose lease ends
/// within one lease length (plus clock slack) and is not renewed meanwhile is gone (a killed run
/// or worker): its lease is waited out, saying so once. Null, with `refusal` set to the reason,
/// when the holder is alive (it renewed, or holds a longer lease), another took the query
/// meanwhile, or the query has ended.
boost::asio::awaitable<std::shared_ptr<cluster::lease>> take_run_lease(std::shared_ptr<io::rados_store> store,
                                                                       std::string dir, std::string query_id,
                                                                       std::string& refusal) {
  using namespace std::chrono_literals;
  co_await store->make_dirs(dir);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  const cluster::lease_options lease_options{};
  const auto longest_wait = lease_options.duration + 1s;  // one lease length, plus clock slack
  const std::string worker_id = run_worker_id();
  std::optional<cluster::ownership> waiting_on;  // the holder being waited out, as first seen
  std::optional<std::chrono::steady_clock::time_point> lapsed_since;
  for (;;) {
    std::shared_ptr<cluster::lease> held = co_await cluster::lease::try_acquire(store, dir, worker_id, lease_options);
    if (held) {
      co_return held;
    }
    const cluster::ownership owner = co_await cluster::read_ownership(*store, dir);
    const auto now = std::chrono::system_clock::now();
    if (owner.state == "succeeded" || owner.state == "failed") {
      refusal = owned_by(query_id, owner);
      co_return nullptr;
    }
    auto pause = 200ms;
    if (owner.lease_current(now)) {
      lapsed_since.reset();
      const bool lapsing = owner.lease_until - now <= longest_wait;
      const bool same_holder =
          !waiting_on || (owner.owner == waiting_on->owner && owner.lease_until <= waiting_on->lease_until);
      if (!lapsing || !same_holder) {
        refusal = owned_by(query_id, owner);  // alive: it renewed, or holds a longer lease, or took it
        co_return nullptr;
      }
      if (!waiting_on) {
        waiting_on = owner;
        std::cerr << "ftq run: query " << query_id << " is held by "
                  << (owner.owner.empty() ? std::string("another process") : owner.owner) << " until "
                  << cluster::iso_utc(owner.lease_until) << "; waiting for its lease to lapse\n";
      }
    } else {
      // Lapsed yet refused: the manifest moved under us, or the lock's own expiry (the OSD's
      // clock) trails lease_until by a moment. Try again briefly.
      const auto steady_now = std::chrono::steady_clock::now();
      if (!lapsed_since) {
        lapsed_since = steady_now;
      } else if (steady_now - *lapsed_since >= 2s) {
        refusal = owned_by(query_id, owner);
        co_return nullptr;
      }
      pause = 100ms;
    }
    timer.expires_after(pause);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace

int run_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq run PLAN.json --data DIR --out RESULT.csv [options]\n\n"
      "Runs a JSON plan (format: docs/plan-format.md) and writes its result as CSV with a\n"
      "header. Relative csv_scan paths resolve against --data. The result file appears only\n"
      "when the query succeeds. Failures are retried or recovered from the last checkpoint.\n"
      "With --checkpoint-dir (or --checkpoint-store, in a Ceph RADOS pool), a run that was\n"
      "killed or stopped resumes from its newest valid checkpoint when the same command runs\n"
      "again (--fresh starts over). SIGINT or SIGTERM stops it after a final checkpoint (exit 130\n"
      "or 143); a second signal exits at once.\n\noptions");
  std::string plan_path;
  std::string data_dir;
  std::string out;
  std::size_t batch_rows = default_batch_rows;
  std::string progress = "auto";
  std::string checkpoint_dir;
  std::string checkpoint_store;
  std::string ceph_conf;
  std::uint64_t checkpoint_every = 0;
  std::string checkpoint_interval;
  std::string key_file;
  std::string compression = "zstd";
  int compression_level = 1;
  std::size_t keep = 2;
  std::string inject;
  std::string recovery;
  std::uint32_t priority = 1;
  std::string stop_timeout_text = "10s";
  status_flags status;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("plan", po::value(&plan_path)->required(), "the JSON plan (also the first positional argument)")
      ("data", po::value(&data_dir)->default_value("."), "directory that relative table paths resolve against")
      ("out", po::value(&out), "result CSV file (required unless --explain)")
      ("batch-rows", po::value(&batch_rows)->default_value(default_batch_rows), "rows per batch")
      ("progress", po::value(&progress)->default_value("auto"), "progress bar on stderr: auto (when stderr is a terminal), always, never")
      ("explain", "print the compiled operator tree and exit")
      ("checkpoint-dir", po::value(&checkpoint_dir), "take checkpoints into this directory (created 0700); a rerun of the same command resumes from them")
      ("checkpoint-store", po::value(&checkpoint_store), "take checkpoints into a Ceph RADOS pool instead, rados://POOL[/PREFIX] (docs/rados.md); the run holds the query's lease")
      ("ceph-conf", po::value(&ceph_conf), "with --checkpoint-store: the cluster's ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ("checkpoint-every", po::value(&checkpoint_every), "a checkpoint every ROWS rows scanned")
      ("checkpoint-interval", po::value(&checkpoint_interval), "a checkpoint every DURATION (500ms, 2s, 1m); default with neither: adaptive (Daly's formula over the measured checkpoint cost and the failures seen, between 200ms and 60s)")
      ("fresh", "discard this query's earlier checkpoints and partial output and start over")
      ("encrypt-key-file", po::value(&key_file), "encrypt checkpoints with AES-256-GCM; key file of 32 bytes or 64 hex digits, mode 0600 (else FTQ_CHECKPOINT_KEY)")
      ("compression", po::value(&compression)->default_value("zstd"), "checkpoint compression: zstd, lz4 or none")
      ("compression-level", po::value(&compression_level)->default_value(1), "zstd level (1-19)")
      ("keep", po::value(&keep)->default_value(2), "complete checkpoints kept per query")
      ("keep-checkpoints", "leave the last --keep checkpoints in place after success")
      ("recovery", po::value(&recovery), "recovery policy: CLASS=ACTION,... plus attempts=N, backoff=KIND, base=D, cap=D, e.g. transient=retry,operator_fault=restart_pipeline,attempts=3,backoff=decorrelated (docs/fault-tolerance.md)")
      ("priority", po::value(&priority)->default_value(1), "query priority (>= 1): its share of the executor and its place in the recovery queue")
      ("inject", po::value(&inject), "inject faults, for tests and demos: a SPEC such as 'seed=7;throw:op=hash_join,batch=5' or @FILE.json (docs/fault-injection.md)")
      ("stop-timeout", po::value(&stop_timeout_text)->default_value("10s"), "on SIGINT or SIGTERM, longest wait for the final checkpoint before exiting anyway");
  // clang-format on
  add_status_flags(flags, status, "default 0");
  po::positional_options_description positional;
  positional.add("plan", 1);
  po::variables_map vm;
  std::optional<recovery_policy> policy;
  std::shared_ptr<inject::fault_plan> faults;
  std::chrono::milliseconds stop_timeout{0};
  rados::store_uri store_uri;
  auto check = [&] {
    check_status_flags(status);
    if (!vm.count("explain") && out.empty()) {
      throw po::error("the option '--out' is required");
    }
    check_progress_mode(progress);
    if (!checkpoint_dir.empty() && !checkpoint_store.empty()) {
      throw po::error("give --checkpoint-dir or --checkpoint-store, not both");
    }
    if (!checkpoint_store.empty()) {
      try {
        store_uri = rados::parse_store_uri(checkpoint_store);
      } catch (const error& e) {
        throw po::error("--checkpoint-store: " + std::string(e.what()));
      }
    } else if (vm.count("ceph-conf")) {
      throw po::error("--ceph-conf needs --checkpoint-store");
    }
    if (checkpoint_dir.empty() && checkpoint_store.empty() &&
        (vm.count("checkpoint-every") || vm.count("checkpoint-interval") || vm.count("encrypt-key-file") ||
         vm.count("keep-checkpoints") || vm.count("fresh"))) {
      throw po::error("checkpoint options need --checkpoint-dir or --checkpoint-store");
    }
    if (vm.count("checkpoint-every") && vm.count("checkpoint-interval")) {
      throw po::error("give --checkpoint-every or --checkpoint-interval, not both");
    }
    if (vm.count("checkpoint-every") && checkpoint_every == 0) {
      throw po::error("--checkpoint-every must be at least 1");
    }
    if (vm.count("checkpoint-interval")) {
      (void)parse_duration_flag(checkpoint_interval, "--checkpoint-interval");
    }
    (void)parse_compression_flag(compression);
    if (priority < 1) {
      throw po::error("--priority must be at least 1");
    }
    stop_timeout = parse_duration_flag(stop_timeout_text, "--stop-timeout");
    // Policies and fault plans are checked here, so a typo is a usage error, not a failed run.
    if (vm.count("recovery")) {
      try {
        policy = recovery_policy::parse(recovery);
        policy->validate(handler_registry{});  // the command line registers no handlers
      } catch (const error& e) {
        throw po::error("--recovery: " + std::string(e.what()));
      }
    }
    if (vm.count("inject")) {
      try {
        faults = std::make_shared<inject::fault_plan>(inject::fault_plan::from_argument(inject));
      } catch (const error& e) {
        throw po::error("--inject: " + std::string(e.what()));
      }
      if (faults->checkpoint_faults() && checkpoint_dir.empty() && checkpoint_store.empty()) {
        throw po::error("--inject: checkpoint rules need --checkpoint-dir or --checkpoint-store");
      }
    }
  };
  if (auto stop = parse_flags("run", argc, argv, flags, vm, positional, check)) {
    return *stop;
  }

  std::ifstream in(plan_path, std::ios::binary);
  if (!in) {
    std::cerr << "ftq run: " << plan_path << ": cannot read the plan file\n";
    return exit_usage;
  }
  std::stringstream text;
  text << in.rdbuf();

  // Destroyed in reverse: the query (and the checkpoint manager it holds, which logs through
  // the display) before the display, the display before the engine, everything before the
  // io_context the manager's I/O runs on.
  const bool checkpointing = !checkpoint_dir.empty() || !checkpoint_store.empty();
  const std::string checkpoint_place = checkpoint_store.empty() ? checkpoint_dir : store_uri.text();
  boost::asio::io_context io(1);
  engine_options options;
  options.data_dir = data_dir;
  options.batch_rows = batch_rows;
  if (faults && !faults->empty()) {
    options.fault_tolerance.faults = faults;
  }
  engine eng(io.get_executor(), options);
  progress_display display(show_progress(progress));
  query_ptr q;
  std::shared_ptr<checkpoint_manager> manager;
  try {
    plan p = parse_plan(text.str());
    if (p.name.empty())
      p.name = std::filesystem::path(plan_path).stem().string();
    query_options qo;
    qo.output_csv = out;
    qo.priority = priority;
    qo.recovery = policy;
    if (checkpointing) {
      checkpoint_options co;
      co.dir = checkpoint_dir;
      if (!checkpoint_store.empty()) {
        co.store = store_uri.text();
        co.ceph_conf = ceph_conf;
      }
      co.key_file = key_file;
      co.compression = parse_compression_flag(compression);
      co.compression_level = compression_level;
      co.keep = keep;
      co.retain_on_success = vm.count("keep-checkpoints") > 0;
      co.log = [&display](std::string_view line) { display.note("ftq run: " + std::string(line)); };
      if (faults) {
        co.faults = faults->checkpoint_faults();
      }
      manager = std::make_shared<checkpoint_manager>(io.get_executor(), co);
      qo.checkpoints.manager = manager;
      qo.checkpoints.every_rows = checkpoint_every;
      qo.checkpoints.fresh = vm.count("fresh") > 0;
      if (!checkpoint_interval.empty()) {
        qo.checkpoints.interval = parse_duration_flag(checkpoint_interval, "--checkpoint-interval");
      }
    }
    q = eng.prepare(p, qo);
  } catch (const plan_error& e) {
    std::cerr << "ftq run: " << plan_path << ": " << e.what() << "\n";
    return exit_bad_plan;
  } catch (const std::exception& e) {
    std::cerr << "ftq run: " << plan_path << ": " << e.what() << "\n";
    return exit_failed;
  }
  if (vm.count("explain")) {
    std::cout << q->explain();
    return exit_ok;
  }
  if (faults && !faults->empty()) {
    std::cerr << "ftq run: injecting faults: " << faults->describe() << "\n";
  }

  // With a shared store the run owns the query for as long as it runs: another `ftq run` or a
  // worker is refused, and a run that loses the lease stops at once.
  std::shared_ptr<cluster::lease> held;
  if (!checkpoint_store.empty()) {
    std::string refusal;
    std::exception_ptr lease_failure;
    const std::string dir = rados::layout::join(store_uri.prefix, q->checkpoint_id());
    boost::asio::co_spawn(io,
                          take_run_lease(manager->internals().rados_store_shared(), dir, q->checkpoint_id(), refusal),
                          [&](std::exception_ptr e, std::shared_ptr<cluster::lease> l) {
                            lease_failure = e;
                            held = std::move(l);
                          });
    io.run();
    io.restart();
    if (lease_failure) {
      try {
        std::rethrow_exception(lease_failure);
      } catch (const std::exception& e) {
        std::cerr << "ftq run: " << q->checkpoint_id() << ": " << e.what() << "\n";
      }
      return exit_failed;
    }
    if (!held) {
      std::cerr << "ftq run: " << refusal << "\n";
      return exit_failed;
    }
  }

  display.add(q->name(), q);
  graceful_stop stopper(
      io,
      [&eng, q] {
        // A signal that arrives before the query registered as running still stops it.
        if (eng.stop_all() == 0) {
          q->stop();
        }
      },
      stop_timeout, [&display](std::string line) { display.note(std::move(line)); });
  std::unique_ptr<status_endpoint> endpoint;
  if (!status.address.empty()) {
    try {
      endpoint = std::make_unique<status_endpoint>(io, eng, status, std::chrono::milliseconds(0),
                                                   [](std::string line) { std::cerr << "ftq run: " << line << "\n"; });
    } catch (const std::exception& e) {
      std::cerr << "ftq run: " << e.what() << "\n";
      return exit_usage;
    }
  }
  std::exception_ptr failure;
  query_result result;
  if (held) {
    held->start_renewing([q, &display](std::string why) {
      const std::string line = "lost the lease of " + q->checkpoint_id() + ": " + why;
      display.note("ftq run: " + line + "; stopping");
      q->abandon(make_error_code(errc::lease_lost), line);
    });
  }
  boost::asio::co_spawn(io, eng.run(q), [&](std::exception_ptr e, query_result r) {
    failure = e;
    result = std::move(r);
    stopper.finish();
    if (endpoint) {
      endpoint->queries_done();
    }
    if (held) {
      boost::asio::co_spawn(io, held->release(), boost::asio::detached);
    }
  });
  bool announced = false;
  if (checkpointing) {
    boost::asio::co_spawn(io, announce_resume(q, display, announced), boost::asio::detached);
  }
  boost::asio::co_spawn(io, display.run(), boost::asio::detached);
  io.run();

  const fault_tolerance_stats ft = q->fault_tolerance();
  if (ft.resumed && !announced) {
    std::cerr << resume_line(*q, ft.resumed_epoch) << "\n";
  }
  const std::string summary = recovery_summary(ft, q->checkpoints());
  if (!summary.empty()) {
    std::cerr << "ftq run: " << q->name() << ": " << summary << "\n";
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const error& e) {
      if (stopper.signal_number() != 0 && e.code() == make_error_code(errc::query_cancelled)) {
        std::cerr << (!checkpointing ? "ftq: stopped (without --checkpoint-dir a rerun starts over)\n"
                                     : "ftq: stopped; run the same command to resume\n");
        return stopper.exit_code();
      }
      // An operator_error's what() names the operator and the attempts made.
      std::cerr << "ftq run: " << q->name() << ": " << e.what() << "\n";
    } catch (const std::exception& e) {
      std::cerr << "ftq run: " << q->name() << ": " << e.what() << "\n";
    }
    return stopper.signal_number() != 0 ? stopper.exit_code() : exit_failed;
  }
  std::fprintf(stderr, "%s: %llu rows -> %s in %.3fs\n", q->name().c_str(),
               static_cast<unsigned long long>(result.rows), out.c_str(),
               std::chrono::duration<double>(result.elapsed).count());
  if (checkpointing) {
    const checkpoint_stats cs = q->checkpoints();
    std::fprintf(stderr, "%s: %llu checkpoints (%llu failed) as %s in %s\n", q->name().c_str(),
                 static_cast<unsigned long long>(cs.commits), static_cast<unsigned long long>(cs.failures),
                 q->checkpoint_id().c_str(), checkpoint_place.c_str());
  }
  return exit_ok;
}

}  // namespace ftq::cli
