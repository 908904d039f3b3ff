#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "cli/child_process.hpp"
#include "cli/commands.hpp"
#include "cli/embedded_file.hpp"
#include "cli/flags.hpp"
#include "cli/progress_display.hpp"
#include "cli/recovery_summary.hpp"
#include "cli/status_option.hpp"
#include "inject/fault_plan.hpp"
#include "tools/gen.hpp"
#include "verify/result_compare.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::filesystem::path& p, std::string_view text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) {
    throw error(errc::internal, "cannot write " + p.string());
  }
}

// Regenerates the data only when DIR/PARAMS does not already describe the same arguments.
void ensure_data(const std::filesystem::path& dir, std::uint64_t rows, std::int64_t seed) {
  const std::string want = "rows=" + std::to_string(rows) + " seed=" + std::to_string(seed) + " ";
  if (std::filesystem::exists(dir / "lineitem.csv") && read_file(dir / "PARAMS").rfind(want, 0) == 0) {
    std::fprintf(stderr, "demo: using the data in %s\n", dir.c_str());
    return;
  }
  tools::gen_options g;
  g.rows = rows;
  g.seed = seed;
  g.out_dir = dir;
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = tools::generate(g);
  std::fprintf(stderr, "demo: generated %llu lineitem and %llu orders rows in %s (%.2fs)\n",
               static_cast<unsigned long long>(r.lineitem_rows), static_cast<unsigned long long>(r.orders_rows),
               dir.c_str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

std::string error_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  }
  return "unknown error";
}

/// The demo's faults, seeded and deterministic: throws of both classes in four queries (each
/// at a batch its scan reaches midway), one stall long enough that only the stall detector ends
/// it early, a few random transient throws, and one failed checkpoint write. `batches` is how
/// many batches a lineitem scan produces.
std::string default_faults(std::int64_t seed, std::uint64_t batches) {
  const auto at = [&](std::uint64_t num, std::uint64_t den) {
    return std::to_string(std::max<std::uint64_t>(1, batches * num / den));
  };
  return "seed=" + std::to_string(seed) + ";throw:query=q1,op=filter,batch=" + at(1, 3) +
         ",class=transient;throw:query=join,op=hash_join,batch=" + at(1, 2) +
         ";throw:query=topk,op=csv_scan,batch=" + at(1, 2) +
         ",times=2,class=transient;throw:query=q6,op=filter,batch=" + at(2, 3) +
         ";stall:query=distinct,op=csv_scan,batch=" + at(1, 2) +
         ",for=3s;throw:p=0.02,max=2,class=transient;checkpoint:n=5,errno=EIO";
}

/// "12.3 kB", "4.56 MB".
std::string human_bytes(std::uint64_t b) {
  char buf[32];
  const double v = static_cast<double>(b);
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f MB", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1f kB", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  }
  return buf;
}

struct demo_query {
  std::string name;
  std::string plan_text;
  plan p;
  query_ptr faulty;
  std::string error;  // the faulty run's, or the fault-free run's
  std::uint64_t rows = 0;
  // Filled in after the runs.
  std::uint64_t injected = 0;
  fault_tolerance_stats ft;
  checkpoint_stats cs;
  std::string same = "-";    // identical to the fault-free run: yes, NO
  std::string oracle = "-";  // matches the embedded expected answer
};

// The crash and resume: `ftq run` in a child process that SIGKILLs itself midway, then the same
// command without the fault.
struct crash_report {
  bool ok = false;
  std::string line;  // for the report
};

crash_report crash_and_resume(const std::filesystem::path& work, const demo_query& q, const std::string& data,
                              std::size_t batch_rows, std::uint64_t every_rows, const std::string& crash_rule) {
  crash_report r;
  const auto dir = work / "crash";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto plan_path = dir / (q.name + ".json");
  write_file(plan_path, q.plan_text);
  const auto out = dir / (q.name + ".csv");
  const std::vector<std::string> command{"run",
                                         plan_path.string(),
                                         "--data",
                                         data,
                                         "--out",
                                         out.string(),
                                         "--checkpoint-dir",
                                         (dir / "checkpoints").string(),
                                         "--checkpoint-every",
                                         std::to_string(every_rows),
                                         "--batch-rows",
                                         std::to_string(batch_rows),
                                         "--progress",
                                         "never"};
  std::vector<std::string> crashing = command;
  crashing.insert(crashing.end(), {"--inject", crash_rule});
  std::fprintf(stderr, "demo: crash: ftq run %s ... --inject %s (in a child process)\n", q.name.c_str(),
               crash_rule.c_str());
  const child_outcome first = run_self(crashing, dir / "crashed.log");
  if (first.signal != SIGKILL) {
    r.line = "the child was not killed (exit " + std::to_string(first.exit_code) + "):\n" + first.log;
    return r;
  }
  std::size_t checkpoints = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "checkpoints")) {
    checkpoints += e.path().extension() == ".ckpt" ? 1 : 0;
  }
  const bool result_hidden = !std::filesystem::exists(out);
  std::fprintf(stderr, "demo: crash: killed by SIGKILL with %zu checkpoint files on disk and %s; running it again\n",
               checkpoints, result_hidden ? "no result file" : "A RESULT FILE");
  const child_outcome again = run_self(command, dir / "resumed.log");
  if (again.exit_code != 0) {
    r.line = "the rerun failed (exit " + std::to_string(again.exit_code) + "):\n" + again.log;
    return r;
  }
  const auto at = again.log.find("ftq: resuming ");
  std::string epoch;
  if (at != std::string::npos) {
    const auto e = again.log.find("epoch ", at);
    epoch = again.log.substr(e + 6, again.log.find('\n', e) - e - 6);
  }
  const bool same = read_file(out) == read_file(work / "fault-free" / (q.name + ".csv"));
  // With a checkpoint on disk the rerun must resume from it, not start over.
  const bool resumed_as_expected = checkpoints == 0 || !epoch.empty();
  r.ok = result_hidden && same && resumed_as_expected;
  r.line = q.name + " killed itself (" + crash_rule + ") with " + std::to_string(checkpoints) +
           " checkpoint files on disk; the same command " +
           (epoch.empty() ? std::string("started over") : "resumed from checkpoint epoch " + epoch) +
           "; result = fault-free: " + (same ? "yes" : "NO") +
           (resumed_as_expected ? "" : " (NO RESUME though a checkpoint was there)") +
           (result_hidden ? "" : " (the killed run left a result file)");
  return r;
}

}  // namespace

int demo_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq demo [--rows N] [--seed S] [--dir DIR]\n\n"
      "Generates a data set and runs the five example queries (q1, q6, join, topk, distinct) at\n"
      "once on one single-threaded io_context, with progress bars, checkpoints and injected\n"
      "failures: operator throws of both classes, a stall the stall detector must end, a failed\n"
      "checkpoint write. Then one query runs in a child process that kills itself (SIGKILL)\n"
      "midway and is resumed by the same command. A table shows, per query, the faults, their\n"
      "recoveries and checkpoints, and whether the result equals a fault-free run (and, with the\n"
      "default --rows and --seed, the oracle's answer compiled into ftq). Exits 1 if any differs.\n"
      "With --status, the status endpoint and its dashboard serve the run, and the final state\n"
      "after the summary until --status-linger ends or Ctrl-C.\n\n"
      "options");
  std::uint64_t rows = 100000;
  std::int64_t seed = 42;
  std::string dir;
  std::size_t batch_rows = default_batch_rows;
  std::string progress = "auto";
  std::string inject;
  status_flags status;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("rows", po::value(&rows)->default_value(100000), "lineitem rows to generate")
      ("seed", po::value(&seed)->default_value(42), "generator seed, also the fault plan's")
      ("dir", po::value(&dir), "working directory for data and results (default: $TMPDIR/ftq-demo-ROWS-SEED)")
      ("batch-rows", po::value(&batch_rows)->default_value(default_batch_rows), "rows per batch")
      ("progress", po::value(&progress)->default_value("auto"), "progress bars: auto, always, never")
      ("inject", po::value(&inject), "replace the demo's faults by this SPEC or @FILE.json (docs/fault-injection.md)");
  // clang-format on
  add_status_flags(flags, status, "default 1h: look at the dashboard, Ctrl-C when done");
  po::variables_map vm;
  std::shared_ptr<inject::fault_plan> faults;
  auto check = [&] {
    check_status_flags(status);
    if (rows < 1) {
      throw po::error("--rows must be >= 1");
    }
    if (batch_rows < 1) {
      throw po::error("--batch-rows must be >= 1");
    }
    check_progress_mode(progress);
    const std::uint64_t batches = (rows + batch_rows - 1) / batch_rows;
    try {
      faults = std::make_shared<inject::fault_plan>(vm.count("inject")
                                                        ? inject::fault_plan::from_argument(inject)
                                                        : inject::fault_plan::parse(default_faults(seed, batches)));
    } catch (const error& e) {
      throw po::error("--inject: " + std::string(e.what()));
    }
  };
  if (auto stop = parse_flags("demo", argc, argv, flags, vm, {}, check)) {
    return *stop;
  }
  std::filesystem::path work = dir;
  if (work.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    work = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
           ("ftq-demo-" + std::to_string(rows) + "-" + std::to_string(seed));
  }
  const auto data = work / "data";
  try {
    std::filesystem::create_directories(work / "faulty");
    std::filesystem::create_directories(work / "fault-free");
    ensure_data(data, rows, seed);
  } catch (const std::exception& e) {
    std::cerr << "ftq demo: " << e.what() << "\n";
    return exit_failed;
  }

  std::vector<demo_query> queries;
  for (const auto& f : example_plans()) {
    demo_query q;
    q.name = std::string(f.name);
    q.plan_text = std::string(f.content);
    try {
      q.p = parse_plan(f.content);
    } catch (const plan_error& e) {
      std::cerr << "ftq demo: embedded plan " << q.name << ": " << e.what() << "\n";
      return exit_failed;
    }
    q.p.name = q.name;
    queries.push_back(std::move(q));
  }
  // Every query checkpoints about eight times: often enough that a failure costs little.
  const std::uint64_t every_rows = std::max<std::uint64_t>(rows / 8, 1);
  const std::uint64_t batches = (rows + batch_rows - 1) / batch_rows;

  // The reference: each query alone, without faults or checkpoints.
  const auto t_ref = std::chrono::steady_clock::now();
  for (auto& q : queries) {
    boost::asio::io_context io(1);
    engine_options options;
    options.data_dir = data;
    options.batch_rows = batch_rows;
    engine eng(io.get_executor(), options);
    query_options qo;
    qo.output_csv = work / "fault-free" / (q.name + ".csv");
    boost::asio::co_spawn(io, eng.execute(q.p, qo), [&](std::exception_ptr e, query_result) {
      if (e) {
        q.error = "fault-free run: " + error_text(e);
      }
    });
    io.run();
  }
  std::fprintf(stderr, "demo: fault-free reference runs, one after another: %.2fs\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_ref).count());
  std::fprintf(stderr, "demo: injecting %s\n", faults->describe().c_str());

  // All five at once on one thread, with faults and checkpoints.
  const auto t_faulty = std::chrono::steady_clock::now();
  // Destroyed in reverse: the status endpoint, then the queries (held by the display) before the
  // engine, all before io. They live to the end: the endpoint serves the finished queries' state
  // after the summary (--status-linger).
  boost::asio::io_context io(1);
  engine_options options;
  options.data_dir = data;
  options.batch_rows = batch_rows;
  options.fault_tolerance.faults = faults;
  engine eng(io.get_executor(), options);
  progress_display display(show_progress(progress));
  std::shared_ptr<checkpoint_manager> manager;
  std::unique_ptr<status_endpoint> endpoint;
  {
    if (!status.address.empty()) {
      try {
        endpoint = std::make_unique<status_endpoint>(io, eng, status, std::chrono::hours(1),
                                                     [](std::string line) { std::cerr << "demo: " << line << "\n"; });
      } catch (const std::exception& e) {
        std::cerr << "ftq demo: " << e.what() << "\n";
        return exit_usage;
      }
    }
    try {
      checkpoint_options co;
      co.dir = work / "checkpoints";
      co.faults = faults->checkpoint_faults();
      co.log = [&display](std::string_view line) { display.note("demo: " + std::string(line)); };
      manager = std::make_shared<checkpoint_manager>(io.get_executor(), co);
      for (auto& q : queries) {
        query_options qo;
        qo.output_csv = work / "faulty" / (q.name + ".csv");
        qo.checkpoints.manager = manager;
        qo.checkpoints.every_rows = every_rows;
        qo.checkpoints.fresh = true;  // a demo interrupted earlier must not change this one
        q.faulty = eng.prepare(q.p, qo);
        display.add(q.name, q.faulty);
      }
    } catch (const std::exception& e) {
      std::cerr << "ftq demo: " << e.what() << "\n";
      return exit_failed;
    }
    // The queries and the display; with a status endpoint io.run() would not return by itself,
    // so the last of them stops it (the endpoint resumes serving after the summary).
    std::size_t remaining = queries.size() + 1;
    const auto one_done = [&] {
      if (--remaining == 0 && endpoint) {
        io.stop();
      }
    };
    for (auto& q : queries) {
      boost::asio::co_spawn(io, eng.run(q.faulty), [&q, &one_done](std::exception_ptr e, query_result r) {
        q.rows = r.rows;
        if (e && q.error.empty()) {
          q.error = error_text(e);
        }
        one_done();
      });
    }
    boost::asio::co_spawn(io, display.run(), [&one_done](std::exception_ptr) { one_done(); });
    io.run();
    for (auto& q : queries) {
      q.ft = q.faulty->fault_tolerance();
      q.cs = q.faulty->checkpoints();
      const auto c = faults->injected(q.name);
      q.injected = c.throws + c.stalls + q.cs.failures;
      q.faulty.reset();
    }
  }
  std::fprintf(stderr, "demo: the five queries at once with faults: %.2fs\n",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t_faulty).count());

  const bool oracle_data = rows == 100000 && seed == 42;
  for (auto& q : queries) {
    if (!q.error.empty())
      continue;
    const std::string got = read_file(work / "faulty" / (q.name + ".csv"));
    q.same = got == read_file(work / "fault-free" / (q.name + ".csv")) ? "yes" : "NO";
    if (oracle_data) {
      for (const auto& f : expected_100k()) {
        if (f.name == q.name) {
          const auto r = verify::compare_csv_text(got, f.content);
          q.oracle = r.equal ? "yes" : "NO: " + (r.problems.empty() ? std::string("?") : r.problems.front());
        }
      }
    }
  }

  // The crash: the join, killed as its probe is halfway through.
  crash_report crash;
  const auto join = std::find_if(queries.begin(), queries.end(), [](const demo_query& q) { return q.name == "join"; });
  if (join != queries.end() && join->error.empty()) {
    try {
      crash = crash_and_resume(work, *join, data.string(), batch_rows, every_rows,
                               "crash:op=hash_join,batch=" + std::to_string(std::max<std::uint64_t>(1, batches / 2)));
    } catch (const std::exception& e) {
      crash.line = e.what();
    }
  } else {
    crash.line = "not run: the join failed";
  }

  bool all_ok = crash.ok;
  std::printf("\n%-9s %6s %7s %9s %6s %11s %21s %10s  %-10s %s\n", "query", "faults", "retries", "recovered", "stalls",
              "checkpoints", "last raw/stored", "lost", "=fault-free",
              oracle_data ? "oracle" : "oracle (only for --rows 100000 --seed 42)");
  for (const auto& q : queries) {
    if (!q.error.empty()) {
      std::printf("%-9s FAILED: %s\n", q.name.c_str(), q.error.c_str());
      all_ok = false;
      continue;
    }
    const std::string sizes = human_bytes(q.cs.last_raw_bytes) + "/" + human_bytes(q.cs.last_stored_bytes);
    std::printf("%-9s %6llu %7llu %9llu %6llu %11llu %21s %10s  %-10s %s\n", q.name.c_str(),
                static_cast<unsigned long long>(q.injected), static_cast<unsigned long long>(q.ft.retries),
                static_cast<unsigned long long>(q.ft.operator_restores + q.ft.pipeline_restarts),
                static_cast<unsigned long long>(q.ft.stalls), static_cast<unsigned long long>(q.cs.commits),
                sizes.c_str(), seconds_text(time_lost(q.ft)).c_str(), q.same.c_str(), q.oracle.c_str());
    all_ok = all_ok && q.same == "yes" && (!oracle_data || q.oracle == "yes");
  }
  std::printf(
      "\nfaults: operator throws, stalls and failed checkpoint writes injected into the query; retries: failures "
      "retried in place;\nrecovered: operators restored or pipelines restarted from a checkpoint; lost: time in "
      "backoff and restoring state.\n");
  std::printf("\ncrash and resume: %s\n", crash.line.c_str());
  std::printf("\nresults: %s/faulty/*.csv\n%s\n", work.c_str(),
              all_ok ? "demo: every result equals the fault-free run" : "demo: VERIFICATION FAILED");
  if (endpoint) {
    std::fflush(stdout);
    endpoint->queries_done();
    io.restart();
    io.run();
  }
  return all_ok ? exit_ok : exit_failed;
}

}  // namespace ftq::cli
