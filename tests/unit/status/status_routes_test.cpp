#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "status/dashboard_page.hpp"
#include "unit/status/handler_calls.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace json = boost::json;
using namespace ftq::test;
using ftq::status::handle;
using ftq::status::parts_for;

namespace {

const ftq::engine_snapshot& snap() {
  static const ftq::engine_snapshot s = sample_snapshot();
  return s;
}

ftq::status::response answer(const ftq::status::request& req) { return handle(req, snap(), {}).res; }

// The number a JSON value holds, whichever of int64, uint64 or double Boost.JSON chose.
double num(const json::value& v) { return json::value_to<double>(v); }

}  // namespace

TEST_CASE("healthz answers ok with the version and uptime, as JSON that no cache keeps") {
  const auto res = answer(get("/healthz"));
  CHECK(res.result_int() == 200);
  CHECK(header(res, http::field::content_type) == "application/json");
  CHECK(header(res, http::field::cache_control) == "no-store");
  CHECK(header(res, http::field::server) == "ftq/" FTQ_VERSION);
  CHECK(header(res, http::field::content_length) == std::to_string(res.body().size()));
  const auto body = json_of(res).as_object();
  CHECK(body.at("status").as_string() == "ok");
  CHECK(body.at("version").as_string() == "0.1.0");
  CHECK(body.at("uptime_s").as_double() == doctest::Approx(12.345));
  CHECK(body.size() == 3);
}

TEST_CASE("status renders the engine with numbers as numbers and times as unix ms") {
  const auto res = answer(get("/status"));
  REQUIRE(res.result_int() == 200);
  const auto body = json_of(res).as_object();
  const auto& e = body.at("engine").as_object();
  CHECK(e.at("version").as_string() == "0.1.0");
  CHECK(e.at("io_backend").as_string() == "io_uring");
  CHECK(e.at("io_backend_reason").as_string() == "probe passed");
  CHECK(e.at("started_unix_ms").as_int64() == sample_start_ms);
  CHECK(e.at("now_unix_ms").as_int64() == sample_start_ms + 12345);
  CHECK(e.at("uptime_s").as_double() == doctest::Approx(12.345));
  CHECK(e.at("concurrency").to_number<int>() == 1);
  CHECK(e.at("batch_rows").to_number<int>() == 4096);
  CHECK(e.at("queries_running").to_number<int>() == 2);
  const auto& queries = body.at("queries").as_array();
  REQUIRE(queries.size() == 4);
  CHECK(queries[0].at("id").to_number<int>() == 3);
  CHECK(queries[1].at("id").to_number<int>() == 4);
  CHECK(queries[2].at("id").to_number<int>() == 2);
  CHECK(queries[3].at("id").to_number<int>() == 1);
}

TEST_CASE("status renders a running query with checkpoints field by field") {
  const auto body = json_of(answer(get("/status")));
  const auto& q = body.at("queries").at(0).as_object();
  CHECK(q.at("name").as_string() == "q1");
  CHECK(q.at("state").as_string() == "running");
  CHECK(q.at("error").as_string() == "");
  CHECK(q.at("priority").to_number<int>() == 2);
  CHECK(q.at("checkpoint_id").as_string() == "q1-0123456789abcdef");
  CHECK(q.at("rows_done").to_number<std::uint64_t>() == 5000000);
  CHECK(q.at("rows_total").to_number<std::uint64_t>() == 10000000);
  CHECK(q.at("bytes_done").to_number<int>() == 250);
  CHECK(q.at("bytes_total").to_number<int>() == 1000);
  CHECK(q.at("rows_out").to_number<int>() == 7);
  CHECK(num(q.at("percent")) == doctest::Approx(25.0));  // by bytes: a CSV source
  CHECK(q.at("started_unix_ms").as_int64() == sample_start_ms + 1000);
  CHECK(q.at("finished_unix_ms").is_null());
  CHECK(q.at("elapsed_s").as_double() == doctest::Approx(11.345));
  CHECK(q.at("eta_s").as_double() == doctest::Approx(34.035));
  const auto& ft = q.at("fault_tolerance").as_object();
  CHECK(ft.at("failures").to_number<int>() == 3);
  CHECK(ft.at("retries").to_number<int>() == 1);
  CHECK(ft.at("operator_restores").to_number<int>() == 1);
  CHECK(ft.at("pipeline_restarts").to_number<int>() == 0);
  CHECK(ft.at("rows_replayed").to_number<int>() == 8192);
  CHECK(num(ft.at("backoff_s")) == doctest::Approx(0.2));
  CHECK(num(ft.at("restore_s")) == doctest::Approx(0.01));
  CHECK(num(ft.at("recovery_s")) == doctest::Approx(0.3));
  CHECK(ft.at("resumed").as_bool() == false);
  CHECK(ft.size() == 14);
  CHECK(num(q.at("retry_budget_left")) == doctest::Approx(18.5));
  CHECK(q.at("recovery_policy").as_string() == "transient=retry,operator_fault=restore_operator");

  const auto& c = q.at("checkpoint").as_object();
  CHECK(c.at("backend").as_string() == "io_uring");
  CHECK(c.at("commits").to_number<int>() == 4);
  CHECK(c.at("deltas").to_number<int>() == 3);
  CHECK(c.at("failures").to_number<int>() == 0);
  const auto& last = c.at("last").as_object();
  CHECK(last.at("epoch").to_number<int>() == 4);
  CHECK(num(last.at("age_s")) == doctest::Approx(0.345));  // now 12.345 s, epoch 4 made at 12.0 s
  CHECK(last.at("raw_bytes").to_number<int>() == 123456);
  CHECK(last.at("stored_bytes").to_number<int>() == 23456);
  CHECK(last.at("kind").as_string() == "delta");
  CHECK(num(last.at("commit_s")) == doctest::Approx(0.004));
  CHECK(c.at("last_error").as_string() == "");
  const auto& interval = c.at("interval").as_object();
  CHECK(interval.at("adaptive").as_bool());
  CHECK(num(interval.at("interval_s")) == doctest::Approx(2.0));
  CHECK(num(interval.at("cost_s")) == doctest::Approx(0.004));
  CHECK(num(interval.at("mtbf_s")) == doctest::Approx(3600.0));
  CHECK(interval.at("failures").to_number<int>() == 2);
  CHECK(num(interval.at("observed_s")) == doctest::Approx(11.3));
  CHECK(interval.at("formula").as_string() == "daly");

  const auto& ops = q.at("operators").as_array();
  REQUIRE(ops.size() == 3);
  const auto& filter = ops[1].as_object();
  CHECK(filter.at("id").to_number<int>() == 1);
  CHECK(filter.at("name").as_string() == "filter");
  CHECK(filter.at("plan_path").as_string() == "input");
  CHECK(filter.at("children") == json::array{0});
  CHECK(filter.at("state").as_string() == "backing_off");
  CHECK(filter.at("rows_in").to_number<int>() == 5000000);
  CHECK(filter.at("rows_out").to_number<int>() == 4999000);
  CHECK(filter.at("batches_out").to_number<int>() == 1221);
  CHECK(filter.at("failures").to_number<int>() == 2);
  CHECK(filter.at("breaker").as_string() == "half_open");
  CHECK(num(filter.at("failure_rate")) == doctest::Approx(0.25));
  CHECK(num(filter.at("phi")) == doctest::Approx(0.5));
  CHECK(filter.at("retry_attempts_left").to_number<int>() == 3);
  const auto& lc = filter.at("last_checkpoint").as_object();
  CHECK(lc.at("epoch").to_number<int>() == 4);
  CHECK(num(lc.at("age_s")) == doctest::Approx(0.345));
  CHECK(lc.at("raw_bytes").to_number<int>() == 120);
  CHECK(lc.at("stored_bytes").to_number<int>() == 80);
  CHECK(lc.at("kind").as_string() == "delta");
  CHECK(ops[2].at("last_checkpoint").at("kind").as_string() == "full");
  CHECK(ops[0].at("children").as_array().empty());
}

TEST_CASE("status renders nulls: no checkpoints, no eta before progress or after the end") {
  const auto body = json_of(answer(get("/status")));
  const auto& join = body.at("queries").at(1).as_object();
  CHECK(join.at("checkpoint").is_null());
  CHECK(join.at("eta_s").is_null());
  CHECK(join.at("checkpoint_id").as_string() == "");
  CHECK(num(join.at("percent")) == 0.0);
  const auto& ops = join.at("operators").as_array();
  REQUIRE(ops.size() == 4);
  for (const auto& op : ops) {
    CHECK(op.at("last_checkpoint").is_null());
  }
  CHECK(ops[0].at("state").as_string() == "idle");
  CHECK(ops[2].at("state").as_string() == "recovering");
  CHECK(ops[2].at("breaker").as_string() == "open");
  CHECK(ops[2].at("children") == json::array{0, 1});

  const auto& topk = body.at("queries").at(2).as_object();
  CHECK(topk.at("state").as_string() == "succeeded");
  CHECK(topk.at("eta_s").is_null());  // it had an eta, but it is finished
  CHECK(topk.at("finished_unix_ms").as_int64() == sample_start_ms + 9000);
  CHECK(num(topk.at("percent")) == 100.0);  // an estimate said 90%, but it succeeded
  CHECK(topk.at("checkpoint").at("last").at("kind").as_string() == "full");
  CHECK(num(topk.at("checkpoint").at("last").at("age_s")) == doctest::Approx(4.345));
  CHECK(topk.at("operators").at(1).at("state").as_string() == "finished");

  const auto& q6 = body.at("queries").at(3).as_object();
  CHECK(q6.at("state").as_string() == "failed");
  CHECK(q6.at("error").as_string() == "operator 1 (filter) failed: \"boom\"\nretries exhausted");
  CHECK(q6.at("operators").at(0).at("state").as_string() == "failed");
}

TEST_CASE("status: a query with a checkpoint id but no commit yet has a null last checkpoint") {
  ftq::engine_snapshot s = sample_snapshot();
  s.queries[0].checkpoints = {};
  s.queries[0].checkpoint_list.clear();
  const auto body = json_of(handle(get("/status"), s, {}).res);
  const auto& c = body.at("queries").at(0).at("checkpoint");
  CHECK(c.at("last").is_null());
  CHECK(c.at("commits").to_number<int>() == 0);
}

TEST_CASE("status: the last checkpoint's age comes from an operator's section without a list") {
  ftq::engine_snapshot s = sample_snapshot();
  s.queries[0].checkpoint_list.clear();
  const auto body = json_of(handle(get("/status"), s, {}).res);
  CHECK(num(body.at("queries").at(0).at("checkpoint").at("last").at("age_s")) == doctest::Approx(0.345));
  s.queries[0].operators.clear();
  const auto bare = json_of(handle(get("/status"), s, {}).res);
  CHECK(bare.at("queries").at(0).at("checkpoint").at("last").at("age_s").is_null());
}

TEST_CASE("status: non-finite doubles become null and the body stays JSON") {
  ftq::engine_snapshot s = sample_snapshot();
  s.queries[0].operators[0].phi = std::numeric_limits<double>::infinity();
  s.queries[0].retry_budget_left = std::numeric_limits<double>::quiet_NaN();
  const auto body = json_of(handle(get("/status"), s, {}).res);
  CHECK(body.at("queries").at(0).at("operators").at(0).at("phi").is_null());
  CHECK(body.at("queries").at(0).at("retry_budget_left").is_null());
}

TEST_CASE("queries/{id} renders the query as /status does") {
  const auto all = json_of(answer(get("/status")));
  for (std::size_t i = 0; i < 4; ++i) {
    const auto& expected = all.at("queries").at(i);
    const auto id = expected.at("id").to_number<std::uint64_t>();
    const auto res = answer(get("/queries/" + std::to_string(id)));
    REQUIRE(res.result_int() == 200);
    CHECK(json_of(res) == expected);
  }
}

TEST_CASE("queries/{id}: unknown ids are 404, ids that are not decimal u64 are 400") {
  CHECK(answer(get("/queries/999")).result_int() == 404);
  CHECK(json_of(answer(get("/queries/999"))).at("status").to_number<int>() == 404);
  for (const char* bad : {"/queries/abc", "/queries/", "/queries/-1", "/queries/+3", "/queries/3x", "/queries/0x3",
                          "/queries/18446744073709551616", "/queries/%33"}) {
    CAPTURE(bad);
    const auto res = answer(get(bad));
    CHECK(res.result_int() == 400);
    CHECK(json_of(res).at("error").as_string().find("query id") != json::string::npos);
  }
  CHECK(answer(get("/queries/18446744073709551615")).result_int() == 404);
  CHECK(answer(get("/queries/003")).result_int() == 200);
}

TEST_CASE("checkpoints lists the queries that take checkpoints, each with its checkpoints") {
  const auto res = answer(get("/checkpoints"));
  REQUIRE(res.result_int() == 200);
  const auto body = json_of(res);
  const auto& queries = body.at("queries").as_array();
  REQUIRE(queries.size() == 2);
  const auto& q1 = queries[0].as_object();
  CHECK(q1.at("id").to_number<int>() == 3);
  CHECK(q1.at("name").as_string() == "q1");
  CHECK(q1.at("checkpoint_id").as_string() == "q1-0123456789abcdef");
  CHECK(q1.at("backend").as_string() == "io_uring");
  const auto& list = q1.at("checkpoints").as_array();
  REQUIRE(list.size() == 4);
  const auto& first = list[0].as_object();
  CHECK(first.at("epoch").to_number<int>() == 1);
  CHECK(first.at("kind").as_string() == "full");
  CHECK(first.at("base_epoch").to_number<int>() == 0);
  CHECK(first.at("created_unix_ms").as_int64() == sample_start_ms + 4500);
  CHECK(num(first.at("age_s")) == doctest::Approx(7.845));
  CHECK(first.at("raw_bytes").to_number<int>() == 100001);
  CHECK(first.at("stored_bytes").to_number<int>() == 20001);
  CHECK(num(first.at("commit_s")) == doctest::Approx(0.004));
  CHECK(first.at("retained").as_bool());
  CHECK(list[1].at("kind").as_string() == "delta");
  CHECK(list[1].at("base_epoch").to_number<int>() == 1);
  CHECK(list[1].at("retained").as_bool() == false);
  CHECK(queries[1].at("name").as_string() == "topk");
  CHECK(queries[1].at("backend").as_string() == "threads");
}

TEST_CASE("checkpoints?query= narrows to one query by id, name or checkpoint id") {
  auto names = [](std::string_view target) {
    std::vector<std::string> out;
    const auto body = json_of(answer(get(target)));
    for (const auto& q : body.at("queries").as_array()) {
      out.emplace_back(q.at("name").as_string());
    }
    return out;
  };
  CHECK(names("/checkpoints?query=3") == std::vector<std::string>{"q1"});
  CHECK(names("/checkpoints?query=topk") == std::vector<std::string>{"topk"});
  CHECK(names("/checkpoints?query=q1-0123456789abcdef") == std::vector<std::string>{"q1"});
  CHECK(names("/checkpoints?query=q1%2D0123456789abcdef") == std::vector<std::string>{"q1"});
  CHECK(names("/checkpoints?query=join").empty());  // it takes no checkpoints
  CHECK(names("/checkpoints?query=nope").empty());
  CHECK(names("/checkpoints?query=").size() == 2);
  CHECK(answer(get("/checkpoints?query=%G1")).result_int() == 400);
}

TEST_CASE("metrics answers in the Prometheus text format") {
  const auto res = answer(get("/metrics"));
  CHECK(res.result_int() == 200);
  CHECK(header(res, http::field::content_type) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res.body().find("ftq_queries_total{outcome=\"started\"} 4\n") != std::string::npos);
}

TEST_CASE("the dashboard is served at / and /index.html with an ETag, revalidated every time") {
  const auto& page = ftq::status::dashboard();
  REQUIRE(!page.html.empty());
  CHECK(page.html.find("<html") != std::string_view::npos);
  CHECK(page.etag.size() == 18);
  CHECK(page.etag.front() == '"');
  for (const char* path : {"/", "/index.html"}) {
    const auto res = answer(get(path));
    CHECK(res.result_int() == 200);
    CHECK(header(res, http::field::content_type) == "text/html; charset=utf-8");
    CHECK(header(res, http::field::cache_control) == "no-cache");
    CHECK(header(res, http::field::etag) == page.etag);
    CHECK(res.body() == page.html);
  }
  auto conditional = [](std::string value) {
    auto req = get("/");
    req.set(http::field::if_none_match, value);
    return answer(req);
  };
  const auto not_modified = conditional(page.etag);
  CHECK(not_modified.result_int() == 304);
  CHECK(not_modified.body().empty());
  CHECK(header(not_modified, http::field::etag) == page.etag);
  CHECK(header(not_modified, http::field::content_length) == "<absent>");
  CHECK(conditional("W/" + page.etag).result_int() == 304);
  CHECK(conditional("\"other\", " + page.etag).result_int() == 304);
  CHECK(conditional("*").result_int() == 304);
  CHECK(conditional("\"other\"").result_int() == 200);
  CHECK(conditional("").result_int() == 200);
}

TEST_CASE("etag_matches follows the weak comparison of If-None-Match") {
  using ftq::status::etag_matches;
  CHECK(etag_matches("\"a\"", "\"a\""));
  CHECK(etag_matches("W/\"a\"", "\"a\""));
  CHECK(etag_matches(" \"b\" ,\t\"a\" ", "\"a\""));
  CHECK(etag_matches("*", "\"a\""));
  CHECK_FALSE(etag_matches("\"a", "\"a\""));
  CHECK_FALSE(etag_matches("a", "\"a\""));
  CHECK_FALSE(etag_matches("", "\"a\""));
  CHECK_FALSE(etag_matches(",,", "\"a\""));
}

TEST_CASE("HEAD is answered like GET, with the GET body's length and no body") {
  for (const char* path : {"/status", "/healthz", "/metrics", "/", "/failures?limit=2", "/nope"}) {
    CAPTURE(path);
    const auto full = answer(get(path));
    const auto head = answer(make_request(http::verb::head, path));
    CHECK(head.result_int() == full.result_int());
    CHECK(head.body().empty());
    CHECK(header(head, http::field::content_length) == std::to_string(full.body().size()));
    CHECK(header(head, http::field::content_type) == header(full, http::field::content_type));
  }
}

TEST_CASE("responses keep the connection as the request asks, always as HTTP/1.1") {
  const auto plain = answer(get("/healthz"));
  CHECK(plain.version() == 11);
  CHECK(plain.keep_alive());
  CHECK(header(plain, http::field::connection) == "<absent>");

  auto closing = get("/healthz");
  closing.set(http::field::connection, "close");
  const auto closed = answer(closing);
  CHECK_FALSE(closed.keep_alive());
  CHECK(header(closed, http::field::connection) == "close");

  const auto old = answer(make_request(http::verb::get, "/healthz", 10));
  CHECK(old.version() == 11);
  CHECK(header(old, http::field::connection) == "close");

  auto old_keep = make_request(http::verb::get, "/healthz", 10);
  old_keep.set(http::field::connection, "keep-alive");
  const auto kept = answer(old_keep);
  CHECK(kept.version() == 11);
  CHECK(header(kept, http::field::connection) == "keep-alive");
}

TEST_CASE("a body on GET is ignored") {
  auto req = get("/healthz");
  req.body() = "{\"ignored\": true}";
  req.prepare_payload();
  const auto res = answer(req);
  CHECK(res.result_int() == 200);
  CHECK(json_of(res).at("status").as_string() == "ok");
}

TEST_CASE("parts_for asks for what each route renders and no more") {
  using ftq::has;
  using ftq::snapshot_parts;
  CHECK(parts_for(get("/healthz")) == snapshot_parts::engine);
  CHECK(parts_for(get("/")) == snapshot_parts::engine);
  CHECK(parts_for(get("/nope")) == snapshot_parts::engine);
  const auto status = parts_for(get("/status"));
  CHECK(has(status, snapshot_parts::queries));
  CHECK(has(status, snapshot_parts::operators));
  CHECK(has(status, snapshot_parts::checkpoints));
  CHECK_FALSE(has(status, snapshot_parts::failures));
  CHECK_FALSE(has(status, snapshot_parts::metrics));
  CHECK(has(status, snapshot_parts::cluster));
  CHECK(parts_for(get("/queries/3")) ==
        (snapshot_parts::queries | snapshot_parts::operators | snapshot_parts::checkpoints));
  CHECK(parts_for(get("/failures?limit=3")) == (snapshot_parts::queries | snapshot_parts::failures));
  CHECK(parts_for(get("/checkpoints")) == (snapshot_parts::queries | snapshot_parts::checkpoints));
  CHECK(parts_for(get("/metrics")) == (snapshot_parts::queries | snapshot_parts::metrics | snapshot_parts::cluster));
  CHECK(parts_for(get("/cluster")) == snapshot_parts::cluster);
  CHECK(parts_for(post("/queries/3/cancel", "t")) == snapshot_parts::queries);
  CHECK(parts_for(post("/queries/3/checkpoint", "t")) == snapshot_parts::queries);
  CHECK(parts_for(get("/queries/3/cancel")) == snapshot_parts::engine);
}

TEST_CASE("every route renders from an empty snapshot") {
  const ftq::engine_snapshot empty;
  for (const char* path :
       {"/", "/healthz", "/status", "/failures", "/checkpoints", "/metrics", "/queries/1", "/cluster"}) {
    CAPTURE(path);
    const auto res = handle(get(path), empty, {}).res;
    const std::string_view p(path);
    CHECK(res.result_int() == (p == "/queries/1" || p == "/cluster" ? 404 : 200));
  }
  CHECK(json_of(handle(get("/status"), empty, {}).res).at("queries").as_array().empty());
}
