#include <cstdio>
#include <ctime>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "cli/commands.hpp"
#include "cli/flags.hpp"
#include "rados/connection.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

namespace {

std::string utc_time(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string human_bytes(std::uint64_t n) {
  char buf[32];
  if (n < 10 * 1024) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  } else if (n < 10ull * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(n) / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(n) / (1024.0 * 1024.0));
  }
  return buf;
}

std::string kind_text(const checkpoint_info& c) {
  return c.delta ? "delta<-" + std::to_string(c.parent_epoch) + " (base " + std::to_string(c.base_epoch) + ")"
                 : std::string("full");
}

}  // namespace

int checkpoints_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq checkpoints DIR [--verify] [--query ID] [--key-file F]\n"
      "       ftq checkpoints --checkpoint-store rados://POOL[/PREFIX] [--ceph-conf PATH] [...]\n\n"
      "Lists the checkpoints in DIR (written by `ftq run --checkpoint-dir DIR`), or in a Ceph RADOS\n"
      "pool (written with --checkpoint-store, by `ftq run` or `ftq worker`): query, epoch,\n"
      "time, size raw and stored, compression, encryption, I/O backend, full or delta. With\n"
      "--verify, checks every file's checksums (and AES-GCM tag, given the key) and exits 1 if\n"
      "any fails.\n\noptions");
  std::string dir;
  std::string store;
  std::string ceph_conf;
  std::string query;
  std::string key_file;
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("dir", po::value(&dir), "checkpoint directory (also the first positional argument)")
      ("checkpoint-store", po::value(&store), "a Ceph RADOS store instead of a directory: rados://POOL[/PREFIX]")
      ("ceph-conf", po::value(&ceph_conf), "with --checkpoint-store: the cluster's ceph.conf (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
      ("query", po::value(&query), "only this query's checkpoints")
      ("key-file", po::value(&key_file), "key to verify encrypted checkpoints with (else FTQ_CHECKPOINT_KEY)")
      ("verify", "verify every checkpoint");
  // clang-format on
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  std::string place = dir;
  auto check = [&] {
    if (dir.empty() == store.empty()) {
      throw po::error(dir.empty() ? "give a checkpoint directory or --checkpoint-store"
                                  : "give a checkpoint directory or --checkpoint-store, not both");
    }
    if (!store.empty()) {
      try {
        place = rados::parse_store_uri(store).text();
      } catch (const error& e) {
        throw po::error("--checkpoint-store: " + std::string(e.what()));
      }
    } else {
      place = dir;
      if (vm.count("ceph-conf")) {
        throw po::error("--ceph-conf needs --checkpoint-store");
      }
    }
  };
  if (auto stop = parse_flags("checkpoints", argc, argv, flags, vm, positional, check)) {
    return *stop;
  }
  if (store.empty() && !std::filesystem::is_directory(dir)) {
    std::cerr << "ftq checkpoints: " << dir << ": no such directory\n";
    return exit_failed;
  }
  const bool verify = vm.count("verify") > 0;

  boost::asio::io_context io(1);
  int code = exit_ok;
  try {
    checkpoint_options options;
    options.dir = dir;
    options.store = store.empty() ? std::string() : place;
    options.ceph_conf = ceph_conf;
    options.key_file = key_file;
    checkpoint_manager manager(io.get_executor(), options);
    std::vector<checkpoint_info> infos;
    std::vector<checkpoint_check> checks;
    std::exception_ptr failure;
    boost::asio::co_spawn(
        io,
        [&]() -> boost::asio::awaitable<void> {
          if (verify) {
            checks = co_await manager.verify(query);
          } else {
            infos = co_await manager.list(query);
          }
        },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) {
      std::rethrow_exception(failure);
    }
    if (verify) {
      for (const auto& c : checks) {
        infos.push_back(c.info);
      }
    }
    std::printf("%-28s %6s  %-20s  %-26s %10s %10s  %-5s %-4s %-8s%s\n", "query", "epoch", "time (UTC)", "kind", "raw",
                "stored", "codec", "enc", "backend", verify ? "  verify" : "");
    std::size_t failed = 0;
    for (std::size_t i = 0; i < infos.size(); ++i) {
      const checkpoint_info& c = infos[i];
      std::string status;
      if (verify) {
        const checkpoint_check& k = checks[i];
        if (k.error) {
          ++failed;
          status = "  FAILED: " + k.message;
        } else {
          status = k.message.empty() ? "  ok" : "  ok (" + k.message + ")";
        }
      }
      std::printf("%-28s %6llu  %-20s  %-26s %10s %10s  %-5s %-4s %-8s%s\n", c.query_id.c_str(),
                  static_cast<unsigned long long>(c.epoch), utc_time(c.created).c_str(), kind_text(c).c_str(),
                  human_bytes(c.raw_bytes).c_str(), human_bytes(c.stored_bytes).c_str(), c.compression.c_str(),
                  c.encrypted ? "yes" : "no", c.backend.c_str(), status.c_str());
    }
    std::fprintf(stderr, "%zu checkpoint files in %s (I/O backend %s: %s)\n", infos.size(), place.c_str(),
                 std::string(manager.backend()).c_str(), manager.backend_reason().c_str());
    if (verify) {
      std::fprintf(stderr, "%zu verified, %zu failed\n", infos.size() - failed, failed);
      code = failed > 0 ? exit_failed : exit_ok;
    }
  } catch (const std::exception& e) {
    std::cerr << "ftq checkpoints: " << e.what() << "\n";
    return exit_failed;
  }
  return code;
}

}  // namespace ftq::cli
