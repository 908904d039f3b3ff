#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cluster/job_registry.hpp"
#include "core/duration_text.hpp"
#include "inject/fault_plan.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

/// --wait-timeout expired before the query ended.
constexpr int exit_wait_timeout = 3;

/// 1-128 of [A-Za-z0-9._-], not "." or "..": it names the query's directory in the store.
bool valid_query_id(const std::string& id) {
  if (id.empty() || id.size() > 128 || id == "." || id == "..") {
    return false;
  }
  for (char c : id) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string random_hex8() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return buf;
}

std::string host_and_pid() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  return std::string(host) + ":" + std::to_string(::getpid());
}

}  // namespace

int submit_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq submit PLAN.json --data DIR --out RESULT.csv --checkpoint-store rados://POOL[/PREFIX]\n"
      "                  [options]\n\n"
      "Records a query in a RADOS checkpoint store for `ftq worker` processes to run (docs/rados.md)\n"
      "and prints its id on stdout. The data directory and the output path are made absolute: every\n"
      "worker must see them at the same paths. With --wait, waits for the query to end: on success\n"
      "makes sure the result file is there and exits 0; on failure prints why and exits 1; exits 3\n"
      "when --wait-timeout expires first.\n\noptions");
  std::string plan_path;
  std::string data_dir;
  std::string out;
  std::string store;
  std::string ceph_conf;
  std::string query_id;
  std::size_t batch_rows = 0;
  std::string interval_text;
  std::string inject;
  std::string wait_timeout_text;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("plan", po::value(&plan_path)->required(), "the JSON plan (also the first positional argument)")
      ("data", po::value(&data_dir)->required(), "directory that relative table paths resolve against (as every worker sees it)")
      ("out", po::value(&out)->required(), "result CSV file the result is delivered to (as every worker sees it)")
      ("checkpoint-store", po::value(&store)->required(), "the store the workers share: rados://POOL[/PREFIX]")
      ("ceph-conf", po::value(&ceph_conf), "the cluster's ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ("query-id", po::value(&query_id), "the query's id: 1-128 of [A-Za-z0-9._-] (default: PLAN-STEM-XXXXXXXX)")
      ("batch-rows", po::value(&batch_rows), "rows per batch (default: the worker's)")
      ("checkpoint-interval", po::value(&interval_text), "a checkpoint every DURATION (500ms, 2s, 1m); default: adaptive")
      ("inject", po::value(&inject), "inject faults wherever it runs, for tests and demos: a SPEC or @FILE.json (docs/fault-injection.md)")
      ("wait", "wait until the query ends; deliver its result if the file is missing")
      ("wait-timeout", po::value(&wait_timeout_text), "with --wait: give up after this long (exit 3)");
  // clang-format on
  po::positional_options_description positional;
  positional.add("plan", 1);
  po::variables_map vm;
  std::chrono::milliseconds interval{0};
  std::optional<std::chrono::milliseconds> wait_timeout;
  std::string inject_spec;
  rados::store_uri uri;
  auto check = [&] {
    try {
      uri = rados::parse_store_uri(store);
    } catch (const error& e) {
      throw po::error("--checkpoint-store: " + std::string(e.what()));
    }
    if (vm.count("query-id") && !valid_query_id(query_id)) {
      throw po::error("--query-id must be 1-128 of [A-Za-z0-9._-], not '" + query_id + "'");
    }
    if (vm.count("batch-rows") && batch_rows == 0) {
      throw po::error("--batch-rows must be at least 1");
    }
    if (vm.count("checkpoint-interval")) {
      interval = parse_duration_flag(interval_text, "--checkpoint-interval");
    }
    if (vm.count("wait-timeout")) {
      if (!vm.count("wait")) {
        throw po::error("--wait-timeout needs --wait");
      }
      wait_timeout = parse_duration_flag(wait_timeout_text, "--wait-timeout");
    }
    if (vm.count("inject")) {
      try {
        inject_spec = inject::fault_plan::from_argument(inject).describe();
      } catch (const error& e) {
        throw po::error("--inject: " + std::string(e.what()));
      }
    }
  };
  if (auto stop = parse_flags("submit", argc, argv, flags, vm, positional, check)) {
    return *stop;
  }

  std::ifstream in(plan_path, std::ios::binary);
  if (!in) {
    std::cerr << "ftq submit: " << plan_path << ": cannot read the plan file\n";
    return exit_usage;
  }
  std::stringstream text;
  text << in.rdbuf();
  cluster::job_spec spec;
  spec.plan_json = text.str();
  try {
    const plan p = parse_plan(spec.plan_json);
    spec.plan_name = p.name.empty() ? std::filesystem::path(plan_path).stem().string() : p.name;
  } catch (const plan_error& e) {
    std::cerr << "ftq submit: " << plan_path << ": " << e.what() << "\n";
    return exit_bad_plan;
  }
  if (query_id.empty()) {
    std::string stem = std::filesystem::path(plan_path).stem().string();
    if (!valid_query_id(stem + "-00000000")) {
      stem = "query";
    }
    query_id = stem + "-" + random_hex8();
  }
  spec.query_id = query_id;
  std::error_code ec;
  spec.data_dir = std::filesystem::absolute(data_dir, ec).lexically_normal().string();
  spec.output_path = std::filesystem::absolute(out, ec).lexically_normal().string();
  spec.batch_rows = batch_rows;
  spec.checkpoint_interval = interval;
  spec.inject = inject_spec;
  spec.submitted_by = host_and_pid();
  spec.submitted_at = std::chrono::system_clock::now();

  boost::asio::io_context io(1);
  int code = exit_ok;
  try {
    cluster::job_registry registry = cluster::job_registry::connect(io.get_executor(), uri, ceph_conf);
    const bool wait = vm.count("wait") > 0;
    std::exception_ptr failure;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          co_await registry.submit(spec);
          std::cout << spec.query_id << std::endl;
          if (!wait) {
            co_return;
          }
          const auto deadline = std::chrono::steady_clock::now() + wait_timeout.value_or(std::chrono::hours(24 * 365));
          boost::asio::steady_timer timer(io);
          for (;;) {
            const cluster::job_status st = co_await registry.status(spec.query_id);
            if (st.owner.state == "succeeded") {
              const bool wrote = co_await registry.deliver(spec.query_id);
              std::cerr << "ftq submit: " << spec.query_id
                        << " succeeded: " << (st.result ? std::to_string(st.result->rows) : std::string("?"))
                        << " rows -> " << spec.output_path << (wrote ? " (delivered now)" : "") << "\n";
              co_return;
            }
            if (st.owner.state == "failed") {
              std::cerr << "ftq submit: " << spec.query_id << " failed: " << st.error << "\n";
              code = exit_failed;
              co_return;
            }
            if (std::chrono::steady_clock::now() >= deadline) {
              std::cerr << "ftq submit: " << spec.query_id << " has not ended within " << wait_timeout_text
                        << " (state " << (st.owner.state.empty() ? "none" : st.owner.state) << ")\n";
              code = exit_wait_timeout;
              co_return;
            }
            timer.expires_after(std::min<std::chrono::steady_clock::duration>(
                std::chrono::milliseconds(200), deadline - std::chrono::steady_clock::now()));
            (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
          }
        },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) {
      std::rethrow_exception(failure);
    }
  } catch (const std::exception& e) {
    std::cerr << "ftq submit: " << e.what() << "\n";
    return exit_failed;
  }
  return code;
}

}  // namespace ftq::cli
