// The status endpoint on loopback against live queries: every route, the auth rules, bad input
// (random bytes, truncated and oversized requests, a slowloris, too many connections), and
// afterwards the server still answers and the query's result is still exactly right.

#include <atomic>
#include <future>
#include <random>
#include <thread>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <ftq/checkpoint.hpp>
#include <ftq/engine.hpp>
#include <ftq/status.hpp>
#include <ftq/status_server.hpp>

#include "engine/query_impl.hpp"
#include "inject/fault_plan.hpp"
#include "support/engine_plans.hpp"
#include "support/http_client.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace ftq::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* token = "status-test-token-0123456789";

// The engine, its io_context on a thread of its own (as in a service), and a status server.
struct live_engine {
  explicit live_engine(const std::string& faults, status_server_options so = {}) {
    engine_options eo;
    eo.fault_tolerance.stall_detection = false;  // the injected stall keeps the query running
    if (!faults.empty()) {
      eo.fault_tolerance.faults = std::make_shared<inject::fault_plan>(inject::fault_plan::parse(faults));
    }
    eng = std::make_unique<engine>(io.get_executor(), eo);
    eng->register_table(make_engine_table(50000, 3000));
    checkpoints = std::make_shared<checkpoint_manager>(io.get_executor(), checkpoint_options_for(dir.path()));
    server = std::make_unique<status_server>(*eng, so);
    server->start();
    thread = std::thread([this] { io.run(); });
  }
  ~live_engine() {
    server->stop();
    eng->stop_all();
    guard.reset();
    thread.join();
  }
  live_engine(const live_engine&) = delete;
  live_engine& operator=(const live_engine&) = delete;

  std::future<query_state> run(query_ptr q) {
    auto done = std::make_shared<std::promise<query_state>>();
    auto f = done->get_future();
    boost::asio::co_spawn(io, eng->run(q), [this, q, done](std::exception_ptr, query_result r) {
      last_result = render(r);
      done->set_value(q->state());
    });
    return f;
  }

  query_ptr prepare(const plan& p) {
    query_options qo;
    qo.checkpoints.manager = checkpoints;
    qo.checkpoints.every_rows = 4000;
    return eng->prepare(p, qo);
  }

  std::uint16_t port() const { return server->local_endpoint().port(); }

  temp_dir dir{"ftq-status"};
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{io.get_executor()};
  std::unique_ptr<engine> eng;
  std::shared_ptr<checkpoint_manager> checkpoints;
  std::unique_ptr<status_server> server;
  std::thread thread;
  std::string last_result;
};

std::string fault_free_result(const plan& p) {
  boost::asio::io_context io;
  engine eng(io.get_executor());
  eng.register_table(make_engine_table(50000, 3000));
  return run_coro_on(io, [&](boost::asio::any_io_executor) -> boost::asio::awaitable<std::string> {
    const query_result r = co_await eng.execute(p);
    co_return render(r);
  });
}

json::value body_json(const http_reply& r) { return json::parse(r.body); }

// Polls `target` until `ready` says yes (or 10 s pass); returns the last JSON seen.
template <class Ready>
json::value poll(http_client& c, const std::string& target, Ready ready) {
  json::value v;
  for (int i = 0; i < 500; ++i) {
    const http_reply r = c.get(target);
    REQUIRE(r.status == 200);
    v = body_json(r);
    if (ready(v)) {
      return v;
    }
    std::this_thread::sleep_for(20ms);
  }
  FAIL("timed out polling " << target << ": " << json::serialize(v));
  return v;
}

unsigned status_of(const std::string& raw_response) {
  // "HTTP/1.1 404 Not Found..."
  if (raw_response.size() < 12 || raw_response.rfind("HTTP/1.1 ", 0) != 0) {
    return 0;
  }
  return static_cast<unsigned>(std::stoi(raw_response.substr(9, 3)));
}

TEST_CASE("status endpoint: every route against a live query on loopback, then bad input; the result stays exact") {
  const plan p = blocking_plans()[0];  // "grouped": scan -> aggregate -> sort
  const std::string expected = fault_free_result(p);

  status_server_options so;
  so.token = token;
  so.read_timeout = 300ms;
  so.max_connections = 12;
  // A transient failure (retried in place) at batch 6, then a 3 s stall at batch 30 that keeps
  // the query running while the routes are checked.
  live_engine live(
      "seed=3;throw:op=table_scan,query=grouped,batch=6,class=transient;"
      "stall:op=table_scan,query=grouped,batch=30,for=3s",
      so);
  const query_ptr q = live.prepare(p);
  const std::string id = std::to_string(q->id());
  std::future<query_state> done = live.run(q);
  http_client c(live.port());

  {
    // Wait for the stall: a failure recorded and a checkpoint committed.
    json::value st = poll(c, "/queries/" + id, [](const json::value& v) {
      return v.at("rows_done").as_int64() >= 29000 && v.at("fault_tolerance").at("failures").as_int64() >= 1 &&
             !v.at("checkpoint").is_null() && v.at("checkpoint").at("commits").as_int64() >= 1;
    });
    CHECK(st.at("state").as_string() == "running");
    CHECK(st.at("name").as_string() == "grouped");

    http_reply r = c.get("/healthz");
    CHECK(r.status == 200);
    CHECK(body_json(r).at("status").as_string() == "ok");

    r = c.get("/status");
    REQUIRE(r.status == 200);
    CHECK(r.message[boost::beast::http::field::content_type] == "application/json");
    const json::value status = body_json(r);
    CHECK(status.at("engine").at("queries_running").as_int64() == 1);
    const json::array& queries = status.at("queries").as_array();
    REQUIRE(queries.size() == 1);
    const json::array& ops = queries[0].at("operators").as_array();
    REQUIRE(ops.size() == q->internals().context->operator_count());
    // Operator ids: the plan's root (sort) is 0, its input 1, the scan 2; the engine's sink on top 3.
    REQUIRE(ops.size() == 4);
    CHECK(ops[3].at("name").as_string() == "memory_sink");
    CHECK(ops[3].at("children").as_array().size() == 1);
    CHECK(ops[3].at("children").at(0).as_int64() == 0);
    const json::value& scan = ops[2];
    CHECK(scan.at("name").as_string() == "table_scan");
    CHECK(ops[1].at("rows_in").as_int64() == scan.at("rows_out").as_int64());
    CHECK(scan.at("state").as_string() == "running");  // inside its stall
    CHECK(scan.at("rows_out").as_int64() >= 29000);    // 29 batches of 1000 before the stall
    CHECK(scan.at("failures").as_int64() == 1);
    CHECK(scan.at("breaker").as_string() == "closed");
    CHECK(!scan.at("last_checkpoint").is_null());
    CHECK(queries[0].at("percent").to_number<double>() > 50.0);

    r = c.get("/queries/987654");
    CHECK(r.status == 404);
    r = c.get("/queries/not-a-number");
    CHECK(r.status == 400);
    CHECK(body_json(r).at("status").as_int64() == 400);

    r = c.get("/failures?query=" + id);
    REQUIRE(r.status == 200);
    json::value failures = body_json(r);
    REQUIRE(failures.at("failures").as_array().size() == 1);
    CHECK(failures.at("failures").at(0).at("class").as_string() == "transient");
    CHECK(failures.at("failures").at(0).at("outcome").as_string() == "recovered");
    r = c.get("/failures?limit=abc");
    CHECK(r.status == 400);

    r = c.get("/checkpoints?query=" + id);
    REQUIRE(r.status == 200);
    const json::value cps = body_json(r);
    REQUIRE(cps.at("queries").as_array().size() == 1);
    CHECK(cps.at("queries").at(0).at("checkpoints").as_array().size() >= 1);

    r = c.get("/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.body.find("ftq_failures_total{class=\"transient\"} 1\n") != std::string::npos);
    CHECK(r.body.find("ftq_queries_running 1\n") != std::string::npos);
    CHECK(r.body.find("ftq_checkpoint_commit_seconds_count") != std::string::npos);

    r = c.get("/");
    CHECK(r.status == 200);
    CHECK(r.body.find("<html") != std::string::npos);

    r = c.request("DELETE", "/status");
    CHECK(r.status == 405);
    CHECK(!r.message[boost::beast::http::field::allow].empty());
    CHECK(c.get("/no/such/thing").status == 404);

    // Auth: no token, a wrong one, a prefix of the right one: 401; the right one: 202.
    const std::string cp_target = "/queries/" + id + "/checkpoint";
    r = c.post(cp_target);
    CHECK(r.status == 401);
    CHECK(!r.message[boost::beast::http::field::www_authenticate].empty());
    CHECK(c.post(cp_target, "wrong-token-wrong-token-wrong").status == 401);
    CHECK(c.post(cp_target, std::string(token).substr(0, 20)).status == 401);
    const std::uint64_t commits_before = q->checkpoints().commits;
    r = c.post(cp_target, token);
    CHECK(r.status == 202);

    // Bad input, bounded: random bytes, truncated and oversized requests.
    std::mt19937_64 rng(12345);
    for (int i = 0; i < 200; ++i) {
      std::string junk(1 + rng() % 600, '\0');
      for (char& ch : junk) {
        ch = static_cast<char>(rng() & 0xff);
      }
      const std::string answer = c.raw(junk);
      const unsigned code = status_of(answer);
      CHECK_MESSAGE((code == 0 || (code >= 400 && code < 500)), "input " << i << " got " << answer.substr(0, 40));
    }
    CHECK(status_of(c.raw("GET /status HTTP/1.1\r\nHost: x\r\nContent-Len")) == 400);
    CHECK(status_of(c.raw("GET /status HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n")) == 431);
    CHECK(status_of(c.raw("POST /queries/" + id + "/cancel HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n")) == 413);

    // A slowloris: half a request line, then nothing; the server hangs up after read_timeout.
    {
      auto s = c.open_connection();
      boost::asio::write(s, boost::asio::buffer(std::string("GET /status HTTP/1.1\r\n")));
      const auto t0 = std::chrono::steady_clock::now();
      const std::string got = read_until_closed(s);
      CHECK(got.empty());
      CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
    // More connections than the cap: the one over it gets 503.
    {
      std::vector<boost::asio::ip::tcp::socket> held;
      for (int i = 0; i < 12; ++i) {
        held.push_back(c.open_connection());
      }
      std::this_thread::sleep_for(50ms);  // let the server accept them all
      auto extra = c.open_connection();
      CHECK(status_of(read_until_closed(extra)) == 503);
    }

    // Still answering, and the requested checkpoint was taken once the stall ended.
    CHECK(c.get("/healthz").status == 200);
    REQUIRE(done.wait_for(30s) == std::future_status::ready);
    CHECK(done.get() == query_state::succeeded);
    CHECK(live.last_result == expected);
    CHECK(q->checkpoints().commits > commits_before);
    const status_server_stats ss = live.server->stats();
    CHECK(ss.timeouts >= 1);
    CHECK(ss.connections_refused >= 1);
    CHECK(ss.bad_requests >= 200);

    // The finished query is still shown, with its final state.
    r = c.get("/queries/" + id);
    REQUIRE(r.status == 200);
    const json::value fin = body_json(r);
    CHECK(fin.at("state").as_string() == "succeeded");
    CHECK(fin.at("percent").to_number<double>() == doctest::Approx(100.0));
    CHECK(c.post(cp_target, token).status == 409);  // not running any more
  }
}

TEST_CASE("status endpoint: POST cancel ends a live query; without a token the POST endpoints are off") {
  SUBCASE("cancel with the token") {
    status_server_options so;
    so.token = token;
    live_engine live("stall:op=table_scan,batch=3,for=60s", so);
    const query_ptr q = live.prepare(blocking_plans()[1]);
    std::future<query_state> done = live.run(q);
    http_client c(live.port());
    poll(c, "/queries/" + std::to_string(q->id()),
         [](const json::value& v) { return v.at("state").as_string() == "running"; });
    const auto t0 = std::chrono::steady_clock::now();
    const http_reply r = c.post("/queries/" + std::to_string(q->id()) + "/cancel", token);
    CHECK(r.status == 202);
    CHECK(body_json(r).at("action").as_string() == "cancel");
    REQUIRE(done.wait_for(10s) == std::future_status::ready);
    CHECK(done.get() == query_state::cancelled);
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    const json::value v = body_json(c.get("/queries/" + std::to_string(q->id())));
    CHECK(v.at("state").as_string() == "cancelled");
    CHECK(!v.at("error").as_string().empty());
  }
  SUBCASE("no token configured: 403") {
    live_engine live("stall:op=table_scan,batch=3,for=60s");
    const query_ptr q = live.prepare(blocking_plans()[1]);
    std::future<query_state> done = live.run(q);
    http_client c(live.port());
    poll(c, "/queries/" + std::to_string(q->id()),
         [](const json::value& v) { return v.at("state").as_string() == "running"; });
    CHECK(c.post("/queries/" + std::to_string(q->id()) + "/cancel", token).status == 403);
    CHECK(c.post("/queries/" + std::to_string(q->id()) + "/checkpoint").status == 403);
    q->cancel();
    REQUIRE(done.wait_for(10s) == std::future_status::ready);
    CHECK(done.get() == query_state::cancelled);
  }
}

TEST_CASE("status endpoint: a port in use is a clear error; the token needs 16 characters") {
  boost::asio::io_context io;
  engine eng(io.get_executor());
  status_server first(eng);
  status_server_options so;
  so.port = first.local_endpoint().port();
  CHECK_THROWS_AS(status_server(eng, so), io_error);
  temp_dir dir{"ftq-token"};
  CHECK_THROWS_AS(load_status_token(dir.write("short", "abc\n")), error);
  CHECK(load_status_token(dir.write("ok", "  0123456789abcdef-token \n")) == "0123456789abcdef-token");
  CHECK_THROWS_AS(load_status_token(dir / "missing"), error);
}

}  // namespace
}  // namespace ftq::test
