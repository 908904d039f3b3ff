// The cluster view of a worker sharing a checkpoint store: /status's "cluster" (null without
// one), GET /cluster (404 without one), and the shape `ftq status --json` shares.

#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "status/status_json.hpp"
#include "unit/status/handler_calls.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace json = boost::json;
using namespace ftq::test;
using ftq::status::handle;
using ftq::status::parts_for;

namespace {

ftq::engine_snapshot with_cluster() {
  ftq::engine_snapshot s = sample_snapshot();
  s.cluster = sample_cluster();
  return s;
}

json::object body_of(const ftq::status::request& req, const ftq::engine_snapshot& s) {
  const auto res = handle(req, s, {}).res;
  REQUIRE(res.result_int() == 200);
  return json_of(res).as_object();
}

std::size_t keys(const json::value& v) { return v.as_object().size(); }

}  // namespace

TEST_CASE("status: cluster is null when the engine has no cluster view") {
  const json::object body = body_of(get("/status"), sample_snapshot());
  REQUIRE(body.contains("cluster"));
  CHECK(body.at("cluster").is_null());
  CHECK(body.at("queries").as_array().size() == 4);  // the rest is unchanged
}

TEST_CASE("status: cluster carries the worker, the store, its counters and every query") {
  const json::object body = body_of(get("/status"), with_cluster());
  const json::object& c = body.at("cluster").as_object();
  CHECK(c.at("worker").as_string() == "worker-a");
  CHECK(c.at("store").as_string() == "rados://ftq/jobs");
  CHECK(c.at("takeovers").to_number<int>() == 2);
  CHECK(c.at("leases_held").to_number<int>() == 1);
  CHECK(c.at("fenced_commits").to_number<int>() == 1);
  CHECK(c.size() == 6);
  const json::array& qs = c.at("queries").as_array();
  REQUIRE(qs.size() == 4);

  // Every query object has exactly the fields of `ftq status --json`.
  for (const json::value& q : qs) {
    CAPTURE(json::serialize(q));
    CHECK(keys(q) == 9);
    for (const char* k :
         {"id", "state", "owner", "lease_until", "lease_current", "last_epoch", "error", "result", "history"}) {
      CHECK(q.as_object().contains(k));
    }
  }

  const json::object& q1 = qs[0].as_object();
  CHECK(q1.at("id").as_string() == "q1-jobs");
  CHECK(q1.at("state").as_string() == "running");
  CHECK(q1.at("owner").as_string() == "worker-a");
  CHECK(q1.at("lease_until").as_string() == "2025-11-26T04:56:54.500Z");
  CHECK(q1.at("lease_current").as_bool());
  CHECK(q1.at("last_epoch").to_number<int>() == 7);
  CHECK(q1.at("error").as_string() == "");
  CHECK(q1.at("result").is_null());
  const json::array& h = q1.at("history").as_array();
  REQUIRE(h.size() == 2);
  CHECK(keys(h[0]) == 4);
  CHECK(h[0].at("at").as_string() == "2025-11-26T04:56:42.000Z");
  CHECK(h[0].at("from").as_string() == "");
  CHECK(h[0].at("to").as_string() == "worker-b");
  CHECK(h[0].at("why").as_string() == "first owner");
  CHECK(h[1].at("at").as_string() == "2025-11-26T04:56:43.250Z");
  CHECK(h[1].at("from").as_string() == "worker-b");
  CHECK(h[1].at("to").as_string() == "worker-a");
  CHECK(h[1].at("why").as_string() == "took over: lease of worker-b lapsed");

  const json::object& q6 = qs[1].as_object();
  CHECK(q6.at("state").as_string() == "succeeded");
  CHECK_FALSE(q6.at("lease_current").as_bool());
  const json::object& r = q6.at("result").as_object();
  CHECK(r.size() == 5);
  CHECK(r.at("sha256").as_string() == std::string(64, 'a'));
  CHECK(r.at("bytes").to_number<int>() == 120);
  CHECK(r.at("rows").to_number<int>() == 4);
  CHECK(r.at("committed_by").as_string() == "worker-b");
  CHECK(r.at("committed_at").as_string() == "2025-11-26T04:56:49.001Z");

  const json::object& join = qs[2].as_object();
  CHECK(join.at("state").as_string() == "queued");
  CHECK(join.at("owner").as_string() == "");
  CHECK(join.at("lease_until").is_null());
  CHECK(join.at("last_epoch").is_null());
  CHECK(join.at("history").as_array().empty());

  const json::object& bad = qs[3].as_object();
  CHECK(bad.at("state").as_string() == "failed");
  CHECK(bad.at("error").as_string() == "operator 1 (filter) failed: \"boom\"");
  CHECK(bad.at("last_epoch").to_number<int>() == 0);  // epoch 0 is a number, not null
  CHECK(bad.at("history").at(1).at("to").as_string() == "");
}

TEST_CASE("cluster answers the cluster view alone, as /status has it") {
  const ftq::engine_snapshot s = with_cluster();
  const auto res = handle(get("/cluster"), s, {}).res;
  REQUIRE(res.result_int() == 200);
  CHECK(header(res, http::field::content_type) == "application/json");
  CHECK(header(res, http::field::cache_control) == "no-store");
  const json::value alone = json_of(res);
  CHECK(alone == body_of(get("/status"), s).at("cluster"));
  CHECK(alone.at("queries").as_array().size() == 4);
  CHECK(res.body() == ftq::status::cluster_json(*s.cluster));
  // HEAD: the same headers, no body.
  const auto head = handle(make_request(http::verb::head, "/cluster"), s, {}).res;
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
  CHECK(header(head, http::field::content_length) == std::to_string(res.body().size()));
}

TEST_CASE("cluster is 404 with a JSON error when the engine has no cluster view") {
  const auto res = handle(get("/cluster"), sample_snapshot(), {}).res;
  CHECK(res.result_int() == 404);
  CHECK(header(res, http::field::content_type) == "application/json");
  const json::object body = json_of(res).as_object();
  CHECK(body.at("status").to_number<int>() == 404);
  CHECK(body.at("error").as_string().find("no cluster view") != json::string::npos);
  // Not a POST route, and no trailing slash.
  CHECK(handle(post("/cluster", "t"), sample_snapshot(), {}).res.result_int() == 405);
  CHECK(handle(get("/cluster/"), with_cluster(), {}).res.result_int() == 404);
}

TEST_CASE("cluster: an empty view renders, and names that need escaping stay JSON") {
  ftq::engine_snapshot s = sample_snapshot();
  s.cluster = ftq::cluster_view{};
  const json::object empty = body_of(get("/cluster"), s);
  CHECK(empty.at("worker").as_string() == "");
  CHECK(empty.at("queries").as_array().empty());
  CHECK(empty.at("takeovers").to_number<int>() == 0);

  s.cluster = sample_cluster();
  s.cluster->worker = "host \"a\"\\1\n";
  s.cluster->queries[0].history[1].why = "took over: lease of \"b\" lapsed\t";
  const json::object escaped = body_of(get("/cluster"), s);
  CHECK(escaped.at("worker").as_string() == "host \"a\"\\1\n");
  CHECK(escaped.at("queries").at(0).at("history").at(1).at("why").as_string() == "took over: lease of \"b\" lapsed\t");
}

TEST_CASE("cluster: times before 1970 and with every millisecond digit print as ISO 8601 UTC") {
  ftq::cluster_view c;
  ftq::cluster_query q;
  q.id = "x";
  q.lease_until = sys_time(std::chrono::milliseconds(-1));
  q.history.push_back({sys_time(std::chrono::milliseconds(86400000LL * 365 + 45296789)), "a", "b", "c"});
  c.queries.push_back(q);
  const json::value v = json::parse(ftq::status::cluster_json(c));
  CHECK(v.at("queries").at(0).at("lease_until").as_string() == "1969-12-31T23:59:59.999Z");
  CHECK(v.at("queries").at(0).at("history").at(0).at("at").as_string() == "1971-01-01T12:34:56.789Z");
}

TEST_CASE("cluster_store_json has the shape of ftq status --json") {
  const ftq::cluster_view c = sample_cluster();
  const json::object v = json::parse(ftq::status::cluster_store_json(c)).as_object();
  CHECK(v.size() == 2);
  CHECK(v.at("store").as_string() == "rados://ftq/jobs");
  CHECK(v.at("queries") == json::parse(ftq::status::cluster_json(c)).at("queries"));
}

TEST_CASE("parts_for asks for the cluster view where it is rendered") {
  using ftq::has;
  using ftq::snapshot_parts;
  CHECK(parts_for(get("/cluster")) == snapshot_parts::cluster);
  CHECK(has(parts_for(get("/status")), snapshot_parts::cluster));
  CHECK(has(parts_for(get("/metrics")), snapshot_parts::cluster));
  CHECK_FALSE(has(parts_for(get("/queries/3")), snapshot_parts::cluster));
  CHECK_FALSE(has(parts_for(get("/failures")), snapshot_parts::cluster));
  CHECK_FALSE(has(parts_for(get("/healthz")), snapshot_parts::cluster));
  CHECK(has(snapshot_parts::all, snapshot_parts::cluster));
}
