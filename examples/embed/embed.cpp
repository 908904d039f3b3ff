// An Asio service that embeds ftq. One io_context, run by one thread, carries the engine, the
// queries, their checkpoint I/O and the status endpoint: nothing here needs a lock.
//
//   embed [--port N] [--checkpoint-dir DIR] DATA_DIR PLAN.json...
//
// Runs the plans side by side (relative csv_scan paths resolve against DATA_DIR), prints each
// result's row count, and serves the status endpoint on 127.0.0.1:N (0, the default, picks a
// free port) until SIGINT or SIGTERM. A query still running then stops after a final
// checkpoint, and the same command resumes it. Exits 1 if a query failed.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>
#include <ftq/status_server.hpp>

namespace asio = boost::asio;

namespace {

ftq::plan read_plan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error(path + ": cannot read the plan");
  }
  std::stringstream text;
  text << in.rdbuf();
  ftq::plan p = ftq::parse_plan(text.str());
  if (p.name.empty()) {
    p.name = path;  // names its checkpoints and its line on the dashboard
  }
  return p;
}

// Arguments by value: the coroutine runs after the caller's loop has moved on.
asio::awaitable<void> run_query(ftq::engine& eng, ftq::plan p, ftq::query_options options, int& failed) {
  const std::string name = p.name;
  try {
    const ftq::query_result r = co_await eng.execute(std::move(p), std::move(options));
    std::printf("%s: %llu rows in %.3fs\n", name.c_str(), static_cast<unsigned long long>(r.rows),
                std::chrono::duration<double>(r.elapsed).count());
  } catch (const ftq::error& e) {
    if (e.code() == ftq::errc::query_cancelled) {
      std::printf("%s: stopped; run again to resume from its checkpoint\n", name.c_str());
    } else {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      ++failed;
    }
  }
  std::fflush(stdout);  // a supervisor reading a pipe sees each result as it comes
}

// The only shutdown path: stop the work, stop serving, and let io_context::run() return once
// the queries' final checkpoints are written. No io_context::stop(): that would abandon them.
asio::awaitable<void> stop_on_signal(ftq::engine& eng, ftq::status_server& server) {
  asio::signal_set signals(co_await asio::this_coro::executor, SIGINT, SIGTERM);
  const int number = co_await signals.async_wait(asio::use_awaitable);
  std::fprintf(stderr, "embed: signal %d, shutting down\n", number);
  eng.stop_all();
  server.stop();
}

}  // namespace

int main(int argc, char** argv) try {
  std::uint16_t port = 0;
  std::string checkpoint_dir = "ftq-checkpoints";
  std::vector<std::string> args(argv + 1, argv + argc);
  while (args.size() >= 2 && (args[0] == "--port" || args[0] == "--checkpoint-dir")) {
    if (args[0] == "--port") {
      port = static_cast<std::uint16_t>(std::stoul(args[1]));
    } else {
      checkpoint_dir = args[1];
    }
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.size() < 2) {
    std::fprintf(stderr, "usage: embed [--port N] [--checkpoint-dir DIR] DATA_DIR PLAN.json...\n");
    return 2;
  }
  std::vector<ftq::plan> plans;
  for (auto it = args.begin() + 1; it != args.end(); ++it) {
    plans.push_back(read_plan(*it));
  }

  asio::io_context io(1);  // run by one thread: Asio can skip its locking
  ftq::engine_options eo;
  eo.data_dir = args[0];
  ftq::engine eng(io.get_executor(), eo);
  // One manager for all queries: each files its checkpoints in a directory of its own.
  ftq::checkpoint_options co;
  co.dir = checkpoint_dir;
  auto checkpoints = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), co);
  eng.set_io_backend(std::string(checkpoints->backend()), checkpoints->backend_reason());

  ftq::status_server_options so;
  so.port = port;
  so.token = ftq::load_status_token({});  // FTQ_STATUS_TOKEN, if set, turns the POSTs on
  ftq::status_server server(eng, io.get_executor(), so);
  server.start();
  std::printf("status: %s\n", server.url().c_str());
  std::fflush(stdout);

  int failed = 0;
  for (ftq::plan& p : plans) {
    ftq::query_options qo;
    qo.checkpoints.manager = checkpoints;  // adaptive interval (Daly's formula): no tuning
    asio::co_spawn(io, run_query(eng, std::move(p), qo, failed), asio::detached);
  }
  asio::co_spawn(io, stop_on_signal(eng, server), asio::detached);
  io.run();  // returns once the server has stopped and the queries have ended
  return failed == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "embed: %s\n", e.what());
  return 1;
}
