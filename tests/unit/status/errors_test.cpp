#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "status/dashboard_page.hpp"
#include "unit/status/handler_calls.hpp"
#include "unit/status/response_check.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace json = boost::json;
using namespace ftq::test;
using ftq::status::respond_to_bytes;

namespace {

const ftq::engine_snapshot& snap() {
  static const ftq::engine_snapshot s = sample_snapshot();
  return s;
}

const std::string token = "s3cret-token-0123456789";

ftq::status::response answer(const ftq::status::request& req) { return ftq::status::handle(req, snap(), {}).res; }

// Answers raw bytes and checks the answer is one well-formed response.
checked_response raw(std::string_view bytes, bool head = false) {
  const std::string out =
      respond_to_bytes(bytes, snap(), {.token = token}, {.max_header_bytes = 8192, .max_body_bytes = 4096});
  checked_response c = check_response(out, head);
  CHECK_MESSAGE(c.problem.empty(), c.problem, "\n", out);
  return c;
}

void check_error_body(const ftq::status::response& res, unsigned status) {
  CHECK(res.result_int() == status);
  CHECK(header(res, http::field::content_type) == "application/json");
  const auto body = json_of(res).as_object();
  CHECK(body.at("status").to_number<unsigned>() == status);
  CHECK(!body.at("error").as_string().empty());
  CHECK(body.size() == 2);
}

}  // namespace

TEST_CASE("unknown paths are 404 with a JSON error; paths match exactly") {
  for (const char* path :
       {"/nope", "/status/", "/healthz/", "//status", "/STATUS", "/st%61tus", "/queries", "/queries/3/",
        "/queries/3/foo", "/queries/3/cancel/", "/index.htm", "*", "http://127.0.0.1/status"}) {
    CAPTURE(path);
    check_error_body(answer(get(path)), 404);
  }
  CHECK(json_of(answer(get("/nope"))).at("error").as_string().find("/nope") != json::string::npos);
  // A path that is not UTF-8 is echoed repaired: the body stays JSON (a fuzzer finding).
  const auto body = json_of(answer(get("/lf\xe1sk")));
  CHECK(body.at("error").as_string().find("/lf\xef\xbf\xbdsk") != json::string::npos);
  // Cut in the middle of a character (the message quotes 64 bytes): still JSON.
  CHECK_NOTHROW(json_of(answer(get("/" + std::string(63, 'a') + "\xc3\xa9"))));
}

TEST_CASE("known paths with the wrong method are 405 with Allow") {
  for (const auto method :
       {http::verb::post, http::verb::put, http::verb::delete_, http::verb::options, http::verb::patch}) {
    for (const char* path :
         {"/", "/healthz", "/status", "/metrics", "/failures", "/checkpoints", "/cluster", "/queries/3"}) {
      CAPTURE(path);
      const auto res = answer(make_request(method, path));
      check_error_body(res, 405);
      CHECK(header(res, http::field::allow) == "GET, HEAD");
    }
  }
  auto unknown_method = get("/status");
  unknown_method.method_string("BREW");
  CHECK(answer(unknown_method).result_int() == 405);
}

TEST_CASE("error_response builds the JSON error body with the given version and connection") {
  const auto res =
      ftq::status::error_response(http::status::service_unavailable, "too many \"connections\"", 11, false);
  check_error_body(res, 503);
  CHECK(json_of(res).at("error").as_string() == "too many \"connections\"");
  CHECK_FALSE(res.keep_alive());
  CHECK(header(res, http::field::content_length) == std::to_string(res.body().size()));
  CHECK(header(res, http::field::server) == "ftq/" FTQ_VERSION);
}

TEST_CASE("respond_to_bytes answers a complete request as handle() does") {
  const auto c = raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(c.res.result_int() == 200);
  CHECK(json::parse(c.res.body()).at("status").as_string() == "ok");
  CHECK(c.res.keep_alive());
  const auto status = raw("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(json::parse(status.res.body()).at("queries").as_array().size() == 4);
  const auto post = raw("POST /queries/3/cancel?checkpoint=true HTTP/1.1\r\nAuthorization: Bearer " + token +
                        "\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(post.res.result_int() == 202);
  CHECK(json::parse(post.res.body()).at("action").as_string() == "stop");
}

TEST_CASE("respond_to_bytes: truncated requests and garbage are 400 and close the connection") {
  for (const std::string& bytes :
       {std::string(""), std::string("GET /status HTTP/1.1\r\nHost: x\r\n"), std::string("GET /status HTT"),
        std::string("GET /status HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
        std::string("POST /queries/3/cancel HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
        std::string("\x00\x01\x02\xff\r\n\r\n", 8), std::string("GET\r\n\r\n"), std::string("GET / HTTP/9\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        std::string("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n")}) {
    CAPTURE(bytes);
    const auto c = raw(bytes);
    check_error_body(c.res, 400);
    CHECK_FALSE(c.res.keep_alive());
  }
}

TEST_CASE("respond_to_bytes: headers over the limit are 431, a body over it 413") {
  const auto big_header = raw("GET /status HTTP/1.1\r\nX-Fill: " + std::string(9000, 'a') + "\r\n\r\n");
  check_error_body(big_header.res, 431);
  CHECK_FALSE(big_header.res.keep_alive());
  // Headers still arriving when the limit is passed: no need to see their end.
  check_error_body(raw("GET /status HTTP/1.1\r\nX-Fill: " + std::string(9000, 'a')).res, 431);

  // Content-Length over the limit is refused before any body byte arrives.
  const auto declared = raw("POST /queries/3/cancel HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
  check_error_body(declared.res, 413);
  CHECK_FALSE(declared.res.keep_alive());
  std::string chunked = "POST /queries/3/cancel HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) {
    chunked += "400\r\n" + std::string(1024, 'x') + "\r\n";
  }
  chunked += "0\r\n\r\n";
  check_error_body(raw(chunked).res, 413);
  const auto small = raw("POST /queries/3/cancel HTTP/1.1\r\nAuthorization: Bearer " + token +
                         "\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  CHECK(small.res.result_int() == 202);
  // At the limit exactly is fine.
  CHECK(raw("GET /healthz HTTP/1.1\r\nContent-Length: 4096\r\n\r\n" + std::string(4096, 'b')).res.result_int() == 200);
}

TEST_CASE("respond_to_bytes: HTTP/1.0 gets an HTTP/1.1 answer that closes unless asked to keep it") {
  const auto old = raw("GET /healthz HTTP/1.0\r\n\r\n");
  CHECK(old.res.result_int() == 200);
  CHECK(old.res.version() == 11);
  CHECK_FALSE(old.res.keep_alive());
  const auto kept = raw("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK(header(kept.res, http::field::connection) == "keep-alive");
}

TEST_CASE("respond_to_bytes: keep-alive follows the request") {
  CHECK(raw("GET /healthz HTTP/1.1\r\n\r\n").res.keep_alive());
  CHECK_FALSE(raw("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n").res.keep_alive());
  CHECK_FALSE(raw("GET /healthz HTTP/1.1\r\nConnection: Close\r\n\r\n").res.keep_alive());
}

TEST_CASE("respond_to_bytes: pipelined requests after the first are left for the next call") {
  const auto c = raw("GET /healthz HTTP/1.1\r\n\r\nGET /status HTTP/1.1\r\n\r\n");
  CHECK(c.res.result_int() == 200);
  CHECK(json::parse(c.res.body()).at("status").as_string() == "ok");
}

TEST_CASE("respond_to_bytes: HEAD gets headers only") {
  const auto c = raw("HEAD /status HTTP/1.1\r\n\r\n", true);
  CHECK(c.res.result_int() == 200);
  CHECK(c.res.body().empty());
  CHECK(std::stoul(std::string(c.res[http::field::content_length])) > 100);
}

TEST_CASE("respond_to_bytes: every status the handler chooses comes through whole") {
  CHECK(raw("GET /nope HTTP/1.1\r\n\r\n").res.result_int() == 404);
  CHECK(raw("PUT /status HTTP/1.1\r\n\r\n").res.result_int() == 405);
  CHECK(raw("GET /failures?limit=x HTTP/1.1\r\n\r\n").res.result_int() == 400);
  CHECK(raw("POST /queries/3/cancel HTTP/1.1\r\n\r\n").res.result_int() == 401);
  CHECK(raw("POST /queries/2/cancel HTTP/1.1\r\nAuthorization: Bearer " + token + "\r\n\r\n").res.result_int() == 409);
  const auto not_modified = raw("GET / HTTP/1.1\r\nIf-None-Match: " + ftq::status::dashboard().etag + "\r\n\r\n");
  CHECK(not_modified.res.result_int() == 304);
  CHECK(not_modified.res.body().empty());
}
