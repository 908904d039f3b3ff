#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/progress_display.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

int run_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq run PLAN.json --data DIR --out RESULT.csv [options]\n\n"
      "Runs a JSON plan (format: docs/plan-format.md) and writes its result as CSV with a\n"
      "header. Relative csv_scan paths resolve against --data. The result file appears only\n"
      "when the query succeeds.\n\noptions");
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
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("plan", po::value(&plan_path)->required(), "the JSON plan (also the first positional argument)")
      ("data", po::value(&data_dir)->default_value("."), "directory that relative table paths resolve against")
      ("out", po::value(&out), "result CSV file (required unless --explain)")
      ("batch-rows", po::value(&batch_rows)->default_value(default_batch_rows), "rows per batch")
      ("progress", po::value(&progress)->default_value("auto"), "progress bar on stderr: auto (when stderr is a terminal), always, never")
      ("explain", "print the compiled operator tree and exit")
      ("checkpoint-dir", po::value(&checkpoint_dir), "take checkpoints into this directory (created 0700)")
      ("checkpoint-every", po::value(&checkpoint_every), "a checkpoint every ROWS rows scanned")
      ("checkpoint-interval", po::value(&checkpoint_interval), "a checkpoint every DURATION (500ms, 2s, 1m); default with --checkpoint-dir: every 1000000 rows")
      ("encrypt-key-file", po::value(&key_file), "encrypt checkpoints with AES-256-GCM; key file of 32 bytes or 64 hex digits, mode 0600 (else FTQ_CHECKPOINT_KEY)")
      ("compression", po::value(&compression)->default_value("zstd"), "checkpoint compression: zstd, lz4 or none")
      ("compression-level", po::value(&compression_level)->default_value(1), "zstd level (1-19)")
      ("keep", po::value(&keep)->default_value(2), "complete checkpoints kept per query")
      ("keep-checkpoints", "leave the last --keep checkpoints in place after success");
  // clang-format on
  po::positional_options_description positional;
  positional.add("plan", 1);
  po::variables_map vm;
  auto check = [&] {
    if (!vm.count("explain") && out.empty()) {
      throw po::error("the option '--out' is required");
    }
    check_progress_mode(progress);
    if (checkpoint_dir.empty() && (vm.count("checkpoint-every") || vm.count("checkpoint-interval") ||
                                   vm.count("encrypt-key-file") || vm.count("keep-checkpoints"))) {
      throw po::error("checkpoint options need --checkpoint-dir");
    }
    if (vm.count("checkpoint-every") && vm.count("checkpoint-interval")) {
      throw po::error("give --checkpoint-every or --checkpoint-interval, not both");
    }
    if (vm.count("checkpoint-every") && checkpoint_every == 0) {
      throw po::error("--checkpoint-every must be at least 1");
    }
    if (vm.count("checkpoint-interval")) {
      (void)parse_duration(checkpoint_interval, "--checkpoint-interval");
    }
    (void)parse_compression_flag(compression);
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

  boost::asio::io_context io(1);
  engine_options options;
  options.data_dir = data_dir;
  options.batch_rows = batch_rows;
  engine eng(io.get_executor(), options);
  query_ptr q;
  try {
    plan p = parse_plan(text.str());
    if (p.name.empty())
      p.name = std::filesystem::path(plan_path).stem().string();
    query_options qo;
    qo.output_csv = out;
    if (!checkpoint_dir.empty()) {
      checkpoint_options co;
      co.dir = checkpoint_dir;
      co.key_file = key_file;
      co.compression = parse_compression_flag(compression);
      co.compression_level = compression_level;
      co.keep = keep;
      co.retain_on_success = vm.count("keep-checkpoints") > 0;
      co.log = [](std::string_view line) { std::cerr << "ftq run: " << line << "\n"; };
      qo.checkpoints.manager = std::make_shared<checkpoint_manager>(io.get_executor(), co);
      qo.checkpoints.every_rows = checkpoint_every;
      if (!checkpoint_interval.empty()) {
        qo.checkpoints.interval = parse_duration(checkpoint_interval, "--checkpoint-interval");
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

  const bool show = show_progress(progress);
  progress_display display(show);
  display.add(q->name(), q);
  std::exception_ptr failure;
  query_result result;
  boost::asio::co_spawn(io, eng.run(q), [&](std::exception_ptr e, query_result r) {
    failure = e;
    result = std::move(r);
  });
  boost::asio::co_spawn(io, display.run(), boost::asio::detached);
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::cerr << "ftq run: " << q->name() << ": " << e.what() << "\n";
      return exit_failed;
    }
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
