#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/error.hpp>
#include <ftq/status.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "cluster/job_registry.hpp"
#include "cluster/worker.hpp"
#include "core/duration_text.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "status/status_json.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

using sys_clock = std::chrono::system_clock;

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

/// Changes of owner from one worker to another (not a first take, a release or an end).
std::size_t takeovers(const cluster_query& q) {
  return static_cast<std::size_t>(std::count_if(q.history.begin(), q.history.end(), [](const cluster_handover& h) {
    return !h.from.empty() && !h.to.empty() && h.from != h.to;
  }));
}

std::string lease_text(const cluster_query& q, sys_clock::time_point now) {
  if (q.owner.empty() || !q.lease_until) {
    return "-";
  }
  if (!q.lease_current) {
    return "lapsed";
  }
  return duration_text(std::chrono::duration_cast<std::chrono::nanoseconds>(*q.lease_until - now));
}

void print_table(const cluster_view& view, sys_clock::time_point now) {
  struct row {
    std::string cells[6];
  };
  std::vector<row> rows;
  rows.push_back({{"QUERY", "STATE", "OWNER", "LEASE", "EPOCH", "TAKEOVERS"}});
  for (const cluster_query& q : view.queries) {
    rows.push_back({{q.id, or_dash(q.state), or_dash(q.owner), lease_text(q, now),
                     q.last_epoch ? std::to_string(*q.last_epoch) : "-", std::to_string(takeovers(q))}});
  }
  std::size_t width[6] = {};
  for (const row& r : rows) {
    for (std::size_t c = 0; c < 6; ++c) {
      width[c] = std::max(width[c], r.cells[c].size());
    }
  }
  for (const row& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < 6; ++c) {
      line += r.cells[c];
      if (c + 1 < 6) {
        line.append(width[c] - r.cells[c].size() + 2, ' ');
      }
    }
    std::printf("%s\n", line.c_str());
  }
  for (const cluster_query& q : view.queries) {
    if (takeovers(q) == 0) {
      continue;
    }
    std::printf("\n%s:\n", q.id.c_str());
    for (const cluster_handover& h : q.history) {
      std::printf("  %s %s -> %s: %s\n", cluster::iso_utc(h.at).c_str(), or_dash(h.from).c_str(), or_dash(h.to).c_str(),
                  h.why.c_str());
    }
  }
}

}  // namespace

int cluster_status_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq status --checkpoint-store rados://POOL[/PREFIX] [--json] [QUERY]\n\n"
      "Shows the queries of a RADOS checkpoint store (docs/rados.md): state, owner, time left on\n"
      "the owner's lease, newest checkpoint epoch and takeovers, then each handover of the\n"
      "queries that were taken over. --json prints the same as JSON.\n\noptions");
  std::string store;
  std::string ceph_conf;
  std::string query;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("checkpoint-store", po::value(&store)->required(), "the store: rados://POOL[/PREFIX]")
      ("ceph-conf", po::value(&ceph_conf), "the cluster's ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ("json", "print JSON instead of a table")
      ("query", po::value(&query), "only this query (also the first positional argument)");
  // clang-format on
  po::positional_options_description positional;
  positional.add("query", 1);
  po::variables_map vm;
  rados::store_uri uri;
  auto check = [&] {
    try {
      uri = rados::parse_store_uri(store);
    } catch (const error& e) {
      throw po::error("--checkpoint-store: " + std::string(e.what()));
    }
  };
  if (auto stop = parse_flags("status", argc, argv, flags, vm, positional, check)) {
    return *stop;
  }

  boost::asio::io_context io(1);
  cluster_view view;
  view.store = uri.text();
  try {
    cluster::job_registry registry = cluster::job_registry::connect(io.get_executor(), uri, ceph_conf);
    std::exception_ptr failure;
    bool missing = false;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          std::vector<std::string> ids;
          if (query.empty()) {
            ids = co_await registry.list();
          } else {
            ids.push_back(query);
          }
          for (const std::string& id : ids) {
            cluster::job_status st;
            try {
              st = co_await registry.status(id);
            } catch (const io_error& e) {
              if (e.code() != std::errc::no_such_file_or_directory) {
                throw;
              }
              missing = !query.empty();
              continue;  // listed, then removed meanwhile
            }
            view.queries.push_back(cluster::to_cluster_query(st, sys_clock::now()));
          }
        },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) {
      std::rethrow_exception(failure);
    }
    if (missing) {
      std::cerr << "ftq status: no query " << query << " in " << view.store << "\n";
      return exit_failed;
    }
  } catch (const std::exception& e) {
    std::cerr << "ftq status: " << e.what() << "\n";
    return exit_failed;
  }
  if (vm.count("json")) {
    std::printf("%s\n", status::cluster_store_json(view).c_str());
  } else {
    print_table(view, sys_clock::now());
  }
  return exit_ok;
}

}  // namespace ftq::cli
