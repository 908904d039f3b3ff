// ftq-bench recovery: what failures cost a query, with checkpoints and without.
//
//   ftq-bench recovery [--data DIR] [--rows N] [--runs K] [--seeds S] [--parts 1,2,3] [--json FILE]
//                      [--checkpoint-dir D]
//
// Part 1: one injected operator failure midway, small and large operator state: restore time,
// time to resumed progress, time lost. Part 2: q1 and join with 0, 1 and 5 failures and at
// failure rates from one per ten query lengths to two per query length, under the adaptive
// interval, fixed intervals, and rerunning from scratch, as a ratio to the fault-free time.
// Part 3: the fault-free overhead of checkpointing at the adaptive interval. Every run's result
// is compared with the fault-free one. docs/benchmarks.md explains each figure.

#include "recovery_bench.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include <ftq/error.hpp>

#include "cli/embedded_file.hpp"
#include "recovery_runner.hpp"
#include "tools/gen.hpp"

namespace ftq::bench {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace json = boost::json;
using std::chrono::nanoseconds;

// Part 1's fixed schedule: the failure comes about 1M rows after the last checkpoint.
constexpr std::uint64_t part1_every_rows = 2'000'000;
// Part 2's rerun strategy gives up after this many attempts (reported if it ever does).
constexpr int max_rerun_attempts = 200;

// ---------------------------------------------------------------------------------------------
// Figures.

struct dist {
  double median = 0, mean = 0, min = 0, max = 0;
};

dist summarize(std::vector<double> v) {
  dist d;
  if (v.empty()) {
    return d;
  }
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  d.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  d.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(n);
  d.min = v.front();
  d.max = v.back();
  return d;
}

json::object to_json(const std::vector<double>& v) {
  const dist d = summarize(v);
  json::array values;
  for (double x : v) {
    values.push_back(x);
  }
  return {{"median", d.median}, {"mean", d.mean}, {"min", d.min}, {"max", d.max}, {"values", values}};
}

double ms(nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---------------------------------------------------------------------------------------------
// Data and plans.

std::uint64_t count_rows(const fs::path& csv) {
  std::ifstream in(csv, std::ios::binary);
  if (!in) {
    throw io_error(csv.string(), std::error_code(errno, std::system_category()), "reading the data");
  }
  std::vector<char> buf(1 << 20);
  std::uint64_t lines = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    lines += static_cast<std::uint64_t>(std::count(buf.data(), buf.data() + in.gcount(), '\n'));
  }
  return lines > 0 ? lines - 1 : 0;  // the header
}

void ensure_data(const fs::path& dir, std::uint64_t rows) {
  if (fs::exists(dir / "lineitem.csv") && fs::exists(dir / "orders.csv")) {
    return;
  }
  std::fprintf(stderr, "recovery: generating %llu rows into %s (as ftq gen --rows %llu --seed 42)\n",
               static_cast<unsigned long long>(rows), dir.c_str(), static_cast<unsigned long long>(rows));
  tools::gen_options o;
  o.rows = rows;
  o.seed = 42;
  o.out_dir = dir;
  (void)tools::generate(o);
}

plan embedded_plan(std::string_view name) {
  for (const auto& f : cli::example_plans()) {
    if (f.name == name) {
      return parse_plan(f.content);
    }
  }
  throw std::runtime_error("no embedded example plan '" + std::string(name) + "'");
}

plan file_plan(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  if (!in) {
    throw io_error(path.string(), std::error_code(errno, std::system_category()), "reading the plan");
  }
  return parse_plan(s.str());
}

struct scan_info {
  std::size_t id = 0;
  std::string file;
  std::uint64_t rows = 0;
  std::uint64_t batches = 0;
};

// A query the benchmark runs, with where its scans' batches are.
struct query_case {
  std::string label;
  std::string plan_file;  // for reproduction commands
  plan p;
  std::vector<scan_info> scans;
  std::uint64_t total_batches = 0;
  bool ordered = false;  // its result order is part of the result (a sort on top)
  result_digest expected;
  double t0 = 0;  // fault-free seconds, no checkpoints (median)
  std::vector<double> t0_runs;

  // The n-th scan batch over all scans (1-based) as (operator id, that scan's batch).
  std::pair<std::size_t, std::uint64_t> locate(std::uint64_t n) const {
    for (const scan_info& s : scans) {
      if (n <= s.batches) {
        return {s.id, n};
      }
      n -= s.batches;
    }
    return {scans.back().id, scans.back().batches};
  }
};

// Operator ids are given in preorder, inputs in order (hash_join: probe, build); checked
// against the engine's own EXPLAIN below.
void collect_scans(const plan_node& n, std::size_t& next_id, std::vector<scan_info>& out) {
  const std::size_t id = next_id++;
  if (n.kind == node_kind::csv_scan) {
    out.push_back({id, n.path, 0, 0});
  }
  for (const plan_node& c : n.inputs) {
    collect_scans(c, next_id, out);
  }
}

query_case make_case(std::string label, std::string plan_file, plan p, const fs::path& data, std::size_t batch_rows,
                     std::map<std::string, std::uint64_t>& rows_cache) {
  query_case c;
  c.label = std::move(label);
  c.plan_file = std::move(plan_file);
  c.p = std::move(p);
  c.ordered = c.p.root.kind == node_kind::sort;
  std::size_t next = 0;
  collect_scans(c.p.root, next, c.scans);
  // The same ids as the engine's EXPLAIN ("csv_scan #3  [...]"), or injected faults would miss.
  boost::asio::io_context io;
  engine eng(io.get_executor(), {.data_dir = data});
  const std::string text = eng.prepare(c.p)->explain();
  std::vector<std::size_t> explained;
  for (std::size_t at = text.find("csv_scan #"); at != std::string::npos; at = text.find("csv_scan #", at + 1)) {
    explained.push_back(std::stoul(text.substr(at + 10)));
  }
  std::vector<std::size_t> mine;
  for (const scan_info& s : c.scans) {
    mine.push_back(s.id);
  }
  if (explained != mine || c.scans.empty()) {
    throw std::runtime_error(c.label + ": scan operator ids differ from the engine's EXPLAIN:\n" + text);
  }
  for (scan_info& s : c.scans) {
    fs::path f = s.file;
    if (f.is_relative()) {
      f = data / f;
    }
    auto it = rows_cache.find(f.string());
    if (it == rows_cache.end()) {
      it = rows_cache.emplace(f.string(), count_rows(f)).first;
    }
    s.rows = it->second;
    s.batches = (s.rows + batch_rows - 1) / batch_rows;
    c.total_batches += s.batches;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Checking every result.

class result_checker {
 public:
  explicit result_checker(fs::path data) : data_(std::move(data)) {}

  // Records a failed run or a result unlike the fault-free one, loudly, with how to reproduce it.
  bool check(const query_case& q, const run_result& r, const std::string& what, const run_spec& spec) {
    std::string problem;
    if (!r.ok) {
      problem = "run failed: " + r.error;
    } else if (r.digest.rows != q.expected.rows ||
               (q.ordered ? r.digest.ordered != q.expected.ordered : r.digest.unordered != q.expected.unordered)) {
      problem = "RESULT MISMATCH: " + std::to_string(r.digest.rows) +
                " rows (fault-free: " + std::to_string(q.expected.rows) + "), digest " + hex(r.digest) +
                " (fault-free: " + hex(q.expected) + ")";
    }
    if (problem.empty()) {
      return true;
    }
    std::string repro = "ftq run " + q.plan_file + " --data " + data_.string() + " --out /tmp/ftq-repro.csv";
    if (spec.checkpoints) {
      repro += " --checkpoint-dir /tmp/ftq-repro-ck --fresh";
      if (spec.every_rows != 0) {
        repro += " --checkpoint-every " + std::to_string(spec.every_rows);
      }
    }
    if (spec.faults && !spec.faults->empty()) {
      repro += " --inject '" + spec.faults->describe() + "'";
    }
    if (spec.recovery) {
      repro += " --recovery '" + spec.recovery->describe() + "'";
    }
    std::string note;
    if (spec.prior_mtbf) {
      note = " (with fault_tolerance.checkpoint_interval.prior_mtbf = " +
             std::to_string(std::chrono::duration<double>(*spec.prior_mtbf).count()) + " s, not a CLI flag)";
    }
    if (!spec.name.empty()) {
      note += " (plan renamed '" + spec.name + "')";
    }
    std::fprintf(stderr, "\nrecovery: *** %s: %s: %s\nrecovery: *** reproduce: %s%s\n\n", q.label.c_str(), what.c_str(),
                 problem.c_str(), repro.c_str(), note.c_str());
    problems_.push_back({{"query", q.label},
                         {"case", what},
                         {"problem", problem},
                         {"reproduce", repro + note},
                         {"ft_failures", r.ft.failures},
                         {"error", r.error}});
    return false;
  }

  const json::array& problems() const noexcept { return problems_; }

 private:
  static std::string hex(const result_digest& d) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016llx/%016llx", static_cast<unsigned long long>(d.ordered),
                  static_cast<unsigned long long>(d.unordered));
    return buf;
  }

  fs::path data_;
  json::array problems_;
};

run_spec plain(const plan& p) {
  run_spec s;
  s.query = &p;
  return s;
}

// every_rows 0: the adaptive interval.
run_spec checkpointed(const plan& p, std::uint64_t every_rows) {
  run_spec s = plain(p);
  s.checkpoints = true;
  s.every_rows = every_rows;
  return s;
}

json::object run_json(const run_result& r) {
  return {{"seconds", r.seconds},
          {"ok", r.ok},
          {"rows", r.digest.rows},
          {"failures", r.ft.failures},
          {"operator_restores", r.ft.operator_restores},
          {"pipeline_restarts", r.ft.pipeline_restarts},
          {"stalls", r.ft.stalls},
          {"rows_replayed", r.ft.rows_replayed},
          {"states_restored", r.ft.states_restored},
          {"restore_ms", ms(r.ft.restore_time)},
          {"recovery_ms", ms(r.ft.recovery_time)},
          {"backoff_ms", ms(r.ft.backoff_time)},
          {"checkpoints", r.checkpoints.commits},
          {"checkpoint_deltas", r.checkpoints.deltas},
          {"checkpoint_failures", r.checkpoints.failures},
          {"checkpoint_commit_ms_total", ms(r.checkpoints.total_commit_time)},
          {"checkpoint_commit_ms_max", ms(r.checkpoints.max_commit_time)},
          {"last_checkpoint_raw_bytes", r.checkpoints.last_raw_bytes},
          {"last_checkpoint_stored_bytes", r.checkpoints.last_stored_bytes},
          {"interval_ms", ms(r.interval)},
          {"interval_formula", r.interval_formula},
          {"error", r.error}};
}

// ---------------------------------------------------------------------------------------------
// Part 1: time from one failure to resumed progress, small and large state.

struct part1_state {
  std::string label;
  const query_case* q;
};

json::array part1(recovery_runner& runner, result_checker& checker, const std::vector<part1_state>& states, int runs) {
  std::printf(
      "\nPart 1: one csv_scan failure midway (operator_fault), checkpoints every %.0fM rows; median of %d runs\n",
      static_cast<double>(part1_every_rows) / 1e6, runs);
  std::printf(
      "  restore: reading and loading the states rolled back; recovery: the failure to the failed operator's\n"
      "  next delivered batch (engine's recovery_time; includes backoff and, for restore_operator, re-reading\n"
      "  the rows since the checkpoint); lost: run time with the failure minus without it (same round), median;\n"
      "  ckpt MiB: the last checkpoint's stored size (a delta when little changed); commit ms: mean per checkpoint\n");
  std::printf("%-32s %-17s %9s %9s %8s %9s %9s %9s %11s\n", "state", "policy", "ckpt MiB", "commit ms", "restore",
              "recovery", "lost ms", "backoff", "replayed");
  json::array out;
  struct policy {
    std::string label;
    std::optional<recovery_policy> recovery;
  };
  const std::vector<policy> policies = {
      {"restore_operator", std::nullopt},
      {"restart_pipeline", recovery_policy::parse("operator_fault=restart_pipeline")}};
  for (const part1_state& st : states) {
    const query_case& q = *st.q;
    const scan_info& scan = q.scans.front();
    const std::uint64_t batch_no = scan.batches / 2;
    const std::string spec = "throw:op=#" + std::to_string(scan.id) + ",batch=" + std::to_string(batch_no);
    std::vector<double> ref_s;
    std::vector<run_result> ref_runs;
    std::vector<std::vector<run_result>> fails(policies.size());
    for (int k = 0; k < runs; ++k) {
      const run_spec ref = checkpointed(q.p, part1_every_rows);
      run_result r = runner.run(ref);
      checker.check(q, r, "part 1 reference (checkpoints, no failure)", ref);
      ref_s.push_back(r.seconds);
      ref_runs.push_back(r);
      for (std::size_t i = 0; i < policies.size(); ++i) {
        run_spec f = checkpointed(q.p, part1_every_rows);
        f.faults = std::make_shared<inject::fault_plan>(inject::fault_plan::parse(spec));
        f.recovery = policies[i].recovery;
        run_result fr = runner.run(f);
        checker.check(q, fr, "part 1 " + policies[i].label + " " + spec, f);
        if (fr.ft.failures != 1) {
          std::fprintf(stderr, "recovery: part 1 %s %s: expected 1 failure, saw %llu\n", q.label.c_str(),
                       policies[i].label.c_str(), static_cast<unsigned long long>(fr.ft.failures));
        }
        fails[i].push_back(fr);
      }
    }
    std::vector<double> stored_mib, commit_ms;
    for (const run_result& r : ref_runs) {
      stored_mib.push_back(static_cast<double>(r.checkpoints.last_stored_bytes) / (1024.0 * 1024.0));
      commit_ms.push_back(r.checkpoints.commits
                              ? ms(r.checkpoints.total_commit_time) / static_cast<double>(r.checkpoints.commits)
                              : 0.0);
    }
    for (std::size_t i = 0; i < policies.size(); ++i) {
      std::vector<double> restore, recovery, backoff, lost_ms, replayed, total;
      for (std::size_t k = 0; k < fails[i].size(); ++k) {
        const run_result& r = fails[i][k];
        lost_ms.push_back((r.seconds - ref_s[k]) * 1e3);  // paired: the same round's reference
        restore.push_back(ms(r.ft.restore_time));
        recovery.push_back(ms(r.ft.recovery_time));
        backoff.push_back(ms(r.ft.backoff_time));
        replayed.push_back(static_cast<double>(r.ft.rows_replayed));
        total.push_back(r.seconds);
      }
      std::printf("%-32s %-17s %9.1f %9.1f %8.1f %9.1f %9.1f %9.1f %11.0f\n", st.label.c_str(),
                  policies[i].label.c_str(), summarize(stored_mib).median, summarize(commit_ms).median,
                  summarize(restore).median, summarize(recovery).median, summarize(lost_ms).median,
                  summarize(backoff).median, summarize(replayed).median);
      json::array fail_runs;
      for (const run_result& r : fails[i]) {
        fail_runs.push_back(run_json(r));
      }
      out.push_back({{"state", st.label},
                     {"query", q.label},
                     {"policy", policies[i].label},
                     {"fault", spec},
                     {"failure_batch", batch_no},
                     {"scan_batches", scan.batches},
                     {"every_rows", part1_every_rows},
                     {"checkpoint_stored_mib", to_json(stored_mib)},
                     {"checkpoint_commit_ms_mean", to_json(commit_ms)},
                     {"restore_ms", to_json(restore)},
                     {"recovery_ms", to_json(recovery)},
                     {"backoff_ms", to_json(backoff)},
                     {"rows_replayed", to_json(replayed)},
                     {"reference_s", to_json(ref_s)},
                     {"with_failure_s", to_json(total)},
                     {"lost_ms", to_json(lost_ms)},
                     {"runs", fail_runs}});
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Part 2: total time under failures, by checkpoint strategy.

enum class strategy_kind { adaptive, adaptive_prior, every_rows, rerun };

struct strategy {
  std::string label;
  strategy_kind kind;
  std::uint64_t every_rows = 0;
};

const std::vector<strategy>& strategies() {
  static const std::vector<strategy> s = {{"adaptive", strategy_kind::adaptive},
                                          {"adaptive+prior", strategy_kind::adaptive_prior},
                                          {"every 1M rows", strategy_kind::every_rows, 1'000'000},
                                          {"every 5M rows", strategy_kind::every_rows, 5'000'000},
                                          {"rerun", strategy_kind::rerun}};
  return s;
}

struct trial {
  double seconds = 0;
  std::uint64_t failures = 0;  // failures met (rerun: failed attempts)
  std::uint64_t checkpoints = 0;
  int attempts = 1;
  double interval_ms = 0;
  double commit_ms = 0;   // time the query waited on its checkpoints
  double backoff_ms = 0;  // time it waited in retry backoff
  bool ok = true;
};

// One query run under `s` with the faults `spec`; `prior` is the adaptive+prior strategy's MTBF.
trial run_strategy(recovery_runner& runner, result_checker& checker, const query_case& q, const strategy& s,
                   const std::string& spec, nanoseconds prior, const std::string& what) {
  trial t;
  auto faults = std::make_shared<inject::fault_plan>(inject::fault_plan::parse(spec));
  run_spec rs = plain(q.p);
  rs.faults = faults;
  if (s.kind != strategy_kind::rerun) {
    rs.checkpoints = true;
    rs.every_rows = s.every_rows;
    if (s.kind == strategy_kind::adaptive_prior) {
      rs.prior_mtbf = prior;
    }
    const run_result r = runner.run(rs);
    t.ok = checker.check(q, r, what + " " + s.label, rs);
    t.seconds = r.seconds;
    t.failures = r.ft.failures;
    t.checkpoints = r.checkpoints.commits;
    t.interval_ms = ms(r.interval);
    t.commit_ms = ms(r.checkpoints.total_commit_time);
    t.backoff_ms = ms(r.ft.backoff_time);
    return t;
  }
  // What a user of an engine without checkpoints does: each failure ends the query, which is
  // run again from the start. Fault injection lives in the engine's operator supervisor, so the
  // engine keeps fault tolerance on, with the policy "fail" for operator faults. Batch rules fire
  // once over all attempts (the fault plan is shared); a renamed plan draws p rules afresh.
  rs.recovery = recovery_policy::parse("operator_fault=fail");
  for (t.attempts = 1;; ++t.attempts) {
    rs.name = t.attempts == 1 ? std::string() : q.p.name + "~" + std::to_string(t.attempts);
    const run_result r = runner.run(rs);
    t.seconds += r.seconds;
    if (r.ok || r.code != make_error_code(errc::operator_failed) || t.attempts >= max_rerun_attempts) {
      t.ok = checker.check(q, r, what + " rerun attempt " + std::to_string(t.attempts), rs);
      return t;
    }
    ++t.failures;
  }
}

struct cell_key {
  std::string query;
  double x;  // failures, or failure rate per query length
  std::string strategy;
  auto operator<=>(const cell_key&) const = default;
};

struct cell {
  int failed = 0;  // trials whose query failed: reported as problems, left out of the figures
  std::vector<double> seconds;
  std::vector<double> failures;
  std::vector<double> checkpoints;
  std::vector<double> attempts;
  std::vector<json::object> trials;
};

void add_trial(cell& c, const trial& t, std::uint64_t seed, const std::string& spec) {
  if (!t.ok) {
    ++c.failed;
    return;
  }
  c.seconds.push_back(t.seconds);
  c.failures.push_back(static_cast<double>(t.failures));
  c.checkpoints.push_back(static_cast<double>(t.checkpoints));
  c.attempts.push_back(t.attempts);
  c.trials.push_back({{"seed", seed},
                      {"faults", spec},
                      {"seconds", t.seconds},
                      {"failures", t.failures},
                      {"checkpoints", t.checkpoints},
                      {"attempts", t.attempts},
                      {"interval_ms_at_end", t.interval_ms},
                      {"checkpoint_commit_ms", t.commit_ms},
                      {"backoff_ms", t.backoff_ms}});
}

// One more fault-free sample of T0 (no checkpoints): taken between groups of trials, so T0
// follows the machine's load through the minutes part 2 takes.
void sample_t0(recovery_runner& runner, result_checker& checker, query_case& q) {
  const run_spec spec = plain(q.p);
  const run_result r = runner.run(spec);
  if (checker.check(q, r, "T0 sample", spec)) {
    q.t0_runs.push_back(r.seconds);
    q.t0 = summarize(q.t0_runs).median;
  }
}

json::array print_cells(const std::map<cell_key, cell>& cells, const std::vector<query_case*>& queries,
                        const std::vector<double>& xs, bool rates) {
  json::array out;
  const bool some_failed = std::any_of(cells.begin(), cells.end(), [](const auto& c) { return c.second.failed > 0; });
  for (const query_case* q : queries) {
    std::printf(
        "\n%s: T0 = %.3f s (fault-free, no checkpoints: median of %zu), %llu scan batches; mean total time / T0 "
        "[mean checkpoints, failures per run]%s\n",
        q->label.c_str(), q->t0, q->t0_runs.size(), static_cast<unsigned long long>(q->total_batches),
        some_failed ? "; *: some runs failed and are left out (see the end)" : "");
    std::printf("%-14s", rates ? "failure rate" : "failures");
    for (const strategy& s : strategies()) {
      std::printf(" %22s", s.label.c_str());
    }
    std::printf("\n");
    for (double x : xs) {
      char xbuf[32];
      if (rates) {
        std::snprintf(xbuf, sizeof xbuf, "1 per %g T0", 1.0 / x);
      } else {
        std::snprintf(xbuf, sizeof xbuf, "%g", x);
      }
      std::printf("%-14s", xbuf);
      for (const strategy& s : strategies()) {
        const auto it = cells.find({q->label, x, s.label});
        if (it == cells.end()) {
          std::printf(" %22s", "-");
          continue;
        }
        const cell& c = it->second;
        std::vector<double> ratios;
        json::array trials;
        for (std::size_t i = 0; i < c.seconds.size(); ++i) {
          ratios.push_back(c.seconds[i] / q->t0);
          json::object t = c.trials[i];
          t["ratio"] = ratios.back();
          trials.push_back(std::move(t));
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%.3f [%.1f, %.1f]", c.failed > 0 ? "*" : "", summarize(ratios).mean,
                      summarize(c.checkpoints).mean, summarize(c.failures).mean);
        std::printf(" %22s", buf);
        out.push_back({{"query", q->label},
                       {rates ? "rate_per_query_length" : "failures", x},
                       {"strategy", s.label},
                       {"t0_s", q->t0},
                       {"ratio_to_t0", to_json(ratios)},
                       {"seconds", to_json(c.seconds)},
                       {"failures_met", to_json(c.failures)},
                       {"checkpoints", to_json(c.checkpoints)},
                       {"attempts", to_json(c.attempts)},
                       {"failed_trials", c.failed},
                       {"trials", trials}});
      }
      std::printf("\n");
    }
  }
  return out;
}

// 0, 1 or 5 failures at seeded random scan batches.
std::map<cell_key, cell> part2_counts(recovery_runner& runner, result_checker& checker,
                                      const std::vector<query_case*>& queries, const std::vector<double>& counts,
                                      int seeds) {
  std::map<cell_key, cell> cells;
  for (query_case* q : queries) {
    for (double x : counts) {
      sample_t0(runner, checker, *q);
      const auto k = static_cast<std::uint64_t>(x);
      for (int seed = 1; seed <= seeds; ++seed) {
        std::mt19937_64 rng(static_cast<std::uint64_t>(seed) * 1'000'003ull + k);
        std::uniform_int_distribution<std::uint64_t> pick(1, q->total_batches);
        std::string spec = "seed=" + std::to_string(seed);
        for (std::uint64_t i = 0; i < k; ++i) {
          const auto [op, b] = q->locate(pick(rng));
          spec += ";throw:op=#" + std::to_string(op) + ",batch=" + std::to_string(b);
        }
        const auto prior =
            std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(q->t0 / std::max<double>(x, 1)));
        for (const strategy& s : strategies()) {
          if (k == 0 && s.kind == strategy_kind::adaptive_prior) {
            continue;  // no failure rate to tell it
          }
          const trial t =
              run_strategy(runner, checker, *q, s, spec, prior, "part 2 " + std::to_string(k) + " failures " + spec);
          add_trial(cells[{q->label, x, s.label}], t, static_cast<std::uint64_t>(seed), spec);
        }
      }
      std::fprintf(stderr, "recovery: part 2 %s, %llu failures done\n", q->label.c_str(),
                   static_cast<unsigned long long>(k));
    }
  }
  return cells;
}

// Failures at a rate: each scan batch fails with p = rate / scan batches per query length.
std::map<cell_key, cell> part2_rates(recovery_runner& runner, result_checker& checker,
                                     const std::vector<query_case*>& queries, const std::vector<double>& rates,
                                     int seeds) {
  std::map<cell_key, cell> cells;
  for (query_case* q : queries) {
    for (double rate : rates) {
      sample_t0(runner, checker, *q);
      const double p = rate / static_cast<double>(q->total_batches);
      char pbuf[32];
      std::snprintf(pbuf, sizeof pbuf, "%.6g", p);
      const auto prior = std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(q->t0 / rate));
      for (int seed = 1; seed <= seeds; ++seed) {
        const std::string spec = "seed=" + std::to_string(seed) + ";throw:op=csv_scan,p=" + pbuf;
        for (const strategy& s : strategies()) {
          const trial t = run_strategy(runner, checker, *q, s, spec, prior, "part 2 rate " + spec);
          add_trial(cells[{q->label, rate, s.label}], t, static_cast<std::uint64_t>(seed), spec);
        }
      }
      std::fprintf(stderr, "recovery: part 2 %s, rate %g per query length done\n", q->label.c_str(), rate);
    }
  }
  return cells;
}

// Both halves of part 2, printed once T0 has all its samples.
void part2(recovery_runner& runner, result_checker& checker, const std::vector<query_case*>& queries,
           const std::vector<double>& counts, const std::vector<double>& rates, int seeds, json::object& report) {
  const std::map<cell_key, cell> by_count = part2_counts(runner, checker, queries, counts, seeds);
  const std::map<cell_key, cell> by_rate = part2_rates(runner, checker, queries, rates, seeds);
  std::printf(
      "\nPart 2a: %d seeds of failures at random scan batches (seeded); adaptive: default prior MTBF (1 h);\n"
      "  adaptive+prior: prior MTBF = T0 / failures; rerun: no checkpoints, the query run again from the\n"
      "  start after each failure\n",
      seeds);
  report["part2_failures"] = print_cells(by_count, queries, counts, false);
  std::printf(
      "\nPart 2b: %d seeds of failures at a rate (each scan batch fails with p = rate / scan batches);\n"
      "  adaptive+prior: prior MTBF = T0 / rate\n",
      seeds);
  report["part2_rates"] = print_cells(by_rate, queries, rates, true);
}

// ---------------------------------------------------------------------------------------------
// Part 3: fault-free overhead of the adaptive interval.

json::array part3(recovery_runner& runner, result_checker& checker, const std::vector<query_case*>& queries, int runs) {
  std::printf(
      "\nPart 3: fault-free overhead of checkpointing, %d interleaved rounds (off, adaptive, adaptive with\n"
      "  prior MTBF = T0, in rotating order); ratio: median of each round's ratio to off; target <= 1.05\n",
      runs);
  std::printf("%-8s %10s %12s %9s %9s %8s %16s %9s %8s\n", "query", "off ms", "adaptive ms", "ratio", "max", "ckpts",
              "adapt+prior ms", "ratio", "ckpts");
  json::array out;
  for (const query_case* q : queries) {
    const auto prior = std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(q->t0));
    std::vector<run_spec> arms = {plain(q->p), checkpointed(q->p, 0), checkpointed(q->p, 0)};
    arms[2].prior_mtbf = prior;
    std::vector<std::vector<double>> secs(arms.size());
    std::vector<std::vector<double>> ckpts(arms.size());
    for (int round = 0; round < runs; ++round) {
      for (std::size_t j = 0; j < arms.size(); ++j) {
        const std::size_t arm = (static_cast<std::size_t>(round) + j) % arms.size();
        const run_result r = runner.run(arms[arm]);
        checker.check(*q, r, "part 3 arm " + std::to_string(arm), arms[arm]);
        secs[arm].push_back(r.seconds);
        ckpts[arm].push_back(static_cast<double>(r.checkpoints.commits));
      }
    }
    std::vector<double> ratio_adaptive, ratio_prior;
    for (int round = 0; round < runs; ++round) {
      const auto i = static_cast<std::size_t>(round);
      ratio_adaptive.push_back(secs[1][i] / secs[0][i]);
      ratio_prior.push_back(secs[2][i] / secs[0][i]);
    }
    const dist ra = summarize(ratio_adaptive);
    const dist rp = summarize(ratio_prior);
    std::printf("%-8s %10.1f %12.1f %9.3f %9.3f %8.1f %16.1f %9.3f %8.1f%s\n", q->label.c_str(),
                summarize(secs[0]).median * 1e3, summarize(secs[1]).median * 1e3, ra.median, ra.max,
                summarize(ckpts[1]).mean, summarize(secs[2]).median * 1e3, rp.median, summarize(ckpts[2]).mean,
                ra.median <= 1.05 ? "" : "  (above the 1.05 target)");
    out.push_back({{"query", q->label},
                   {"off_s", to_json(secs[0])},
                   {"adaptive_s", to_json(secs[1])},
                   {"adaptive_prior_t0_s", to_json(secs[2])},
                   {"adaptive_checkpoints", to_json(ckpts[1])},
                   {"adaptive_prior_t0_checkpoints", to_json(ckpts[2])},
                   {"ratio_adaptive", to_json(ratio_adaptive)},
                   {"ratio_adaptive_prior_t0", to_json(ratio_prior)},
                   {"target", 1.05},
                   {"met", ra.median <= 1.05}});
  }
  return out;
}

std::vector<double> parse_list(const std::string& text, const char* flag) {
  std::vector<double> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      std::size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) {
        throw std::invalid_argument(item);
      }
    } catch (const std::logic_error&) {
      throw po::error(std::string("--") + flag + ": '" + item + "' is not a number");
    }
  }
  return out;
}

}  // namespace

int recovery_command(int argc, char** argv) {
  po::options_description flags(
      "usage: ftq-bench recovery [--data DIR] [--rows N] [--runs K] [--seeds S] [--parts 1,2,3] [--json FILE]\n"
      "                          [--checkpoint-dir D]\n\n"
      "What injected failures cost q1 and join with checkpoints and without, and what checkpointing costs\n"
      "a fault-free run (docs/benchmarks.md). Generates DIR's data first if it has none.\n\noptions");
  std::string data = "/tmp/ftq-bench-10m";
  std::uint64_t rows = 10'000'000;
  int runs = 5;
  int seeds = 4;
  std::string parts_text = "1,2,3";
  std::string json_out;
  std::string ck_dir;
  std::string queries_text = "q1,join";
  std::string failures_text = "0,1,5";
  std::string rates_text = "0.1,0.2,0.5,1,2";
  // clang-format off
  flags.add_options()
      ("help,h", "show this help")
      ("data", po::value(&data)->default_value(data), "directory with lineitem.csv and orders.csv; generated (ftq gen --seed 42) when missing")
      ("rows", po::value(&rows)->default_value(rows), "lineitem rows to generate when DIR has no data")
      ("runs", po::value(&runs)->default_value(runs), "runs per figure in parts 1 and 3 (part 3: rounds), and fault-free runs for T0")
      ("seeds", po::value(&seeds)->default_value(seeds), "seeds (failure placements) per cell of part 2")
      ("parts", po::value(&parts_text)->default_value(parts_text), "which parts to run")
      ("queries", po::value(&queries_text)->default_value(queries_text), "example plans for parts 2 and 3")
      ("failures", po::value(&failures_text)->default_value(failures_text), "failure counts of part 2a")
      ("rates", po::value(&rates_text)->default_value(rates_text), "failures per query length of part 2b")
      ("json", po::value(&json_out), "also write every figure as JSON to FILE")
      ("checkpoint-dir", po::value(&ck_dir), "where checkpoints go, emptied first (default: DIR/../ftq-bench-recovery)");
  // clang-format on
  po::variables_map vm;
  std::set<int> parts;
  std::vector<double> counts, rates;
  try {
    po::store(po::parse_command_line(argc, argv, flags), vm);
    if (vm.count("help")) {
      std::printf("%s\n", (std::ostringstream() << flags).str().c_str());
      return 0;
    }
    po::notify(vm);
    if (runs < 1 || seeds < 1) {
      throw po::error("--runs and --seeds must be >= 1");
    }
    for (double x : parse_list(parts_text, "parts")) {
      if (x != 1 && x != 2 && x != 3) {
        throw po::error("--parts: expected 1, 2 or 3");
      }
      parts.insert(static_cast<int>(x));
    }
    counts = parse_list(failures_text, "failures");
    rates = parse_list(rates_text, "rates");
    for (double x : counts) {
      if (x < 0 || x != std::floor(x)) {
        throw po::error("--failures: counts are whole numbers >= 0");
      }
    }
    for (double x : rates) {
      if (!(x > 0)) {
        throw po::error("--rates: rates are > 0");
      }
    }
  } catch (const po::error& e) {
    std::fprintf(stderr, "ftq-bench recovery: %s\n\n%s\n", e.what(), (std::ostringstream() << flags).str().c_str());
    return 2;
  }
  const auto bench_started = std::chrono::steady_clock::now();
  const std::string load_start = loadavg();
  const fs::path data_dir = fs::absolute(data);
  ensure_data(data_dir, rows);
  if (ck_dir.empty()) {
    ck_dir = (data_dir.parent_path() / "ftq-bench-recovery").string();
  }

  engine_options base;
  base.data_dir = data_dir;
  // The breaker and the retry budgets protect a service from a failing dependency by refusing
  // work; here the failures are independent by construction, and with the defaults five
  // failures within 60 s would hold the operator open for a second. Out of the way:
  base.fault_tolerance.detector.failure_threshold = 1'000'000;
  base.fault_tolerance.query_budget_tokens = 1e9;
  base.fault_tolerance.engine_budget_tokens = 1e9;
  // A retry sequence is reset only by a delivered batch, and a replay after a rollback delivers
  // none until it has caught up: at two failures per query length the default 5 attempts can run
  // out during one long replay. More attempts (the backoff still grows with each):
  base.fault_tolerance.recovery.retry.max_attempts = 100;
  recovery_runner runner(base, ck_dir);
  result_checker checker(data_dir);

  std::map<std::string, std::uint64_t> rows_cache;
  std::vector<query_case> cases;
  std::stringstream names(queries_text);
  for (std::string name; std::getline(names, name, ',');) {
    cases.push_back(make_case(name, "examples/plans/" + name + ".json", embedded_plan(name), data_dir, base.batch_rows,
                              rows_cache));
  }
  std::vector<query_case> part1_cases;
  if (parts.count(1)) {
    part1_cases.push_back(
        make_case("q6", "examples/plans/q6.json", embedded_plan("q6"), data_dir, base.batch_rows, rows_cache));
    part1_cases.push_back(make_case("orderkey_agg", "bench/plans/orderkey_agg.json",
                                    file_plan(FTQ_BENCH_PLANS "/orderkey_agg.json"), data_dir, base.batch_rows,
                                    rows_cache));
  }

  std::printf("ftq-bench recovery: data %s (", data_dir.c_str());
  for (auto it = rows_cache.begin(); it != rows_cache.end(); ++it) {
    std::printf("%s%s %llu rows", it == rows_cache.begin() ? "" : ", ", fs::path(it->first).filename().c_str(),
                static_cast<unsigned long long>(it->second));
  }
  std::printf("), batches of %zu rows, checkpoints %s backend in %s\n", base.batch_rows,
              std::string(runner.manager().backend()).c_str(), ck_dir.c_str());
  std::printf("load average at start: %s (%u cores)\n", load_start.c_str(), std::thread::hardware_concurrency());

  // The fault-free reference of every query: its result, and T0 (no checkpoints, no faults).
  auto reference = [&](query_case& q) {
    const run_spec spec = plain(q.p);
    (void)runner.run(spec);  // warm the page cache
    for (int k = 0; k < runs; ++k) {
      const run_result r = runner.run(spec);
      if (!r.ok) {
        throw std::runtime_error(q.label + ": the fault-free run failed: " + r.error);
      }
      if (k == 0) {
        q.expected = r.digest;
      } else if (!(r.digest == q.expected)) {
        throw std::runtime_error(q.label +
                                 ": two fault-free runs gave different results: the engine is not "
                                 "deterministic, so no result can be checked");
      }
      q.t0_runs.push_back(r.seconds);
    }
    q.t0 = summarize(q.t0_runs).median;
    std::fprintf(stderr, "recovery: %s fault-free %.3f s (median of %d), %llu rows\n", q.label.c_str(), q.t0, runs,
                 static_cast<unsigned long long>(q.expected.rows));
  };
  for (query_case& q : cases) {
    reference(q);
  }
  for (query_case& q : part1_cases) {
    reference(q);
  }

  json::object report;
  std::vector<query_case*> qs;
  for (query_case& q : cases) {
    qs.push_back(&q);
  }
  if (parts.count(1)) {
    // The failure comes midway through lineitem, which is ordered by l_orderkey: about half of
    // the groups exist by then.
    char large[64];
    std::snprintf(large, sizeof large, "large: orderkey_agg, %.2gM groups",
                  static_cast<double>(part1_cases[1].expected.rows) / 2e6);
    report["part1"] = part1(runner, checker, {{"small: q6, 1 group", &part1_cases[0]}, {large, &part1_cases[1]}}, runs);
  }
  if (parts.count(2)) {
    part2(runner, checker, qs, counts, rates, seeds, report);
  }
  if (parts.count(3)) {
    report["part3"] = part3(runner, checker, qs, 2 * runs);
  }

  const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - bench_started).count();
  const std::string load_end = loadavg();
  std::printf("\nload average at end: %s; whole benchmark %.0f s\n", load_end.c_str(), total_s);
  const json::array& problems = checker.problems();
  if (problems.empty()) {
    std::printf("every run's result equals the fault-free result\n");
  } else {
    std::printf("*** %zu runs failed or gave a result unlike the fault-free one (details above, on stderr)\n",
                problems.size());
  }

  json::object queries;
  for (const query_case* q : qs) {
    json::array scans;
    for (const scan_info& s : q->scans) {
      scans.push_back({{"operator", s.id}, {"file", s.file}, {"rows", s.rows}, {"batches", s.batches}});
    }
    json::array t0s;
    for (double t : q->t0_runs) {
      t0s.push_back(t);
    }
    queries[q->label] = {{"t0_s", q->t0}, {"t0_runs_s", t0s}, {"result_rows", q->expected.rows}, {"scans", scans}};
  }
  report["benchmark"] = "ftq-bench recovery";
  report["data"] = data_dir.string();
  report["batch_rows"] = base.batch_rows;
  report["checkpoint_backend"] = std::string(runner.manager().backend());
  report["runs"] = runs;
  report["seeds"] = seeds;
  report["load_average_start"] = load_start;
  report["load_average_end"] = load_end;
  report["cores"] = std::thread::hardware_concurrency();
  report["total_s"] = total_s;
  report["queries"] = queries;
  report["problems"] = problems;
  if (!json_out.empty()) {
    std::ofstream out(json_out);
    out << json::serialize(report) << "\n";
    if (!out) {
      std::fprintf(stderr, "ftq-bench recovery: %s: cannot write\n", json_out.c_str());
      return 1;
    }
  }
  return problems.empty() ? 0 : 1;
}

}  // namespace ftq::bench
