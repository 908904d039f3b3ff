#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "unit/status/response_check.hpp"
#include "unit/status/sample_snapshot.hpp"

using namespace ftq::test;
namespace http = boost::beast::http;

namespace {

const std::string token = "s3cret-token-0123456789";

const std::vector<std::string>& seeds() {
  static const std::vector<std::string> s = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "HEAD /status HTTP/1.1\r\n\r\n",
      "GET /queries/3 HTTP/1.0\r\n\r\n",
      "GET /failures?query=q1&operator=1&since=5m&limit=2 HTTP/1.1\r\n\r\n",
      "GET /checkpoints?query=3 HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\n",
      "POST /queries/3/cancel?checkpoint=true HTTP/1.1\r\nAuthorization: Bearer " + token +
          "\r\nContent-Length: 2\r\n\r\n{}",
      "POST /queries/3/checkpoint HTTP/1.1\r\nAuthorization: Bearer " + token +
          "\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
  };
  return s;
}

// One input: random bytes, or a real request with a few bytes flipped, inserted, cut or repeated.
std::string next_input(std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  if (pick(4) == 0) {
    std::string s(pick(300), '\0');
    for (char& c : s) {
      c = static_cast<char>(rng());
    }
    return s;
  }
  std::string s = seeds()[pick(seeds().size())];
  const std::size_t edits = 1 + pick(4);
  static const std::string alphabet = "\r\n :/?&=%0123456789abcGETPOSTHEAD\t\"\\\x00\xff";
  for (std::size_t e = 0; e < edits && !s.empty(); ++e) {
    const std::size_t at = pick(s.size());
    switch (pick(5)) {
      case 0:
        s[at] = static_cast<char>(rng());
        break;
      case 1:
        s.insert(at, 1, alphabet[pick(alphabet.size())]);
        break;
      case 2:
        s.erase(at, 1 + pick(8));
        break;
      case 3:
        s.resize(at);
        break;
      default:
        s.insert(at, s.substr(at, pick(32)));
        break;
    }
  }
  return s;
}

}  // namespace

TEST_CASE("20,000 random and mutated requests each get one well-formed HTTP/1.1 response") {
  const ftq::engine_snapshot snap = sample_snapshot();
  const std::set<unsigned> allowed = {200, 202, 304, 400, 401, 403, 404, 405, 409, 413, 431, 500};
  std::mt19937_64 rng(20251126);
  std::map<unsigned, int> statuses;
  int failures = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string in = next_input(rng);
    const std::string out = ftq::status::respond_to_bytes(in, snap, {.token = token}, {});
    const bool head = in.starts_with("HEAD ");
    checked_response c = check_response(out, head);
    if (!c.problem.empty() && head) {
      // A HEAD line the parser rejected gets a whole 400 body.
      c = check_response(out, false);
    }
    if (!c.problem.empty() || !allowed.contains(c.res.result_int())) {
      if (++failures <= 5) {
        FAIL_CHECK("input " << i << ": " << (c.problem.empty() ? "unexpected status" : c.problem) << "\nin:  " << in
                            << "\nout: " << out);
      }
      continue;
    }
    ++statuses[c.res.result_int()];
    if (c.res[http::field::content_type] == "application/json" && !c.res.body().empty()) {
      boost::system::error_code ec;
      const auto body = boost::json::parse(c.res.body(), ec);  // checks UTF-8 too
      const bool error_shape =
          c.res.result_int() < 400 || (body.is_object() && body.as_object().contains("error") &&
                                       body.at("status").to_number<unsigned>() == c.res.result_int());
      if ((ec || !error_shape) && ++failures <= 5) {
        FAIL_CHECK("input " << i << ": body not JSON or not an error body\nin:  " << in << "\nout: " << out);
      }
    }
  }
  CHECK(failures == 0);
  // The mutations reach past the parser: the loop sees successes and several kinds of refusal.
  CHECK(statuses[200] > 1000);
  CHECK(statuses[400] > 1000);
  CHECK(statuses[404] > 100);
  CHECK(statuses[202] > 10);
  CHECK(statuses[500] == 0);
}
