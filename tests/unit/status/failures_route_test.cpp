#include "status/status_handler.hpp"

#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "unit/status/handler_calls.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace json = boost::json;
using namespace ftq::test;

namespace {

const ftq::engine_snapshot& snap() {
  static const ftq::engine_snapshot s = sample_snapshot();
  return s;
}

struct listing {
  std::vector<int> seqs;
  std::uint64_t total = 0;
};

listing failures(std::string_view target) {
  const auto res = ftq::status::handle(get(target), snap(), {}).res;
  REQUIRE(res.result_int() == 200);
  const auto body = json_of(res).as_object();
  listing out;
  out.total = body.at("total").to_number<std::uint64_t>();
  for (const auto& r : body.at("failures").as_array()) {
    out.seqs.push_back(r.at("seq").to_number<int>());
  }
  return out;
}

using seqs = std::vector<int>;

// The error message of a 400, which must name the offending parameter.
std::string bad_request(std::string_view target) {
  const auto res = ftq::status::handle(get(target), snap(), {}).res;
  CHECK(res.result_int() == 400);
  const auto body = json_of(res);
  CHECK(body.at("status").to_number<int>() == 400);
  return std::string(body.at("error").as_string());
}

}  // namespace

TEST_CASE("failures lists the history oldest first, every field of a record") {
  const auto res = ftq::status::handle(get("/failures"), snap(), {}).res;
  REQUIRE(res.result_int() == 200);
  const auto body = json_of(res).as_object();
  CHECK(body.at("total").to_number<int>() == 6);
  const auto& list = body.at("failures").as_array();
  REQUIRE(list.size() == 6);
  const auto& r = list[3].as_object();
  CHECK(r.at("seq").to_number<int>() == 4);
  CHECK(r.at("time_unix_ms").as_int64() == sample_start_ms + 5000);
  CHECK(r.at("query").as_string() == "q6");
  CHECK(r.at("operator_id").to_number<int>() == 1);
  CHECK(r.at("operator").as_string() == "filter");
  CHECK(r.at("class").as_string() == "operator_fault");
  CHECK(r.at("message").as_string() == "injected failure #4");
  CHECK(r.at("attempt").to_number<int>() == 1);
  CHECK(r.at("recovery").as_string() == "fail");
  CHECK(r.at("outcome").as_string() == "failed");
  CHECK(r.size() == 10);
  CHECK(failures("/failures").seqs == seqs{1, 2, 3, 4, 5, 6});
}

TEST_CASE("failures?query= takes the numeric id, the plan name or the checkpoint id") {
  CHECK(failures("/failures?query=3").seqs == seqs{1, 2, 5});  // q1's id: filed under its checkpoint id
  CHECK(failures("/failures?query=q1").seqs == seqs{1, 2, 5});
  CHECK(failures("/failures?query=q1-0123456789abcdef").seqs == seqs{1, 2, 5});
  CHECK(failures("/failures?query=4").seqs == seqs{3, 6});  // join: no checkpoints, filed by name
  CHECK(failures("/failures?query=join").seqs == seqs{3, 6});
  CHECK(failures("/failures?query=q6").seqs == seqs{4});
  CHECK(failures("/failures?query=1").seqs == seqs{4});
  CHECK(failures("/failures?query=2").seqs.empty());  // topk never failed
  CHECK(failures("/failures?query=999").total == 0);
  CHECK(failures("/failures?query=q1%2d0123456789abcdef").seqs == seqs{1, 2, 5});
}

TEST_CASE("failures?operator= filters by operator id") {
  CHECK(failures("/failures?operator=1").seqs == seqs{1, 2, 4});
  CHECK(failures("/failures?operator=0").seqs == seqs{5});
  CHECK(failures("/failures?operator=7").seqs.empty());
  CHECK(failures("/failures?operator=4294967295").seqs.empty());
}

TEST_CASE("failures?since= takes unix ms or a duration before the snapshot's now") {
  CHECK(failures("/failures?since=" + std::to_string(sample_start_ms + 5000)).seqs == seqs{4, 5, 6});
  CHECK(failures("/failures?since=" + std::to_string(sample_start_ms + 5001)).seqs == seqs{5, 6});
  CHECK(failures("/failures?since=0").seqs.size() == 6);
  CHECK(failures("/failures?since=9223372036854").seqs.empty());  // the clock's last millisecond
  // now is start + 12.345 s: 8s ago is start + 4.345 s, 9s ago start + 3.345 s.
  CHECK(failures("/failures?since=8s").seqs == seqs{4, 5, 6});
  CHECK(failures("/failures?since=9s").seqs == seqs{3, 4, 5, 6});
  CHECK(failures("/failures?since=7345ms").seqs == seqs{4, 5, 6});
  CHECK(failures("/failures?since=1m").seqs.size() == 6);
  CHECK(failures("/failures?since=1s").seqs.empty());
  CHECK(failures("/failures?since=1000000h").seqs.size() == 6);  // before 1970: everything
  CHECK(failures("/failures?since=%38s").seqs == seqs{4, 5, 6});
}

TEST_CASE("failures?limit= returns the newest N and total counts all matches") {
  const auto two = failures("/failures?limit=2");
  CHECK(two.seqs == seqs{5, 6});
  CHECK(two.total == 6);
  const auto none = failures("/failures?limit=0");
  CHECK(none.seqs.empty());
  CHECK(none.total == 6);
  CHECK(failures("/failures?limit=100").seqs.size() == 6);
  CHECK(failures("/failures?limit=18446744073709551615").seqs.size() == 6);
}

TEST_CASE("failures filters combine") {
  const auto q1_newest = failures("/failures?query=q1&limit=1");
  CHECK(q1_newest.seqs == seqs{5});
  CHECK(q1_newest.total == 3);
  CHECK(failures("/failures?query=join&operator=2").seqs == seqs{3, 6});
  CHECK(failures("/failures?query=join&operator=1").seqs.empty());
  CHECK(failures("/failures?operator=1&since=6s").seqs.empty());
  CHECK(failures("/failures?operator=1&since=10s").seqs == seqs{2, 4});
  const auto all = failures("/failures?query=3&operator=1&since=11s&limit=1");
  CHECK(all.seqs == seqs{2});
  CHECK(all.total == 2);
  // Repeats: the last one counts. Unknown parameters are ignored.
  CHECK(failures("/failures?limit=1&limit=3").seqs == seqs{4, 5, 6});
  CHECK(failures("/failures?colour=blue&&limit=1&").seqs == seqs{6});
}

TEST_CASE("failures: empty parameters, as a form sends them, filter nothing") {
  const auto all = failures("/failures?query=&operator=&since=&limit=");
  CHECK(all.seqs.size() == 6);
  CHECK(all.total == 6);
}

TEST_CASE("failures: bad parameter values are 400 naming the parameter") {
  for (const char* target : {"/failures?limit=abc", "/failures?limit=-1", "/failures?limit=1.5",
                             "/failures?limit=99999999999999999999", "/failures?limit=%201"}) {
    CAPTURE(target);
    CHECK(bad_request(target).find("limit") == 0);
  }
  for (const char* target :
       {"/failures?since=xyz", "/failures?since=5x", "/failures?since=-5", "/failures?since=0s",
        "/failures?since=99999999999999999", "/failures?since=17601330040000", "/failures?since=9223372036855",
        "/failures?since=99999999999999999999h", "/failures?since=5%20m"}) {
    CAPTURE(target);
    CHECK(bad_request(target).find("since") == 0);
  }
  for (const char* target :
       {"/failures?operator=-1", "/failures?operator=abc", "/failures?operator=4294967296", "/failures?operator=1e3"}) {
    CAPTURE(target);
    CHECK(bad_request(target).find("operator") == 0);
  }
  CHECK(bad_request("/failures?query=%").find("percent") != std::string::npos);
  CHECK(bad_request("/failures?query=%4").find("percent") != std::string::npos);
  // The message quotes the value, cut short when it is long.
  CHECK(bad_request("/failures?limit=" + std::string(1000, 'x')).size() < 200);
}
