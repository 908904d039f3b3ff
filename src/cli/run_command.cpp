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

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/graceful_stop.hpp"
#include "cli/progress_display.hpp"
#include "cli/recovery_summary.hpp"
#include "cli/status_option.hpp"
#include "inject/fault_plan.hpp"

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

}  // namespace

int run_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq run PLAN.json --data DIR --out RESULT.csv [options]\n\n"
      "Runs a JSON plan (format: docs/plan-format.md) and writes its result as CSV with a\n"
      "header. Relative csv_scan paths resolve against --data. The result file appears only\n"
      "when the query succeeds. Failures are retried or recovered from the last checkpoint.\n"
      "With --checkpoint-dir, a run that was killed or stopped resumes from its newest valid\n"
      "checkpoint when the same command runs again (--fresh starts over). SIGINT or SIGTERM\n"
      "stops it after a final checkpoint (exit 130 or 143); a second signal exits at once.\n\noptions");
  std::string plan_path;
  std::string data_dir;
  std::string out;
  std::size_t batch_rows = default_batch_rows;
  std::string progress = "auto";
  std::string checkpoint_dir;
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
  auto check = [&] {
    check_status_flags(status);
    if (!vm.count("explain") && out.empty()) {
      throw po::error("the option '--out' is required");
    }
    check_progress_mode(progress);
    if (checkpoint_dir.empty() && (vm.count("checkpoint-every") || vm.count("checkpoint-interval") ||
                                   vm.count("encrypt-key-file") || vm.count("keep-checkpoints") || vm.count("fresh"))) {
      throw po::error("checkpoint options need --checkpoint-dir");
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
      if (faults->checkpoint_faults() && checkpoint_dir.empty()) {
        throw po::error("--inject: checkpoint rules need --checkpoint-dir");
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
  try {
    plan p = parse_plan(text.str());
    if (p.name.empty())
      p.name = std::filesystem::path(plan_path).stem().string();
    query_options qo;
    qo.output_csv = out;
    qo.priority = priority;
    qo.recovery = policy;
    if (!checkpoint_dir.empty()) {
      checkpoint_options co;
      co.dir = checkpoint_dir;
      co.key_file = key_file;
      co.compression = parse_compression_flag(compression);
      co.compression_level = compression_level;
      co.keep = keep;
      co.retain_on_success = vm.count("keep-checkpoints") > 0;
      co.log = [&display](std::string_view line) { display.note("ftq run: " + std::string(line)); };
      if (faults) {
        co.faults = faults->checkpoint_faults();
      }
      qo.checkpoints.manager = std::make_shared<checkpoint_manager>(io.get_executor(), co);
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
  boost::asio::co_spawn(io, eng.run(q), [&](std::exception_ptr e, query_result r) {
    failure = e;
    result = std::move(r);
    stopper.finish();
    if (endpoint) {
      endpoint->queries_done();
    }
  });
  bool announced = false;
  if (!checkpoint_dir.empty()) {
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
        std::cerr << (checkpoint_dir.empty() ? "ftq: stopped (without --checkpoint-dir a rerun starts over)\n"
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
  if (!checkpoint_dir.empty()) {
    const checkpoint_stats cs = q->checkpoints();
    std::fprintf(stderr, "%s: %llu checkpoints (%llu failed) as %s in %s\n", q->name().c_str(),
                 static_cast<unsigned long long>(cs.commits), static_cast<unsigned long long>(cs.failures),
                 q->checkpoint_id().c_str(), checkpoint_dir.c_str());
  }
  return exit_ok;
}

}  // namespace ftq::cli
