// ftq-checkpoint-bench: checkpoints of a real query's state, end to end.
//   ftq-checkpoint-bench --data DIR [--plan P] [--every ROWS] [--stop-at FRACTION] [--checkpoint-dir D]
// Runs a plan (by default bench/plans/orderkey_agg.json: GROUP BY l_orderkey over
// DIR/lineitem.csv, 2.5M groups at 10M rows) three
// ways in one process: fault-free; with checkpoints every ROWS rows, cancelled once FRACTION of
// the rows were scanned; and restored from that run's newest checkpoint into a fresh query that
// finishes. Prints the checkpoint sizes and costs, the overhead against the fault-free run, the
// restore time, and whether the restored result equals the fault-free one (exit 1 if not).

#include <openssl/evp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/error.hpp>

#include "cli/flags.hpp"
#include "engine/query_impl.hpp"

namespace asio = boost::asio;
namespace po = boost::program_options;

namespace {

/// SHA-256 over every value of every row, in order: equal digests, equal results.
class result_digest {
 public:
  result_digest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~result_digest() { EVP_MD_CTX_free(ctx_); }
  result_digest(const result_digest&) = delete;
  result_digest& operator=(const result_digest&) = delete;

  void add(const ftq::batch& in) {
    const ftq::batch b = in.has_selection ? in.compacted() : in;
    for (std::size_t row = 0; row < b.rows; ++row) {
      for (const auto& c : b.columns) {
        if (c->type == ftq::type_id::int64) {
          EVP_DigestUpdate(ctx_, &c->ints[row], sizeof(std::int64_t));
        } else if (c->type == ftq::type_id::float64) {
          EVP_DigestUpdate(ctx_, &c->doubles[row], sizeof(double));
        } else {
          EVP_DigestUpdate(ctx_, c->strings[row].data(), c->strings[row].size());
        }
      }
      ++rows_;
    }
  }
  std::string hex() {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    std::string out;
    char buf[3];
    for (unsigned i = 0; i < n; ++i) {
      std::snprintf(buf, sizeof buf, "%02x", md[i]);
      out += buf;
    }
    return out;
  }
  std::uint64_t rows() const noexcept { return rows_; }

 private:
  EVP_MD_CTX* ctx_;
  std::uint64_t rows_ = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double mib(std::uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

int main(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq-checkpoint-bench --data DIR [--plan P] [--every ROWS] [--stop-at FRACTION] [--checkpoint-dir D]\n\n"
      "options");
  std::string data;
  std::string plan_path = FTQ_BENCH_PLANS "/orderkey_agg.json";
  std::uint64_t every = 2'000'000;
  double stop_at = 0.7;
  std::string dir;
  std::string compression = "zstd";
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("data", po::value(&data)->required(), "directory with lineitem.csv (ftq gen)")
      ("plan", po::value(&plan_path)->default_value(plan_path), "the JSON plan to checkpoint, stop and restore")
      ("every", po::value(&every)->default_value(2'000'000), "rows scanned between checkpoints")
      ("stop-at", po::value(&stop_at)->default_value(0.7), "cancel the checkpointed run after this fraction of the rows")
      ("checkpoint-dir", po::value(&dir), "where checkpoints go (default: DATA/../ftq-checkpoint-bench)")
      ("compression", po::value(&compression)->default_value("zstd"), "zstd, lz4 or none");
  // clang-format on
  po::variables_map vm;
  if (auto stop = ftq::cli::parse_flags("ftq-checkpoint-bench", argc, argv, flags, vm, {},
                                        [&] { (void)ftq::cli::parse_compression_flag(compression); })) {
    return *stop;
  }
  std::ifstream plan_file(plan_path, std::ios::binary);
  std::stringstream plan_text;
  plan_text << plan_file.rdbuf();
  if (!plan_file) {
    std::cerr << "ftq-checkpoint-bench: " << plan_path << ": cannot read the plan\n";
    return 2;
  }
  if (dir.empty()) {
    dir = (std::filesystem::absolute(data).parent_path() / "ftq-checkpoint-bench").string();
  }
  std::filesystem::remove_all(dir);

  asio::io_context io(1);
  ftq::engine eng(io.get_executor(), {.data_dir = data});
  const ftq::plan p = ftq::parse_plan(plan_text.str());
  int code = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // 1. Fault-free.
        auto t0 = std::chrono::steady_clock::now();
        auto plain = eng.prepare(p);
        ftq::query_result r0 = co_await eng.run(plain);
        const double plain_s = seconds_since(t0);
        result_digest d0;
        for (const auto& b : r0.batches) {
          d0.add(b);
        }
        const std::uint64_t groups = d0.rows();
        const std::string expected = d0.hex();
        const std::uint64_t total_rows = plain->progress().rows_scanned;
        r0 = {};

        // 2. Checkpointed, cancelled at stop_at.
        ftq::checkpoint_options co;
        co.dir = dir;
        co.compression = ftq::cli::parse_compression_flag(compression);
        co.key_env.clear();
        auto manager = std::make_shared<ftq::checkpoint_manager>(io.get_executor(), co);
        ftq::query_options qo;
        qo.checkpoints.manager = manager;
        qo.checkpoints.every_rows = every;
        auto first = eng.prepare(p, qo);
        const auto stop_rows = static_cast<std::uint64_t>(stop_at * static_cast<double>(total_rows));
        asio::co_spawn(
            io,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer t(io);
              while (first->progress().rows_scanned < stop_rows) {
                t.expires_after(std::chrono::milliseconds(1));
                co_await t.async_wait(asio::use_awaitable);
              }
              first->cancel();
            },
            asio::detached);
        t0 = std::chrono::steady_clock::now();
        try {
          (void)co_await eng.run(first);
        } catch (const ftq::error&) {
        }
        const double first_s = seconds_since(t0);
        const ftq::checkpoint_stats stats = first->checkpoints();

        std::vector<ftq::checkpoint_info> files = co_await manager->list(first->checkpoint_id());

        // 3. Restored and finished (taking checkpoints of its own as it goes, as a resumed run would).
        auto second = eng.prepare(p, qo);
        auto& qi = second->internals();
        t0 = std::chrono::steady_clock::now();
        qi.root->init_states(*qi.context);
        auto report = co_await qi.checkpointer->restore(*qi.context, [&] { qi.root->init_states(*qi.context); });
        const double restore_s = seconds_since(t0);
        result_digest d1;
        while (auto b = co_await qi.root->next(*qi.context)) {
          d1.add(*b);
        }
        const double finish_s = seconds_since(t0);
        const bool equal = d1.hex() == expected && d1.rows() == groups;
        co_await manager->remove_query(first->checkpoint_id());

        std::printf("data: %s, %llu rows, %llu groups; checkpoints every %llu rows, %s, backend %s\n", data.c_str(),
                    static_cast<unsigned long long>(total_rows), static_cast<unsigned long long>(groups),
                    static_cast<unsigned long long>(every), compression.c_str(),
                    std::string(manager->backend()).c_str());
        std::printf("fault-free run:                 %.3f s\n", plain_s);
        std::printf(
            "checkpointed run to %.0f%%:        %.3f s (%.0f%% of the fault-free run's time for %.0f%% of it)\n",
            stop_at * 100, first_s, 100.0 * first_s / plain_s, stop_at * 100);
        std::printf("  commits %llu (deltas %llu, failed %llu); mean commit %.1f ms, slowest %.1f ms\n",
                    static_cast<unsigned long long>(stats.commits), static_cast<unsigned long long>(stats.deltas),
                    static_cast<unsigned long long>(stats.failures),
                    stats.commits ? 1e3 * std::chrono::duration<double>(stats.total_commit_time).count() /
                                        static_cast<double>(stats.commits)
                                  : 0.0,
                    1e3 * std::chrono::duration<double>(stats.max_commit_time).count());
        for (const auto& f : files) {
          std::printf("  kept epoch %llu %-5s raw %8.1f MiB stored %8.1f MiB (%.2f)\n",
                      static_cast<unsigned long long>(f.epoch), f.delta ? "delta" : "full", mib(f.raw_bytes),
                      mib(f.stored_bytes), static_cast<double>(f.stored_bytes) / static_cast<double>(f.raw_bytes));
        }
        std::printf("restore of epoch %llu:           %.3f s (%zu skipped)\n",
                    static_cast<unsigned long long>(report.restored ? report.restored->epoch : 0), restore_s,
                    report.skipped.size());
        std::printf("restore + rest of the query:    %.3f s, rows scanned after restore %llu of %llu\n", finish_s,
                    static_cast<unsigned long long>(qi.progress->rows_scanned.load()),
                    static_cast<unsigned long long>(total_rows));
        std::printf("restored result equals the fault-free one: %s (sha256 %s)\n", equal ? "yes" : "NO",
                    expected.c_str());
        code = equal && report.restored ? 0 : 1;
      },
      [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "ftq-checkpoint-bench: " << ex.what() << "\n";
            code = 1;
          }
        }
      });
  io.run();
  return code;
}
