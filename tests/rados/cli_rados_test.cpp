// The scale-out command line against a live Ceph cluster (run by tests/rados/with-cluster.sh):
// `ftq run --checkpoint-store` gives the local result and resumes from RADOS, a second run of a
// query another process holds is refused naming the owner, `ftq submit` + `ftq worker` deliver
// the result a plain run writes, `ftq submit --wait` waits for it, `ftq status` shows who did
// what, a worker runs a job with its own batch size and faults on its one engine (so its status
// endpoint lists it), a rerun of a killed `ftq run` waits out the dead run's lease and resumes
// while a live holder still refuses it promptly, and bad stores and flags are usage errors.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "support/cli_runner.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ftq::test::q;
using ftq::test::run_ftq;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// $FTQ_TEST_RADOS with a prefix of its own per call, so tests never see each other's queries.
/// Fails loudly when the suite runs without a cluster.
std::string fresh_store() {
  const char* base = std::getenv("FTQ_TEST_RADOS");
  const char* conf = std::getenv("CEPH_CONF");
  REQUIRE_MESSAGE(base != nullptr, "FTQ_TEST_RADOS is not set: run through tests/rados/with-cluster.sh");
  REQUIRE_MESSAGE(conf != nullptr, "CEPH_CONF is not set: run through tests/rados/with-cluster.sh");
  REQUIRE_MESSAGE(std::getenv("FTQ_BINARY") != nullptr, "FTQ_BINARY is not set (tests/meson.build)");
  static std::mt19937_64 rng(std::random_device{}());
  char tail[24];
  std::snprintf(tail, sizeof tail, "cli-%08llx", static_cast<unsigned long long>(rng() & 0xffffffffULL));
  return std::string(base) + "/" + tail;
}

/// One ftq process in the background, its stdout and stderr in a log file; killed if still
/// running at the end of the test.
class ftq_process {
 public:
  ftq_process(const std::vector<std::string>& args, fs::path log) : log_(std::move(log)) {
    const char* bin = std::getenv("FTQ_BINARY");
    REQUIRE(bin != nullptr);
    std::vector<std::string> text{bin};
    text.insert(text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : text) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const std::string log_path = log_.string();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) {
        ::_exit(120);
      }
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::execv(bin, argv.data());
      ::_exit(121);
    }
  }
  ftq_process(const ftq_process&) = delete;
  ftq_process& operator=(const ftq_process&) = delete;
  ~ftq_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int pid() const noexcept { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }
  std::string output() const { return ftq::test::read_file(log_); }
  /// The exit status (128 + signal when killed by one); fails the test past `limit`.
  int wait(std::chrono::milliseconds limit = 60s) {
    int st = 0;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL_CHECK("ftq did not finish within " << limit.count() << " ms; killing it. Output:\n" << output());
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }

 private:
  fs::path log_;
  int pid_ = -1;
};

/// Generated data and the q1 example plan; a local run's result to compare with.
struct workspace {
  ftq::test::temp_dir dir{"ftq-rados-cli"};
  fs::path data = dir / "data";
  fs::path plan;
  std::string store = fresh_store();
  workspace() {
    REQUIRE(run_ftq("gen --rows 60000 --seed 42 --out " + q(data)).status == 0);
    plan = fs::path(std::getenv("FTQ_SOURCE_ROOT")) / "examples/plans/q1.json";
  }
  std::vector<std::string> run_args(const std::string& out) const {
    return {"run",        plan.string(), "--data",       data.string(), "--out", (dir / out).string(),
            "--progress", "never",       "--batch-rows", "1000"};
  }
  std::string run_line(const std::string& out) const {
    std::string line;
    for (const auto& a : run_args(out)) {
      line += q(a) + " ";
    }
    return line;
  }
  std::string local_result() const {
    const auto r = run_ftq(run_line("local.csv"));
    REQUIRE_MESSAGE(r.status == 0, r.out);
    return ftq::test::read_file_or_fail(dir / "local.csv");
  }
};

boost::json::value status_json(const std::string& store, const std::string& query = "") {
  const auto r = run_ftq("status --checkpoint-store " + q(store) + " --json " + (query.empty() ? "" : q(query)));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  return boost::json::parse(r.out);
}

}  // namespace

TEST_CASE("ftq run --checkpoint-store writes the local result, and a stopped run resumes from RADOS") {
  workspace w;
  const std::string expected = w.local_result();

  auto plain = run_ftq(w.run_line("rados.csv") + " --checkpoint-store " + q(w.store) + " --checkpoint-every 10000");
  REQUIRE_MESSAGE(plain.status == 0, plain.out);
  CHECK(ftq::test::read_file_or_fail(w.dir / "rados.csv") == expected);
  CHECK_MESSAGE(contains(plain.out, "checkpoints (0 failed) as q1-"), plain.out);
  CHECK_MESSAGE(contains(plain.out, " in " + w.store), plain.out);

  // Each scan batch stalls 20 ms: a SIGTERM lands midway; the run stops after a final
  // checkpoint in the pool, and the same command without the stalls resumes from it.
  std::vector<std::string> args = w.run_args("resumed.csv");
  args.insert(args.end(), {"--checkpoint-store", w.store, "--checkpoint-every", "5000", "--keep-checkpoints",
                           "--inject", "stall:op=csv_scan,p=1,for=20ms"});
  {
    ftq_process p(args, w.dir / "stopped.log");
    std::this_thread::sleep_for(600ms);
    p.signal(SIGTERM);
    const int code = p.wait(30s);
    CHECK_MESSAGE(code == 143, p.output());
    CHECK_MESSAGE(contains(p.output(), "ftq: stopped; run the same command to resume"), p.output());
  }
  CHECK_FALSE(fs::exists(w.dir / "resumed.csv"));
  auto again = run_ftq(w.run_line("resumed.csv") + " --checkpoint-store " + q(w.store) +
                       " --checkpoint-every 5000 --keep-checkpoints");
  REQUIRE_MESSAGE(again.status == 0, again.out);
  CHECK_MESSAGE(contains(again.out, "ftq: resuming q1-"), again.out);
  CHECK_MESSAGE(contains(again.out, "from checkpoint epoch "), again.out);
  CHECK(ftq::test::read_file_or_fail(w.dir / "resumed.csv") == expected);

  // The kept checkpoints are listed and verify, in the pool as on disk.
  auto list = run_ftq("checkpoints --checkpoint-store " + q(w.store) + " --verify");
  CHECK_MESSAGE(list.status == 0, list.out);
  CHECK_MESSAGE(contains(list.out, "q1-"), list.out);
  CHECK_MESSAGE(contains(list.out, "rados"), list.out);
  CHECK_MESSAGE(contains(list.out, " 0 failed"), list.out);
}

TEST_CASE("a second ftq run of a query another process holds exits 1 naming the owner") {
  workspace w;
  std::vector<std::string> args = w.run_args("first.csv");
  args.insert(args.end(), {"--checkpoint-store", w.store, "--checkpoint-every", "5000", "--inject",
                           "stall:op=csv_scan,p=1,for=50ms"});
  ftq_process first(args, w.dir / "first.log");
  const std::string owner_prefix = "-" + std::to_string(first.pid()) + "-run";

  // Once the first run holds the lease, the status says so.
  std::string owner;
  for (int i = 0; i < 400 && owner.empty(); ++i) {
    const auto r = run_ftq("status --checkpoint-store " + q(w.store) + " --json");
    if (r.status == 0) {
      const auto v = boost::json::parse(r.out);
      for (const auto& query : v.at("queries").as_array()) {
        if (query.at("lease_current").as_bool()) {
          owner = std::string(query.at("owner").as_string());
        }
      }
    }
    if (owner.empty()) {
      std::this_thread::sleep_for(20ms);
    }
  }
  REQUIRE_MESSAGE(!owner.empty(), first.output());
  CHECK(contains(owner, owner_prefix));

  // The same command (the query's id comes from the plan and the output path).
  auto second = run_ftq(w.run_line("first.csv") + " --checkpoint-store " + q(w.store) + " --checkpoint-every 5000");
  CHECK(second.status == 1);
  CHECK_MESSAGE(contains(second.out, "is owned by " + owner + " (lease until "), second.out);
  CHECK_FALSE(fs::exists(w.dir / "first.csv"));

  // Once it has a checkpoint, stop it: it releases the lease on its way out.
  bool checkpointed = false;
  for (int i = 0; i < 400 && !checkpointed; ++i) {
    checkpointed = !status_json(w.store).at("queries").at(0).at("last_epoch").is_null();
    if (!checkpointed) {
      std::this_thread::sleep_for(20ms);
    }
  }
  CHECK(checkpointed);
  first.signal(SIGTERM);
  CHECK(first.wait(30s) == 143);
  // Released at the end: the next run takes it over, resumes and finishes.
  auto third = run_ftq(w.run_line("first.csv") + " --checkpoint-store " + q(w.store) + " --checkpoint-every 5000");
  CHECK_MESSAGE(third.status == 0, third.out);
  CHECK_MESSAGE(contains(third.out, "ftq: resuming q1-"), third.out);
  CHECK(ftq::test::read_file_or_fail(w.dir / "first.csv") == w.local_result());
}

TEST_CASE("ftq submit + ftq worker deliver the result a plain run writes; ftq status shows who committed it") {
  workspace w;
  const std::string expected = w.local_result();

  auto sub = run_ftq("submit " + q(w.plan) + " --data " + q(w.data) + " --out " + q(w.dir / "out.csv") +
                     " --checkpoint-store " + q(w.store) + " --batch-rows 1000 --checkpoint-interval 50ms");
  REQUIRE_MESSAGE(sub.status == 0, sub.out);
  const std::string id = sub.out.substr(0, sub.out.find('\n'));
  CHECK_MESSAGE(std::regex_match(id, std::regex("q1-[0-9a-f]{8}")), id);

  // Queued, no owner yet.
  {
    const auto v = status_json(w.store);
    REQUIRE(v.at("queries").as_array().size() == 1);
    const auto& query = v.at("queries").at(0);
    CHECK(query.at("id").as_string() == id);
    CHECK(query.at("state").as_string() == "queued");
    CHECK(query.at("result").is_null());
  }

  ftq_process worker({"worker", "--checkpoint-store", w.store, "--name", "w1", "--exit-when-idle", "2s"},
                     w.dir / "worker.log");
  const int code = worker.wait(60s);
  const std::string log = worker.output();
  CHECK_MESSAGE(code == 0, log);
  CHECK(ftq::test::read_file_or_fail(w.dir / "out.csv") == expected);

  // The events, in order, each "<ISO time>Z ftq worker w1: <event>".
  const std::string events[] = {"started " + id + " (first owner)", "started " + id + " from scratch (no checkpoint)",
                                "succeeded " + id + ": ", "delivered " + id + " -> " + (w.dir / "out.csv").string()};
  std::size_t at = 0;
  for (const std::string& e : events) {
    const auto found = log.find("ftq worker w1: " + e, at);
    CHECK_MESSAGE(found != std::string::npos, "missing or out of order: " << e << "\n" << log);
    at = found == std::string::npos ? at : found;
  }
  CHECK_MESSAGE(
      std::regex_search(log, std::regex(R"(\n?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ftq worker w1: succeeded )" + id +
                                        R"(: \d+ rows, result committed \(sha256 [0-9a-f]{12}\))")),
      log);

  const auto v = status_json(w.store, id);
  REQUIRE(v.at("queries").as_array().size() == 1);
  const auto& query = v.at("queries").at(0);
  CHECK(v.at("store").as_string() == w.store);
  CHECK(query.at("state").as_string() == "succeeded");
  CHECK(query.at("owner").is_string());
  CHECK(query.at("lease_current").as_bool() == false);
  REQUIRE(query.at("result").is_object());
  CHECK(query.at("result").at("committed_by").as_string() == "w1");
  CHECK(query.at("result").at("bytes").to_number<std::uint64_t>() == expected.size());
  CHECK(query.at("result").at("sha256").as_string().size() == 64);
  CHECK(query.at("error").as_string() == "");
  const auto& history = query.at("history").as_array();
  REQUIRE(!history.empty());
  CHECK(history.at(0).at("to").as_string() == "w1");
  CHECK(history.at(0).at("why").as_string() == "first owner");
  for (const char* key : {"at", "from", "to", "why"}) {
    CHECK(history.at(0).as_object().contains(key));
  }

  // The table: a header and one row.
  auto table = run_ftq("status --checkpoint-store " + q(w.store));
  CHECK_MESSAGE(table.status == 0, table.out);
  for (const char* column : {"QUERY", "STATE", "OWNER", "LEASE", "EPOCH", "TAKEOVERS"}) {
    CHECK_MESSAGE(contains(table.out, column), table.out);
  }
  CHECK_MESSAGE(contains(table.out, id), table.out);
  CHECK_MESSAGE(contains(table.out, "succeeded"), table.out);

  // A succeeded query whose output file is missing is delivered again by any worker.
  fs::remove(w.dir / "out.csv");
  ftq_process other({"worker", "--checkpoint-store", w.store, "--name", "w9", "--exit-when-idle", "1s"},
                    w.dir / "other.log");
  CHECK_MESSAGE(other.wait(30s) == 0, other.output());
  CHECK_MESSAGE(contains(other.output(), "ftq worker w9: delivered " + id + " -> " + (w.dir / "out.csv").string()),
                other.output());
  CHECK(ftq::test::read_file_or_fail(w.dir / "out.csv") == expected);

  // An unknown query is an error naming it.
  auto unknown = run_ftq("status --checkpoint-store " + q(w.store) + " nope");
  CHECK(unknown.status == 1);
  CHECK_MESSAGE(contains(unknown.out, "nope"), unknown.out);
}

TEST_CASE("ftq submit --wait returns once a worker delivered; --wait-timeout exits 3 without a worker") {
  workspace w;
  const std::string expected = w.local_result();

  // Nobody runs it: the wait times out.
  auto lonely = run_ftq("submit " + q(w.plan) + " --data " + q(w.data) + " --out " + q(w.dir / "never.csv") +
                        " --checkpoint-store " + q(w.store) + " --query-id lonely --wait --wait-timeout 500ms");
  CHECK_MESSAGE(lonely.status == 3, lonely.out);
  CHECK(lonely.out.rfind("lonely\n", 0) == 0);  // the id comes first, alone on its line
  CHECK_FALSE(fs::exists(w.dir / "never.csv"));

  ftq_process worker(
      {"worker", "--checkpoint-store", w.store, "--name", "w2", "--max-queries", "2", "--status", "127.0.0.1:0"},
      w.dir / "worker.log");
  auto waited = run_ftq("submit " + q(w.plan) + " --data " + q(w.data) + " --out " + q(w.dir / "waited.csv") +
                        " --checkpoint-store " + q(w.store) + " --query-id waited --batch-rows 1000 --wait");
  CHECK_MESSAGE(waited.status == 0, waited.out << "\n" << worker.output());
  CHECK(waited.out.rfind("waited\n", 0) == 0);
  CHECK(ftq::test::read_file_or_fail(w.dir / "waited.csv") == expected);

  // A plan that fails (its data file is missing): --wait exits 1 with the worker's error.
  auto failing = run_ftq("submit " + q(w.plan) + " --data " + q(w.dir / "no-data") + " --out " +
                         q(w.dir / "failed.csv") + " --checkpoint-store " + q(w.store) + " --query-id failing --wait");
  CHECK_MESSAGE(failing.status == 1, failing.out);
  CHECK_MESSAGE(contains(failing.out, "failing failed: "), failing.out);
  CHECK_FALSE(fs::exists(w.dir / "failed.csv"));

  // Its status endpoint: /cluster is the view of its last poll, also under /status's "cluster".
  std::uint16_t port = 0;
  const std::regex listening(R"(ftq worker w2: listening on http://127\.0\.0\.1:(\d+)\n)");
  std::smatch m;
  const std::string so_far = worker.output();
  REQUIRE_MESSAGE(std::regex_search(so_far, m, listening), so_far);
  port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
  ftq::test::http_client http(port);
  boost::json::value cluster;
  for (int i = 0; i < 100; ++i) {  // the poll after the last query ended
    const auto reply = http.get("/cluster");
    REQUIRE(reply.status == 200);
    cluster = boost::json::parse(reply.body);
    if (cluster.at("queries").as_array().size() == 3) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(cluster.at("worker").as_string() == "w2");
  CHECK(cluster.at("store").as_string() == w.store);
  REQUIRE(cluster.at("queries").as_array().size() == 3);
  for (const auto& query : cluster.at("queries").as_array()) {
    for (const char* key :
         {"id", "state", "owner", "lease_until", "lease_current", "last_epoch", "error", "result", "history"}) {
      CHECK_MESSAGE(query.as_object().contains(key), key);
    }
  }
  const auto status = http.get("/status");
  REQUIRE(status.status == 200);
  CHECK(boost::json::parse(status.body).at("cluster").at("worker").as_string() == "w2");

  // SIGTERM: the idle worker exits 0.
  worker.signal(SIGTERM);
  const int code = worker.wait(30s);
  CHECK_MESSAGE(code == 0, worker.output());
  CHECK_MESSAGE(contains(worker.output(), "ftq worker w2: failed failing: "), worker.output());
  const auto v = status_json(w.store, "failing");
  CHECK(v.at("queries").at(0).at("state").as_string() == "failed");
  CHECK(v.at("queries").at(0).at("error").as_string() != "");
}

TEST_CASE("a stopped worker releases its query after a final checkpoint; the next worker resumes it") {
  workspace w;
  const std::string expected = w.local_result();
  auto sub = run_ftq("submit " + q(w.plan) + " --data " + q(w.data) + " --out " + q(w.dir / "out.csv") +
                     " --checkpoint-store " + q(w.store) +
                     " --query-id slow --batch-rows 1000 --checkpoint-interval 100ms --inject "
                     "'stall:op=csv_scan,p=1,for=20ms'");
  REQUIRE_MESSAGE(sub.status == 0, sub.out);
  {
    ftq_process first({"worker", "--checkpoint-store", w.store, "--name", "first"}, w.dir / "first.log");
    std::string log;
    for (int i = 0; i < 500 && !contains(log, "started slow from scratch"); ++i) {
      std::this_thread::sleep_for(10ms);
      log = first.output();
    }
    std::this_thread::sleep_for(500ms);
    first.signal(SIGINT);
    CHECK(first.wait(30s) == 0);
    CHECK_MESSAGE(contains(first.output(), "ftq worker first: released slow"), first.output());
  }
  ftq_process second({"worker", "--checkpoint-store", w.store, "--name", "second", "--exit-when-idle", "1s"},
                     w.dir / "second.log");
  CHECK(second.wait(60s) == 0);
  const std::string log = second.output();
  CHECK_MESSAGE(contains(log, "ftq worker second: took over slow from first (its lease lapsed "), log);
  CHECK_MESSAGE(contains(log, "ftq worker second: resumed slow from epoch "), log);
  CHECK(ftq::test::read_file_or_fail(w.dir / "out.csv") == expected);
  const auto v = status_json(w.store, "slow");
  CHECK(v.at("queries").at(0).at("result").at("committed_by").as_string() == "second");
}

TEST_CASE("bad stores and flags of the scale-out commands exit 2 with a message") {
  workspace w;
  struct usage_case {
    std::string args;
    std::string says;
  };
  const std::string plan = q(w.plan);
  const usage_case cases[] = {
      {"worker --checkpoint-store s3://bucket", "--checkpoint-store"},
      {"worker --checkpoint-store rados://", "--checkpoint-store"},
      {"worker", "checkpoint-store"},
      {"worker --checkpoint-store rados://ftq --lease 1s --renew 2s", "--renew must be shorter than --lease"},
      {"worker --checkpoint-store rados://ftq --poll soon", "--poll"},
      {"worker --checkpoint-store rados://ftq --max-queries 0", "--max-queries"},
      {"submit " + plan + " --data x --checkpoint-store rados://ftq", "out"},
      {"submit " + plan + " --data x --out y.csv --checkpoint-store rados://ftq/../up", "--checkpoint-store"},
      {"submit " + plan + " --data x --out y.csv --checkpoint-store rados://ftq --query-id 'a b'", "--query-id"},
      {"submit " + plan + " --data x --out y.csv --checkpoint-store rados://ftq --wait-timeout 1s", "--wait"},
      {"submit " + plan + " --data x --out y.csv --checkpoint-store rados://ftq --inject 'explode:op=x'", "--inject"},
      {"status", "checkpoint-store"},
      {"status --checkpoint-store file:///tmp", "--checkpoint-store"},
      {"run " + plan + " --out y.csv --checkpoint-dir d --checkpoint-store rados://ftq", "not both"},
      {"run " + plan + " --out y.csv --checkpoint-store nope", "--checkpoint-store"},
      {"run " + plan + " --out y.csv --ceph-conf /etc/ceph/ceph.conf", "--ceph-conf needs --checkpoint-store"},
      {"checkpoints d --checkpoint-store rados://ftq", "not both"},
      {"checkpoints", "--checkpoint-store"},
  };
  for (const usage_case& c : cases) {
    CAPTURE(c.args);
    const auto r = run_ftq(c.args);
    CHECK(r.status == 2);
    CHECK_MESSAGE(contains(r.out, c.says), r.out);
  }
  // Help texts name the contract's flags.
  const auto worker_help = run_ftq("worker --help");
  CHECK(worker_help.status == 0);
  for (const char* flag : {"--checkpoint-store", "--ceph-conf", "--name", "--lease", "--renew", "--poll",
                           "--max-queries", "--status", "--status-token-file", "--exit-when-idle"}) {
    CHECK_MESSAGE(contains(worker_help.out, flag), flag);
  }
  const auto submit_help = run_ftq("submit --help");
  for (const char* flag : {"--data", "--out", "--checkpoint-store", "--ceph-conf", "--query-id", "--batch-rows",
                           "--checkpoint-interval", "--inject", "--wait", "--wait-timeout"}) {
    CHECK_MESSAGE(contains(submit_help.out, flag), flag);
  }
  const auto main_help = run_ftq("--help");
  for (const char* command : {"worker", "submit", "status"}) {
    CHECK(contains(main_help.out, command));
  }
}

TEST_CASE("a worker runs a job with its own batch size and faults on its one engine: /status lists it") {
  workspace w;
  const std::string expected = w.local_result();
  // 60 scan batches of 1000 rows (the engine's own are 4096), each stalled 20 ms: long enough to
  // be seen running. The local result is summed in batches of 1000 too (float sums follow them).
  // Its first checkpoint commit fails: the worker routes the job's checkpoint rules to its commits.
  auto sub = run_ftq("submit " + q(w.plan) + " --data " + q(w.data) + " --out " + q(w.dir / "out.csv") +
                     " --checkpoint-store " + q(w.store) +
                     " --query-id own-options --batch-rows 1000 --checkpoint-interval 100ms --inject "
                     "'stall:op=csv_scan,p=1,for=20ms;checkpoint:n=1,errno=EIO'");
  REQUIRE_MESSAGE(sub.status == 0, sub.out);
  ftq_process worker(
      {"worker", "--checkpoint-store", w.store, "--name", "w3", "--status", "127.0.0.1:0", "--exit-when-idle", "1s"},
      w.dir / "worker.log");
  const std::regex listening(R"(ftq worker w3: listening on http://127\.0\.0\.1:(\d+)\n)");
  std::smatch m;
  std::string log;
  for (int i = 0; i < 500 && !std::regex_search(log, m, listening); ++i) {
    std::this_thread::sleep_for(10ms);
    log = worker.output();
  }
  REQUIRE_MESSAGE(std::regex_search(log, m, listening), log);
  ftq::test::http_client http(static_cast<std::uint16_t>(std::stoi(m[1].str())));

  // While it runs, /status lists it among the engine's queries, scanning in batches of 1000.
  boost::json::object seen;
  for (int i = 0; i < 500 && seen.empty(); ++i) {
    const auto reply = http.get("/status");
    REQUIRE(reply.status == 200);
    const auto v = boost::json::parse(reply.body);
    for (const auto& query : v.at("queries").as_array()) {
      if (query.at("checkpoint_id").as_string() == "own-options" && query.at("state").as_string() == "running" &&
          query.at("checkpoint").at("failures").to_number<std::uint64_t>() == 1 &&
          query.at("checkpoint").at("commits").to_number<std::uint64_t>() >= 1) {
        for (const auto& op : query.at("operators").as_array()) {
          if (op.at("name").as_string() == "csv_scan" && op.at("batches_out").to_number<std::uint64_t>() >= 2) {
            seen = query.as_object();
          }
        }
      }
    }
    if (seen.empty()) {
      std::this_thread::sleep_for(10ms);
    }
  }
  REQUIRE_MESSAGE(!seen.empty(), worker.output());
  for (const auto& op : seen.at("operators").as_array()) {
    if (op.at("name").as_string() == "csv_scan") {
      const auto rows = op.at("rows_out").to_number<std::uint64_t>();
      const auto batches = op.at("batches_out").to_number<std::uint64_t>();
      CAPTURE(rows);
      CAPTURE(batches);
      CHECK(rows <= batches * 1000);  // the engine's 4096-row batches would give 4 times fewer
      CHECK(rows > (batches - 1) * 1000);
    }
  }

  CHECK_MESSAGE(worker.wait(60s) == 0, worker.output());
  CHECK_MESSAGE(contains(worker.output(), "ftq worker w3: succeeded own-options: "), worker.output());
  CHECK(ftq::test::read_file_or_fail(w.dir / "out.csv") == expected);
}

TEST_CASE("a rerun of a SIGKILLed ftq run waits out its lease and resumes; a live holder still refuses promptly") {
  workspace w;
  const std::string expected = w.local_result();
  std::vector<std::string> args = w.run_args("killed.csv");
  args.insert(args.end(), {"--checkpoint-store", w.store, "--checkpoint-interval", "100ms", "--inject",
                           "stall:op=csv_scan,p=1,for=20ms"});
  {
    ftq_process first(args, w.dir / "killed.log");
    bool checkpointed = false;
    for (int i = 0; i < 400 && !checkpointed; ++i) {
      const auto r = run_ftq("status --checkpoint-store " + q(w.store) + " --json");
      if (r.status == 0) {
        const boost::json::value v = boost::json::parse(r.out);
        const auto& queries = v.at("queries").as_array();
        checkpointed = !queries.empty() && !queries.at(0).at("last_epoch").is_null();
      }
      if (!checkpointed) {
        std::this_thread::sleep_for(10ms);
      }
    }
    REQUIRE_MESSAGE(checkpointed, first.output());
    first.signal(SIGKILL);
    CHECK(first.wait(10s) == 128 + SIGKILL);
  }
  // At once: the dead run's lease still runs (up to 3 s); the rerun waits it out, then resumes.
  const auto started = std::chrono::steady_clock::now();
  auto rerun = run_ftq(w.run_line("killed.csv") + " --checkpoint-store " + q(w.store) + " --checkpoint-interval 100ms");
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_MESSAGE(rerun.status == 0, rerun.out);
  CHECK_MESSAGE(
      std::regex_search(rerun.out, std::regex(R"(ftq run: query q1-[0-9a-f]{16} is held by \S+-run until )"
                                              R"(\d{4}-\d\d-\d\dT[0-9:.]+Z; waiting for its lease to lapse\n)")),
      rerun.out);
  CHECK_MESSAGE(contains(rerun.out, "ftq: resuming q1-"), rerun.out);
  CHECK(ftq::test::read_file_or_fail(w.dir / "killed.csv") == expected);
  CHECK(took < 10s);

  // A live holder renews its lease: a rerun sees it move and gives up within about a renewal.
  fs::remove(w.dir / "killed.csv");
  std::vector<std::string> live_args = w.run_args("live.csv");
  live_args.insert(live_args.end(), {"--checkpoint-store", w.store, "--checkpoint-interval", "100ms", "--inject",
                                     "stall:op=csv_scan,p=1,for=100ms"});
  ftq_process live(live_args, w.dir / "live.log");
  bool held = false;
  for (int i = 0; i < 400 && !held; ++i) {
    const auto r = run_ftq("status --checkpoint-store " + q(w.store) + " --json");
    if (r.status == 0) {
      const boost::json::value v = boost::json::parse(r.out);
      for (const auto& query : v.at("queries").as_array()) {
        held = held || (query.at("lease_current").as_bool() && contains(std::string(query.at("owner").as_string()),
                                                                        "-" + std::to_string(live.pid()) + "-run"));
      }
    }
    if (!held) {
      std::this_thread::sleep_for(10ms);
    }
  }
  REQUIRE_MESSAGE(held, live.output());
  const auto asked = std::chrono::steady_clock::now();
  auto refused = run_ftq(w.run_line("live.csv") + " --checkpoint-store " + q(w.store) + " --checkpoint-interval 100ms");
  const auto refused_after = std::chrono::steady_clock::now() - asked;
  CHECK_MESSAGE(refused.status == 1, refused.out);
  CHECK_MESSAGE(contains(refused.out, "is owned by "), refused.out);
  CHECK_MESSAGE(contains(refused.out, "-" + std::to_string(live.pid()) + "-run (lease until "), refused.out);
  CHECK_MESSAGE(refused_after < 2500ms, std::chrono::duration_cast<std::chrono::milliseconds>(refused_after).count()
                                            << " ms\n"
                                            << refused.out);
  CHECK_FALSE(fs::exists(w.dir / "live.csv"));
  live.signal(SIGTERM);
  CHECK_MESSAGE(live.wait(30s) == 143, live.output());
}
