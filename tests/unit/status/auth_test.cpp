#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "unit/status/handler_calls.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace json = boost::json;
using namespace ftq::test;
using ftq::status::action_kind;
using ftq::status::token_matches;

namespace {

const std::string token = "s3cret-token-0123456789";

const ftq::engine_snapshot& snap() {
  static const ftq::engine_snapshot s = sample_snapshot();
  return s;
}

ftq::status::reply call(const ftq::status::request& req, std::string configured = token) {
  return ftq::status::handle(req, snap(), {.token = std::move(configured)});
}

ftq::status::request with_authorization(std::string_view target, std::string_view value) {
  auto req = make_request(http::verb::post, target);
  req.set(http::field::authorization, value);
  return req;
}

void check_unauthorized(const ftq::status::reply& r) {
  CHECK(r.res.result_int() == 401);
  CHECK(header(r.res, http::field::www_authenticate) == "Bearer realm=\"ftq\"");
  CHECK(json_of(r.res).at("status").to_number<int>() == 401);
  CHECK(r.act.kind == action_kind::none);
}

}  // namespace

TEST_CASE("token_matches: equal tokens only") {
  CHECK(token_matches(token, token));
  CHECK(token_matches(std::string(token), token));               // equal content, different storage
  CHECK_FALSE(token_matches("s3cret-token-0123456780", token));  // same length, last byte differs
  CHECK_FALSE(token_matches("s3cret-token-012345678", token));   // a prefix
  CHECK_FALSE(token_matches(token + "9", token));                // longer
  CHECK_FALSE(token_matches("S3CRET-TOKEN-0123456789", token));  // case differs
  CHECK_FALSE(token_matches("", token));
  CHECK_FALSE(token_matches("", ""));  // nothing configured matches nothing
  CHECK_FALSE(token_matches("x", ""));
  CHECK_FALSE(token_matches(std::string("s3cret\0token", 12), "s3cret"));  // an embedded NUL does not cut
}

TEST_CASE("POST endpoints are off (403) without a configured token, whatever is presented") {
  for (const char* target : {"/queries/3/cancel", "/queries/3/checkpoint", "/queries/999/cancel"}) {
    CAPTURE(target);
    const auto r = call(post(target, token), "");
    CHECK(r.res.result_int() == 403);
    CHECK(json_of(r.res).at("status").to_number<int>() == 403);
    CHECK(r.act.kind == action_kind::none);
  }
}

TEST_CASE("POST without the right bearer token is 401 with WWW-Authenticate") {
  check_unauthorized(call(post("/queries/3/cancel", "")));                                 // no header
  check_unauthorized(call(post("/queries/3/cancel", "wrong-token-0123456789")));           // wrong
  check_unauthorized(call(post("/queries/3/cancel", token.substr(0, token.size() - 1))));  // a prefix
  check_unauthorized(call(post("/queries/3/cancel", token + "0")));                        // longer
  check_unauthorized(call(with_authorization("/queries/3/cancel", "Basic " + token)));     // scheme
  check_unauthorized(call(with_authorization("/queries/3/cancel", "Bearer")));
  check_unauthorized(call(with_authorization("/queries/3/cancel", "Bearer ")));
  check_unauthorized(call(with_authorization("/queries/3/cancel", token)));  // no scheme at all
  check_unauthorized(call(with_authorization("/queries/3/cancel", "Bearer" + token)));
  check_unauthorized(call(with_authorization("/queries/3/cancel", "Bearer " + token + " extra")));
  // Authorization comes before anything about the query: an outsider learns nothing.
  check_unauthorized(call(post("/queries/999/cancel", "")));
  check_unauthorized(call(post("/queries/abc/checkpoint", "nope")));
}

TEST_CASE("the Bearer scheme is case-insensitive and spaces around the token do not count") {
  for (const std::string& value : {"bearer " + token, "BEARER " + token, "Bearer   " + token, "Bearer\t" + token}) {
    CAPTURE(value);
    const auto r = call(with_authorization("/queries/3/cancel", value));
    CHECK(r.res.result_int() == 202);
    CHECK(r.act.kind == action_kind::cancel);
  }
}

TEST_CASE("cancel with the right token is accepted (202) and asks for the cancel") {
  const auto r = call(post("/queries/3/cancel", token));
  REQUIRE(r.res.result_int() == 202);
  CHECK(header(r.res, http::field::content_type) == "application/json");
  CHECK(json_of(r.res) == json::parse(R"({"query": 3, "action": "cancel", "accepted": true})"));
  CHECK(r.act.kind == action_kind::cancel);
  CHECK(r.act.query_id == 3);
}

TEST_CASE("cancel?checkpoint=true stops after a final checkpoint; false is a plain cancel") {
  const auto stop = call(post("/queries/3/cancel?checkpoint=true", token));
  REQUIRE(stop.res.result_int() == 202);
  CHECK(json_of(stop.res).at("action").as_string() == "stop");
  CHECK(stop.act.kind == action_kind::stop);
  CHECK(stop.act.query_id == 3);
  CHECK(call(post("/queries/3/cancel?checkpoint=1", token)).act.kind == action_kind::stop);
  CHECK(call(post("/queries/3/cancel?checkpoint=false", token)).act.kind == action_kind::cancel);
  CHECK(call(post("/queries/3/cancel?checkpoint=0", token)).act.kind == action_kind::cancel);
  CHECK(call(post("/queries/4/cancel?checkpoint=", token)).act.kind == action_kind::cancel);
  const auto bad = call(post("/queries/3/cancel?checkpoint=maybe", token));
  CHECK(bad.res.result_int() == 400);
  CHECK(json_of(bad.res).at("error").as_string().find("checkpoint") == 0);
  CHECK(bad.act.kind == action_kind::none);
}

TEST_CASE("checkpoint with the right token is accepted for a running query that checkpoints") {
  const auto r = call(post("/queries/3/checkpoint", token));
  REQUIRE(r.res.result_int() == 202);
  CHECK(json_of(r.res) == json::parse(R"({"query": 3, "action": "checkpoint", "accepted": true})"));
  CHECK(r.act.kind == action_kind::checkpoint);
  CHECK(r.act.query_id == 3);
}

TEST_CASE("actions on unknown queries are 404, on queries that are not running 409") {
  const auto unknown = call(post("/queries/999/cancel", token));
  CHECK(unknown.res.result_int() == 404);
  CHECK(unknown.act.kind == action_kind::none);
  CHECK(call(post("/queries/999/checkpoint", token)).res.result_int() == 404);

  for (const char* target : {"/queries/2/cancel", "/queries/1/cancel", "/queries/2/checkpoint"}) {
    CAPTURE(target);
    const auto r = call(post(target, token));
    CHECK(r.res.result_int() == 409);
    CHECK(json_of(r.res).at("error").as_string().find("not running") != json::string::npos);
    CHECK(r.act.kind == action_kind::none);
  }
  // Running, but without checkpoints: cancel applies, a checkpoint does not.
  const auto no_checkpoints = call(post("/queries/4/checkpoint", token));
  CHECK(no_checkpoints.res.result_int() == 409);
  CHECK(json_of(no_checkpoints.res).at("error").as_string().find("no checkpoints") != json::string::npos);
  CHECK(call(post("/queries/4/cancel", token)).act.kind == action_kind::cancel);

  ftq::engine_snapshot prepared = sample_snapshot();
  prepared.queries[0].state = ftq::query_state::prepared;
  CHECK(ftq::status::handle(post("/queries/3/cancel", token), prepared, {.token = token}).res.result_int() == 409);
}

TEST_CASE("actions with a bad id are 400 once authorized") {
  for (const char* target : {"/queries/abc/cancel", "/queries//cancel", "/queries/-3/checkpoint"}) {
    CAPTURE(target);
    const auto r = call(post(target, token));
    CHECK(r.res.result_int() == 400);
    CHECK(r.act.kind == action_kind::none);
  }
}

TEST_CASE("action paths answer only POST (405 Allow: POST); read paths refuse POST") {
  for (const auto method : {http::verb::get, http::verb::head, http::verb::put, http::verb::delete_}) {
    const auto r = call(make_request(method, "/queries/3/cancel"));
    CHECK(r.res.result_int() == 405);
    CHECK(header(r.res, http::field::allow) == "POST");
    CHECK(r.act.kind == action_kind::none);
  }
  const auto r = call(post("/status", token));
  CHECK(r.res.result_int() == 405);
  CHECK(header(r.res, http::field::allow) == "GET, HEAD");
  CHECK(r.act.kind == action_kind::none);
}

TEST_CASE("a body on POST is ignored") {
  auto req = post("/queries/3/checkpoint", token);
  req.body() = "{\"query\": 4}";
  req.prepare_payload();
  const auto r = call(req);
  CHECK(r.res.result_int() == 202);
  CHECK(r.act.query_id == 3);
}
