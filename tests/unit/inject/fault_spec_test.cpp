#include "inject/fault_spec.hpp"

#include <cerrno>
#include <chrono>
#include <string>

#include <doctest/doctest.h>
#include <ftq/error.hpp>

#include "inject/fault_plan.hpp"
#include "support/temp_dir.hpp"

using namespace std::chrono_literals;
using ftq::inject::fault_rule;
using ftq::inject::parse_spec;
using ftq::inject::parse_spec_json;
using ftq::inject::rule_kind;
using ftq::io::op_kind;

namespace {

// The message of the recovery_policy_invalid error `spec` raises ("" if it parses).
std::string spec_error(const std::string& spec) {
  try {
    parse_spec(spec);
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::recovery_policy_invalid));
    return e.what();
  }
  return "";
}

std::string json_error(const std::string& json) {
  try {
    parse_spec_json(json);
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::recovery_policy_invalid));
    return e.what();
  }
  return "";
}

fault_rule only_rule(const std::string& spec) {
  const auto s = parse_spec(spec);
  REQUIRE(s.rules.size() == 1);
  return s.rules[0];
}

}  // namespace

TEST_CASE("throw rules: operator by name or id, batch or probability, times, max, class, query") {
  const fault_rule a = only_rule("throw:op=hash_join,batch=5");
  CHECK(a.kind == rule_kind::throw_error);
  CHECK(a.op_name == "hash_join");
  CHECK_FALSE(a.op_id.has_value());
  CHECK(a.batch == 5);
  CHECK(a.times == 1);
  CHECK_FALSE(a.transient);
  CHECK(a.query.empty());

  const fault_rule b = only_rule("throw:op=#3,batch=2,times=4,class=transient,query=q1");
  CHECK(b.op_id == 3u);
  CHECK_FALSE(b.op_name.has_value());
  CHECK(b.times == 4);
  CHECK(b.transient);
  CHECK(b.query == "q1");

  const fault_rule c = only_rule("throw:p=0.01,max=7,class=fault");
  CHECK_FALSE(c.op_name.has_value());
  CHECK_FALSE(c.op_id.has_value());
  CHECK(c.batch == 0);
  CHECK(c.p == doctest::Approx(0.01));
  CHECK(c.max == 7u);
  CHECK_FALSE(c.transient);
}

TEST_CASE("stall, crash and checkpoint rules read every key") {
  const fault_rule s = only_rule("stall:op=sort,batch=3,for=1500us,times=2");
  CHECK(s.kind == rule_kind::stall);
  CHECK(s.stall_for == 1500us);
  CHECK(s.times == 2);

  const fault_rule c = only_rule("crash:op=csv_scan,batch=9");
  CHECK(c.kind == rule_kind::crash);
  CHECK(c.batch == 9);

  const fault_rule f = only_rule("checkpoint:n=3,errno=ENOSPC,step=fsync,times=2");
  CHECK(f.kind == rule_kind::checkpoint_fail);
  CHECK(f.commit == 3);
  CHECK(f.error == ENOSPC);
  CHECK(f.step == op_kind::fsync);
  CHECK(f.times == 2);
  CHECK(only_rule("checkpoint:n=1,errno=EIO").step == op_kind::write);  // the default step
  CHECK(only_rule("checkpoint:n=1,errno=EIO,step=open").step == op_kind::open);
  CHECK(only_rule("checkpoint:n=1,errno=EIO,step=rename").step == op_kind::rename);

  const fault_rule k = only_rule("crash:checkpoint=4,step=fsync_dir");
  CHECK(k.kind == rule_kind::checkpoint_crash);
  CHECK(k.commit == 4);
  CHECK(k.step == op_kind::fsync_dir);
  CHECK(only_rule("crash:checkpoint=1").step == op_kind::write);
}

TEST_CASE("a spec has an optional seed, tolerates blanks and empty rules, and an empty spec is empty") {
  const auto s = parse_spec(" seed=42 ; throw:op=filter, batch=1 ;; stall:batch=2,for=2s; ");
  CHECK(s.seed == 42);
  REQUIRE(s.rules.size() == 2);
  CHECK(s.rules[0].op_name == "filter");
  CHECK(s.rules[1].stall_for == 2s);
  CHECK(parse_spec("throw:batch=1").seed == 0);
  CHECK(parse_spec("").rules.empty());
  CHECK(ftq::inject::fault_plan::parse("").empty());
}

TEST_CASE("durations take ns, us, ms, s, m, h and nothing else") {
  using ftq::inject::parse_duration;
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("2s") == 2s);
  CHECK(parse_duration("1m") == 1min);
  CHECK(parse_duration("1500us") == 1500us);
  CHECK(parse_duration("7ns") == 7ns);
  CHECK(parse_duration("1h") == 1h);
  for (const char* bad : {"", "5", "ms", "0s", "1.5s", "-1s", "3 s", "3x", "99999999999h"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("a bad spec names the rule and the key") {
  CHECK(spec_error("throw:batch=1;stall:op=sort,batch=1,for=3x") ==
        "rule 2 (stall:op=sort,batch=1,for=3x): 'for' must be a duration like 500ms, got '3x'");
  CHECK(spec_error("seed=1;throw:op=join,batch=0") ==
        "rule 2 (throw:op=join,batch=0): 'batch' must be a positive "
        "integer, got '0'");
  CHECK(spec_error("throw:op=join,batch=1,speed=2").find("'speed' is not a key of throw (expected op, query") !=
        std::string::npos);
  CHECK(spec_error("explode:op=x,batch=1") ==
        "rule 1 (explode:op=x,batch=1): unknown kind 'explode' (expected throw, stall, crash or checkpoint)");
  CHECK(spec_error("throw:op=x") == "rule 1 (throw:op=x): needs 'batch=N' or 'p=PROBABILITY'");
  CHECK(spec_error("throw:op=x,batch=1,p=0.5") ==
        "rule 1 (throw:op=x,batch=1,p=0.5): 'batch' and 'p' exclude each "
        "other");
  CHECK(spec_error("throw:batch=1,batch=2").find("'batch' is given twice") != std::string::npos);
  CHECK(spec_error("throw:p=1.5").find("'p' must be a probability in (0, 1]") != std::string::npos);
  CHECK(spec_error("throw:p=0").find("'p' must be a probability") != std::string::npos);
  CHECK(spec_error("throw:p=0.1,times=2").find("'times' goes with 'batch'") != std::string::npos);
  CHECK(spec_error("throw:batch=1,max=2").find("'max' goes with 'p'") != std::string::npos);
  CHECK(spec_error("throw:batch=1,class=fatal").find("'class' must be transient or fault") != std::string::npos);
  CHECK(spec_error("throw:op=3,batch=1").find("'op' must be an operator name like hash_join or an id like #3") !=
        std::string::npos);
  CHECK(spec_error("throw:op=#x,batch=1").find("'op' must be") != std::string::npos);
  CHECK(spec_error("throw:op=a b,batch=1").find("'op' must be") != std::string::npos);
  CHECK(spec_error("throw:query=,batch=1").find("'query' must name a query") != std::string::npos);
  CHECK(spec_error("stall:op=x,batch=1") ==
        "rule 1 (stall:op=x,batch=1): needs 'for=DURATION' (how long the "
        "operator stalls)");
  CHECK(spec_error("crash:op=x,batch=1,for=2s").find("'for' is not a key of crash") != std::string::npos);
  CHECK(spec_error("checkpoint:errno=EIO").find("needs 'n=N'") != std::string::npos);
  CHECK(spec_error("checkpoint:n=1").find("needs 'errno=EIO' or 'errno=ENOSPC'") != std::string::npos);
  CHECK(spec_error("checkpoint:n=1,errno=EPERM").find("'errno' must be EIO or ENOSPC, got 'EPERM'") !=
        std::string::npos);
  CHECK(spec_error("checkpoint:n=1,errno=EIO,step=close").find("'step' must be one of open, write") !=
        std::string::npos);
  CHECK(spec_error("crash:checkpoint=2,op=x").find("'op' is not a key of crash:checkpoint") != std::string::npos);
  CHECK(spec_error("crash:checkpoint=0").find("'checkpoint' must be a positive integer") != std::string::npos);
  CHECK(spec_error("throw:op=x,batch") == "rule 1 (throw:op=x,batch): 'batch' is not key=value");
  CHECK(spec_error("hello") == "rule 1 (hello): expected KIND:key=value,... or seed=N");
  CHECK(spec_error("seed=-1") == "rule 1 (seed=-1): 'seed' must be a non-negative integer, got '-1'");
  CHECK(spec_error("seed=1;seed=2") == "rule 2 (seed=2): 'seed' is given twice");
}

TEST_CASE("describe() prints the canonical spec, which parses back to the same plan") {
  const std::string spec =
      "throw:class=transient,batch=5,op=hash_join;seed=9;stall:for=1000ms,op=#2,batch=1,times=3;"
      "throw:p=0.25,max=4,query=q2;crash:batch=7;checkpoint:step=rename,errno=ENOSPC,n=2,times=2;"
      "crash:step=fsync_dir,checkpoint=3";
  const auto plan = ftq::inject::fault_plan::parse(spec);
  const std::string canonical =
      "seed=9;throw:op=hash_join,batch=5,class=transient;stall:op=#2,batch=1,times=3,for=1s;"
      "throw:query=q2,p=0.25,max=4;crash:batch=7;checkpoint:n=2,times=2,errno=ENOSPC,step=rename;"
      "crash:checkpoint=3,step=fsync_dir";
  CHECK(plan.describe() == canonical);
  CHECK(ftq::inject::fault_plan::parse(canonical).describe() == canonical);
  CHECK(plan.seed() == 9);
  CHECK(ftq::inject::fault_plan{}.describe().empty());
}

TEST_CASE("the JSON form means what the spec means") {
  const std::string json = R"({"seed": 7, "rules": [
      {"kind": "throw", "op": "hash_join", "batch": 5, "class": "transient"},
      {"kind": "throw", "op": 3, "p": 0.01, "max": 2, "query": "q1"},
      {"kind": "stall", "op": "sort", "batch": 2, "for": "500ms", "times": 2},
      {"kind": "crash", "op": "#4", "batch": 1},
      {"kind": "checkpoint", "n": 2, "errno": "ENOSPC", "step": "fsync", "times": 3},
      {"kind": "crash", "checkpoint": 5, "step": "rename"}]})";
  const std::string spec =
      "seed=7;throw:op=hash_join,batch=5,class=transient;throw:op=#3,query=q1,p=0.01,max=2;"
      "stall:op=sort,batch=2,times=2,for=500ms;crash:op=#4,batch=1;checkpoint:n=2,times=3,errno=ENOSPC,step=fsync;"
      "crash:checkpoint=5,step=rename";
  const auto from_json = ftq::inject::fault_plan::from_json(json);
  CHECK(from_json.describe() == ftq::inject::fault_plan::parse(spec).describe());
  CHECK(from_json.describe() == spec);
}

TEST_CASE("a bad JSON plan names the rule by index and the key") {
  CHECK(json_error(R"({"rules": [{"kind": "throw", "batch": 1}, {"kind": "stall", "batch": 1, "for": "3x"}]})") ==
        "rules[1] (stall:batch=1,for=3x): 'for' must be a duration like 500ms, got '3x'");
  CHECK(json_error(R"({"rules": [{"kind": "throw", "batch": true}]})") ==
        "rules[0]: 'batch' must be a string or a "
        "number");
  CHECK(json_error(R"({"rules": [{"op": "x"}]})").find("rules[0]: needs \"kind\"") != std::string::npos);
  CHECK(json_error(R"({"rules": [3]})").find("rules[0]: expected an object") != std::string::npos);
  CHECK(json_error(R"({"seed": 1, "rule": []})") == "fault plan JSON: unknown key 'rule' (expected seed, rules)");
  CHECK(json_error(R"({"rules": {}})") == "fault plan JSON: 'rules' must be an array");
  CHECK(json_error(R"([1, 2])").find("expected an object") != std::string::npos);
  CHECK(json_error(R"({"rules": [)").find("fault plan JSON: ") == 0);
  CHECK(json_error(R"({"seed": -3})").find("'seed' must be a non-negative integer") != std::string::npos);
}

TEST_CASE("from_argument reads @file and *.json as JSON files, anything else as a spec") {
  ftq::test::temp_dir tmp("ftq-inject");
  const auto file = tmp.write("plan.json", R"({"seed": 3, "rules": [{"kind": "throw", "batch": 2}]})");
  CHECK(ftq::inject::fault_plan::from_argument("@" + file.string()).describe() == "seed=3;throw:batch=2");
  CHECK(ftq::inject::fault_plan::from_argument(file.string()).describe() == "seed=3;throw:batch=2");
  CHECK(ftq::inject::fault_plan::from_argument("seed=4;throw:batch=1").describe() == "seed=4;throw:batch=1");

  const auto bad = tmp.write("bad.json", R"({"rules": [{"kind": "nope"}]})");
  try {
    ftq::inject::fault_plan::load(bad);
    FAIL("a bad plan file loaded");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::recovery_policy_invalid));
    CHECK(std::string(e.what()).find(bad.string() + ": rules[0] (nope): unknown kind 'nope'") == 0);
  }
  try {
    ftq::inject::fault_plan::from_argument("@" + (tmp / "missing.json").string());
    FAIL("a missing plan file loaded");
  } catch (const ftq::io_error& e) {
    CHECK((e.code() == std::errc::no_such_file_or_directory));
    CHECK(e.path() == (tmp / "missing.json").string());
  }
}

TEST_CASE("the JSON example of docs/fault-injection.md is its spec example") {
  const std::string json = R"({"seed": 7, "rules": [
      {"kind": "throw", "op": "hash_join", "batch": 5, "class": "transient"},
      {"kind": "throw", "op": 3, "p": 0.01, "max": 10},
      {"kind": "stall", "op": "sort", "batch": 2, "for": "3s", "query": "q4"},
      {"kind": "checkpoint", "n": 2, "errno": "ENOSPC", "step": "fsync"},
      {"kind": "crash", "checkpoint": 4, "step": "rename"}]})";
  const std::string spec =
      "seed=7;throw:op=hash_join,batch=5,class=transient;throw:op=#3,p=0.01,max=10;"
      "stall:op=sort,query=q4,batch=2,for=3s;checkpoint:n=2,errno=ENOSPC,step=fsync;crash:checkpoint=4,step=rename";
  CHECK(ftq::inject::fault_plan::from_json(json).describe() == spec);
  CHECK(ftq::inject::fault_plan::parse(spec).describe() == spec);
}
