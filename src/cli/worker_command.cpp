#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/error.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cli/graceful_stop.hpp"
#include "cli/status_option.hpp"
#include "cluster/worker.hpp"
#include "rados/connection.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

int worker_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq worker --checkpoint-store rados://POOL[/PREFIX] [options]\n\n"
      "Runs the queries `ftq submit` records in a RADOS checkpoint store, sharing them with every\n"
      "other worker of the store (docs/rados.md): every --poll it takes the lease of each queued\n"
      "query, and of each running one whose owner's lease lapsed, resumes it from its newest\n"
      "checkpoint, runs it with checkpoints into the store, commits the result exactly once and\n"
      "writes it to the job's output file. One line per event on stderr. SIGINT or SIGTERM stops\n"
      "its queries after a final checkpoint and releases their leases (exit 0).\n\noptions");
  std::string store;
  std::string ceph_conf;
  std::string name;
  std::string lease_text = "3s";
  std::string renew_text = "1s";
  std::string poll_text = "200ms";
  std::size_t max_queries = 1;
  std::string idle_text;
  status_flags status;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("checkpoint-store", po::value(&store)->required(), "the store whose queries to run: rados://POOL[/PREFIX]")
      ("ceph-conf", po::value(&ceph_conf), "the cluster's ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ("name", po::value(&name), "this worker's id in leases, history and logs (default: HOST-PID-XXXX)")
      ("lease", po::value(&lease_text)->default_value("3s"), "lease duration: how long a dead worker's queries wait before another takes them over")
      ("renew", po::value(&renew_text)->default_value("1s"), "how often the leases held are renewed (shorter than --lease)")
      ("poll", po::value(&poll_text)->default_value("200ms"), "how often the store's index is read for queries to run")
      ("max-queries", po::value(&max_queries)->default_value(1), "queries run at once")
      ("exit-when-idle", po::value(&idle_text), "exit once nothing was left to run for this long (default: run until SIGINT/SIGTERM)");
  // clang-format on
  add_status_flags(flags, status, "default 0");
  po::variables_map vm;
  cluster::worker_options options;
  auto check = [&] {
    check_status_flags(status);
    try {
      (void)rados::parse_store_uri(store);
    } catch (const error& e) {
      throw po::error("--checkpoint-store: " + std::string(e.what()));
    }
    options.lease.duration = parse_duration_flag(lease_text, "--lease");
    options.lease.renew_every = parse_duration_flag(renew_text, "--renew");
    if (options.lease.renew_every >= options.lease.duration) {
      throw po::error("--renew must be shorter than --lease");
    }
    options.poll = parse_duration_flag(poll_text, "--poll");
    if (max_queries < 1) {
      throw po::error("--max-queries must be at least 1");
    }
    if (vm.count("exit-when-idle")) {
      options.exit_when_idle = parse_duration_flag(idle_text, "--exit-when-idle");
    }
  };
  if (auto stop = parse_flags("worker", argc, argv, flags, vm, {}, check)) {
    return *stop;
  }
  options.store = store;
  options.ceph_conf = ceph_conf;
  options.name = name;
  options.max_queries = max_queries;

  boost::asio::io_context io(1);
  std::unique_ptr<cluster::worker> w;
  try {
    w = std::make_unique<cluster::worker>(io, options);
  } catch (const std::exception& e) {
    std::cerr << "ftq worker: " << e.what() << "\n";
    return exit_failed;
  }
  std::unique_ptr<status_endpoint> endpoint;
  if (!status.address.empty()) {
    try {
      endpoint = std::make_unique<status_endpoint>(io, w->query_engine(), status, std::chrono::milliseconds(0),
                                                   [](std::string) {});
    } catch (const std::exception& e) {
      std::cerr << "ftq worker: " << e.what() << "\n";
      return exit_usage;
    }
    std::string url = endpoint->url();
    if (!url.empty() && url.back() == '/') {
      url.pop_back();
    }
    w->log("listening on " + url);
  }
  graceful_stop stopper(
      io, [&w] { w->stop(); }, std::chrono::seconds(10), [&w](std::string line) { w->log(line); });
  std::exception_ptr failure;
  boost::asio::co_spawn(io, w->run(), [&](std::exception_ptr e) {
    failure = e;
    stopper.finish();
    if (endpoint) {
      endpoint->queries_done();
    }
  });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      std::cerr << "ftq worker: " << e.what() << "\n";
    }
    return exit_failed;
  }
  return exit_ok;
}

}  // namespace ftq::cli
