// The ftq command line as a user meets it: help texts, exit codes, precise error messages for
// bad plans and bad CSV, the progress bar, and the demo (faults, a crash, a resume, verified).

#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "support/cli_runner.hpp"
#include "support/http_client.hpp"
#include "support/temp_dir.hpp"

namespace {

using ftq::test::q;
using ftq::test::run_ftq;

const char* lineitem_scan =
    R"({"op": "csv_scan", "path": "lineitem.csv", "schema": [
         {"name": "l_orderkey", "type": "int64"}, {"name": "l_partkey", "type": "int64"},
         {"name": "l_quantity", "type": "float64"}, {"name": "l_extendedprice", "type": "float64"},
         {"name": "l_discount", "type": "float64"}, {"name": "l_tax", "type": "float64"},
         {"name": "l_returnflag", "type": "string"}, {"name": "l_linestatus", "type": "string"},
         {"name": "l_shipdate", "type": "string"}]})";

}  // namespace

TEST_CASE("ftq --help lists every command and ftq COMMAND --help every flag") {
  auto h = run_ftq("--help");
  CHECK(h.status == 0);
  for (const char* word : {"gen", "run", "demo"})
    CHECK(h.out.find(word) != std::string::npos);
  auto r = run_ftq("run --help");
  CHECK(r.status == 0);
  for (const char* flag : {"--data", "--out", "--batch-rows", "--progress", "--explain", "--checkpoint-dir", "--fresh",
                           "--inject", "--recovery", "--priority", "--stop-timeout"}) {
    CHECK(r.out.find(flag) != std::string::npos);
  }
  auto g = run_ftq("gen --help");
  CHECK(g.status == 0);
  for (const char* flag : {"--rows", "--seed", "--out", "--parts", "--customers"}) {
    CHECK(g.out.find(flag) != std::string::npos);
  }
  CHECK(r.out.find("adaptive") != std::string::npos);  // the default checkpoint interval
  auto d = run_ftq("demo --help");
  CHECK(d.status == 0);
  CHECK(d.out.find("--inject") != std::string::npos);
}

TEST_CASE("unknown commands and flags exit 2 with a message") {
  auto a = run_ftq("frobnicate");
  CHECK(a.status == 2);
  CHECK(a.out.find("unknown command 'frobnicate'") != std::string::npos);
  auto b = run_ftq("run --bogus x");
  CHECK(b.status == 2);
  auto c = run_ftq("gen --out /tmp/x");
  CHECK(c.status == 2);
  CHECK(c.out.find("rows") != std::string::npos);
  for (const char* cmd : {"run x.json --out r.csv --progress sometimes", "demo --progress sometimes"}) {
    CAPTURE(cmd);
    auto d = run_ftq(cmd);
    CHECK(d.status == 2);
    CHECK(d.out.find("--progress must be auto, always or never") != std::string::npos);
  }
}

TEST_CASE("ftq run writes the result; a bad plan exits 3 naming where in the plan it is") {
  ftq::test::temp_dir dir("ftq-cli");
  REQUIRE(run_ftq("gen --rows 500 --seed 7 --out " + q(dir / "data")).status == 0);

  const std::string good = std::string(R"({"name": "cnt", "plan": {"op": "aggregate", "group_by": [],
      "aggregates": [{"fn": "count_star", "as": "n"}], "input": )") +
                           lineitem_scan + "}}";
  ftq::test::write_file(dir / "good.json", good);
  auto ok = run_ftq("run " + q(dir / "good.json") + " --data " + q(dir / "data") + " --out " + q(dir / "r.csv") +
                    " --progress never");
  CHECK(ok.status == 0);
  CHECK(ftq::test::read_file(dir / "r.csv") == "n\n500\n");

  const std::string typo = std::string(R"({"plan": {"op": "filter", "predicate": {"op": "<=", "args":
      [{"col": "l_shipdat"}, {"const": "1998-09-02"}]}, "input": )") +
                           lineitem_scan + "}}";
  ftq::test::write_file(dir / "typo.json", typo);
  auto bad = run_ftq("run " + q(dir / "typo.json") + " --data " + q(dir / "data") + " --out " + q(dir / "bad.csv"));
  CHECK(bad.status == 3);
  CHECK(bad.out.find("plan.predicate.args[0]: unknown column 'l_shipdat' (columns: l_orderkey, l_partkey") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.csv"));

  auto missing =
      run_ftq("run " + q(dir / "good.json") + " --data " + q(dir / "nowhere") + " --out " + q(dir / "m.csv"));
  CHECK(missing.status == 3);
  CHECK(missing.out.find("plan.input.path") != std::string::npos);

  ftq::test::write_file(dir / "broken.json", "{\"plan\": {\"op\": ");
  auto broken = run_ftq("run " + q(dir / "broken.json") + " --out " + q(dir / "x.csv"));
  CHECK(broken.status == 3);
  CHECK(broken.out.find("invalid JSON") != std::string::npos);
}

TEST_CASE("a malformed CSV row fails the query with file:line:column and leaves no result") {
  ftq::test::temp_dir dir("ftq-cli");
  std::filesystem::create_directories(dir / "data");
  ftq::test::write_file(dir / "data/t.csv", "a,b\n1,2\n3,x\n");
  ftq::test::write_file(dir / "p.json", R"({"plan": {"op": "csv_scan", "path": "t.csv",
      "schema": [{"name": "a", "type": "int64"}, {"name": "b", "type": "int64"}]}})");
  auto r = run_ftq("run " + q(dir / "p.json") + " --data " + q(dir / "data") + " --out " + q(dir / "r.csv"));
  CHECK(r.status == 1);
  CHECK(r.out.find("t.csv:3:3:") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "r.csv"));
}

TEST_CASE("the progress bar shows rows, rate and elapsed time when asked for") {
  ftq::test::temp_dir dir("ftq-cli");
  REQUIRE(run_ftq("gen --rows 20000 --seed 1 --out " + q(dir / "data")).status == 0);
  ftq::test::write_file(dir / "scan.json", std::string(R"({"plan": )") + lineitem_scan + "}");
  auto r = run_ftq("run " + q(dir / "scan.json") + " --data " + q(dir / "data") + " --out " + q(dir / "r.csv") +
                   " --progress always");
  CHECK(r.status == 0);
  CHECK(r.out.find("100%") != std::string::npos);
  CHECK(r.out.find("rows/s") != std::string::npos);
  CHECK(r.out.find("20000 rows") != std::string::npos);
}

TEST_CASE("ftq run --explain prints the operator tree with plan paths") {
  ftq::test::temp_dir dir("ftq-cli");
  REQUIRE(run_ftq("gen --rows 10 --seed 1 --out " + q(dir / "data")).status == 0);
  ftq::test::write_file(dir / "p.json",
                        std::string(R"({"plan": {"op": "limit", "limit": 3, "input": )") + lineitem_scan + "}}");
  auto r = run_ftq("run " + q(dir / "p.json") + " --data " + q(dir / "data") + " --explain");
  CHECK(r.status == 0);
  CHECK(r.out.find("limit #0") != std::string::npos);
  CHECK(r.out.find("csv_scan #1  [plan.input]") != std::string::npos);
}

TEST_CASE("ftq demo recovers from injected faults and a crash, and checks every result against a fault-free run") {
  ftq::test::temp_dir dir("ftq-demo");
  // Small batches, so the faults the demo injects midway through each scan have batches to hit.
  auto r = run_ftq("demo --rows 3000 --batch-rows 100 --dir " + q(dir.path()) + " --progress never");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(r.out.find("demo: every result equals the fault-free run") != std::string::npos);
  for (const char* name : {"q1", "q6", "join", "topk", "distinct"})
    CHECK(r.out.find(name) != std::string::npos);
  CHECK(r.out.find("commit failed") != std::string::npos);  // the injected checkpoint write failure
  CHECK_MESSAGE(r.out.find("the same command resumed from checkpoint epoch") != std::string::npos, r.out);

  auto bad = run_ftq("demo --rows 3000 --dir " + q(dir.path()) + " --inject 'stall:op=x,batch=1'");
  CHECK(bad.status == 2);
  CHECK_MESSAGE(bad.out.find("--inject: rule 1 (stall:op=x,batch=1): needs 'for=DURATION'") != std::string::npos,
                bad.out);
}

TEST_CASE("ftq run --status serves the endpoint, lingers after the query, and SIGTERM ends the linger") {
  ftq::test::temp_dir dir("ftq-cli-status");
  REQUIRE(run_ftq("gen --rows 500 --seed 7 --out " + q(dir / "data")).status == 0);
  ftq::test::write_file(dir / "cnt.json", std::string(R"({"name": "cnt", "plan": {"op": "aggregate", "group_by": [],
      "aggregates": [{"fn": "count_star", "as": "n"}], "input": )") +
                                              lineitem_scan + "}}");

  // In the background through sh, which records ftq's pid and, once it exits, its status.
  const char* binary = std::getenv("FTQ_BINARY");
  REQUIRE(binary != nullptr);
  const std::string run = q(binary) + " run " + q(dir / "cnt.json") + " --data " + q(dir / "data") + " --out " +
                          q(dir / "r.csv") + " --progress never --status 127.0.0.1:0 --status-linger 60s 2>" +
                          q(dir / "err");
  const std::string script = run + " & echo $! >" + q(dir / "pid") + "; wait $!; echo $? >" + q(dir / "code");
  REQUIRE(std::system(("sh -c " + q(script) + " &").c_str()) == 0);

  // The URL it prints, then the finished query, still served during the linger.
  std::uint16_t port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    const std::string err = ftq::test::read_file(dir / "err");
    if (const auto at = err.find("status: http://127.0.0.1:"); at != std::string::npos) {
      port = static_cast<std::uint16_t>(std::stoi(err.substr(at + 25)));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  REQUIRE(port != 0);
  ftq::test::http_client c(port);
  std::string state;
  for (int i = 0; i < 500 && state != "\"succeeded\""; ++i) {
    const ftq::test::http_reply r = c.get("/queries/1");
    REQUIRE(r.status == 200);
    const auto at = r.body.find("\"state\":");
    state = r.body.substr(at + 8, r.body.find(',', at) - at - 8);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(state == "\"succeeded\"");
  CHECK(ftq::test::read_file(dir / "r.csv") == "n\n500\n");
  CHECK(c.get("/healthz").status == 200);
  CHECK(ftq::test::read_file(dir / "err").find("still serving") != std::string::npos);

  const int pid = std::stoi(ftq::test::read_file(dir / "pid"));
  REQUIRE(::kill(pid, SIGTERM) == 0);
  std::string code;
  for (int i = 0; i < 250 && code.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    code = ftq::test::read_file(dir / "code");
  }
  CHECK(code == "0\n");  // the query succeeded; the signal only ended the linger

  auto bad = run_ftq("run " + q(dir / "cnt.json") + " --data " + q(dir / "data") + " --out " + q(dir / "x.csv") +
                     " --status 127.0.0.1:99999");
  CHECK(bad.status == 2);
  CHECK(bad.out.find("--status must be HOST:PORT") != std::string::npos);
  auto lonely = run_ftq("run " + q(dir / "cnt.json") + " --data " + q(dir / "data") + " --out " + q(dir / "x.csv") +
                        " --status-linger 5s");
  CHECK(lonely.status == 2);
  CHECK(lonely.out.find("need --status") != std::string::npos);
}
