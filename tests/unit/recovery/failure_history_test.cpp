#include <ftq/failure_detector.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <msgpack.hpp>

using namespace std::chrono_literals;

namespace {

ftq::failure_record failure(const std::string& query, std::uint32_t op, const std::string& message) {
  ftq::failure_record r;
  r.query = query;
  r.operator_id = op;
  r.operator_name = "hash_join";
  r.cls = ftq::error_class::resource;
  r.message = message;
  r.attempt = 2;
  r.recovery = "restore_operator";
  return r;
}

std::vector<std::string> messages(const std::vector<ftq::failure_record>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs) {
    out.push_back(r.message);
  }
  return out;
}

ftq::checkpoint_error load_error(ftq::failure_detector& fd, std::span<const std::byte> bytes) {
  try {
    fd.load_history(bytes);
  } catch (const ftq::checkpoint_error& e) {
    return e;
  }
  FAIL("load_history accepted bad bytes");
  return ftq::checkpoint_error(ftq::errc::internal, "", "");
}

struct sink {
  void write(const char* p, std::size_t n) {
    const auto* b = reinterpret_cast<const std::byte*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
  std::vector<std::byte> bytes;
};

}  // namespace

TEST_CASE("history: records get increasing seqs, clock-driven wall times and a pending outcome") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd({}, clk);
  const auto s1 = fd.record_failure(failure("q1", 1, "a"));
  clk->advance(3s);
  const auto s2 = fd.record_failure(failure("q1", 2, "b"));
  CHECK(s2 > s1);
  const auto h = fd.history();
  REQUIRE(h.size() == 2);
  CHECK(h[0].seq == s1);
  CHECK(h[1].time - h[0].time == 3s);
  CHECK(h[0].outcome == "pending");
  CHECK(h[0].operator_name == "hash_join");
  CHECK(h[0].cls == ftq::error_class::resource);
  CHECK(h[0].attempt == 2);
  const auto wall_now = std::chrono::system_clock::now();
  CHECK(h[0].time <= wall_now);
  CHECK(h[0].time > wall_now - 1h);
  fd.set_outcome(s1, "retry", "recovered");
  CHECK(fd.history()[0].recovery == "retry");
  CHECK(fd.history()[0].outcome == "recovered");
  fd.set_outcome(9999, "retry", "failed");  // unknown seq: ignored
  CHECK(fd.history()[1].outcome == "pending");
}

TEST_CASE("history filters: query, operator, since and limit, oldest first") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd({}, clk);
  fd.record_failure(failure("q1", 1, "a"));
  clk->advance(1s);
  fd.record_failure(failure("q2", 1, "b"));
  clk->advance(1s);
  fd.record_failure(failure("q1", 2, "c"));
  clk->advance(1s);
  fd.record_failure(failure("q1", 1, "d"));
  const auto all = fd.history();
  CHECK(messages(all) == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(messages(fd.history({.query = "q1"})) == std::vector<std::string>{"a", "c", "d"});
  CHECK(messages(fd.history({.operator_id = 1})) == std::vector<std::string>{"a", "b", "d"});
  CHECK(messages(fd.history({.query = "q1", .operator_id = 1})) == std::vector<std::string>{"a", "d"});
  CHECK(messages(fd.history({.since = all[2].time})) == std::vector<std::string>{"c", "d"});
  CHECK(messages(fd.history({.limit = 2})) == std::vector<std::string>{"c", "d"});  // the newest two
  CHECK(messages(fd.history({.query = "q1", .limit = 1})) == std::vector<std::string>{"d"});
  CHECK(fd.history({.query = "nope"}).empty());
}

TEST_CASE("history capacity: the oldest records are dropped, total_failures keeps counting") {
  ftq::detector_options o;
  o.history_capacity = 3;
  ftq::failure_detector fd(o, std::make_shared<ftq::manual_clock>());
  for (const char* m : {"a", "b", "c", "d", "e"}) {
    fd.record_failure(failure("q", 1, m));
  }
  CHECK(messages(fd.history()) == std::vector<std::string>{"c", "d", "e"});
  CHECK(fd.total_failures() == 5);
}

TEST_CASE("history save/load: round trip into a fresh detector, all fields kept, later seqs larger") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector before({}, clk);
  auto r = failure("q1", 7, "disk full");
  r.cls = ftq::error_class::checkpoint;
  const auto s1 = before.record_failure(r);
  before.set_outcome(s1, "restart_pipeline", "recovered");
  clk->advance(2s);
  before.record_failure(failure("q2", 1, "flaky"));
  const std::vector<std::byte> bytes = before.save_history();

  ftq::failure_detector after({}, std::make_shared<ftq::manual_clock>());
  after.load_history(bytes);
  const auto a = before.history();
  const auto b = after.history();
  REQUIRE(b.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(b[i].seq == a[i].seq);
    CHECK(b[i].time == a[i].time);
    CHECK(b[i].query == a[i].query);
    CHECK(b[i].operator_id == a[i].operator_id);
    CHECK(b[i].operator_name == a[i].operator_name);
    CHECK(b[i].cls == a[i].cls);
    CHECK(b[i].message == a[i].message);
    CHECK(b[i].attempt == a[i].attempt);
    CHECK(b[i].recovery == a[i].recovery);
    CHECK(b[i].outcome == a[i].outcome);
  }
  CHECK(after.total_failures() == 2);
  const auto s3 = after.record_failure(failure("q1", 7, "again"));
  CHECK(s3 > a[1].seq);
  // Loading the same bytes again adds nothing.
  after.load_history(bytes);
  CHECK(after.history().size() == 3);
  CHECK(after.total_failures() == 3);
}

TEST_CASE("history load merges what it has not seen, ordered by seq, and keeps capacity") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector a({}, clk);
  a.record_failure(failure("q1", 1, "a1"));  // seq 1
  clk->advance(1s);
  a.record_failure(failure("q1", 1, "a2"));  // seq 2
  const auto saved_a = a.save_history();
  clk->advance(1s);
  a.record_failure(failure("q1", 1, "a3"));  // seq 3
  clk->advance(1s);
  ftq::detector_options small;
  small.history_capacity = 3;
  ftq::failure_detector b(small, clk);
  b.record_failure(failure("q2", 1, "b1"));  // seq 1 too, but of another query: kept apart
  b.load_history(a.save_history());
  // By seq, then time: a1 b1 a2 a3; the oldest goes beyond capacity.
  CHECK(messages(b.history()) == std::vector<std::string>{"b1", "a2", "a3"});
  CHECK(b.record_failure(failure("q2", 1, "b2")) == 4);  // past every loaded seq
  CHECK(messages(b.history()) == std::vector<std::string>{"a2", "a3", "b2"});
  b.load_history(saved_a);  // a2 is held; a1 is older than everything kept
  CHECK(messages(b.history()) == std::vector<std::string>{"a2", "a3", "b2"});
}

TEST_CASE("history load rejects corrupt bytes and newer versions, changing nothing") {
  auto clk = std::make_shared<ftq::manual_clock>();
  ftq::failure_detector fd({}, clk);
  fd.record_failure(failure("q1", 1, "a"));
  const auto good = fd.save_history();
  ftq::failure_detector target({}, clk);

  SUBCASE("truncated") {
    const std::span<const std::byte> cut(good.data(), good.size() / 2);
    CHECK((load_error(target, cut).code() == ftq::errc::checkpoint_corrupt));
  }
  SUBCASE("empty") { CHECK((load_error(target, {}).code() == ftq::errc::checkpoint_corrupt)); }
  SUBCASE("trailing bytes") {
    auto more = good;
    more.push_back(std::byte{0});
    CHECK((load_error(target, more).code() == ftq::errc::checkpoint_corrupt));
  }
  SUBCASE("another tag") {
    sink s;
    msgpack::packer<sink> p(s);
    p.pack_array(3);
    p.pack(std::string("ftq.something_else"));
    p.pack_uint32(1);
    p.pack_array(0);
    const auto e = load_error(target, s.bytes);
    CHECK((e.code() == ftq::errc::checkpoint_corrupt));
    CHECK(std::string(e.what()).find("not a failure history") != std::string::npos);
  }
  SUBCASE("a record field of the wrong type") {
    sink s;
    msgpack::packer<sink> p(s);
    p.pack_array(3);
    p.pack(std::string("ftq.failure_history"));
    p.pack_uint32(1);
    p.pack_array(1);
    p.pack_array(10);
    p.pack_uint64(1);
    p.pack_int64(0);
    p.pack(std::string("q"));
    p.pack(std::string("not an id"));  // operator id
    for (int i = 0; i < 6; ++i) {
      p.pack(std::string("x"));
    }
    const auto e = load_error(target, s.bytes);
    CHECK((e.code() == ftq::errc::checkpoint_corrupt));
    CHECK(std::string(e.what()).find("operator_id") != std::string::npos);
  }
  SUBCASE("an unknown error class") {
    sink s;
    msgpack::packer<sink> p(s);
    p.pack_array(3);
    p.pack(std::string("ftq.failure_history"));
    p.pack_uint32(1);
    p.pack_array(1);
    p.pack_array(10);
    p.pack_uint64(1);
    p.pack_int64(0);
    p.pack(std::string("q"));
    p.pack_uint32(1);
    p.pack(std::string("op"));
    p.pack(std::string("gremlins"));
    p.pack(std::string("m"));
    p.pack_uint32(0);
    p.pack(std::string("retry"));
    p.pack(std::string("failed"));
    CHECK((load_error(target, s.bytes).code() == ftq::errc::checkpoint_corrupt));
  }
  SUBCASE("a newer format version") {
    sink s;
    msgpack::packer<sink> p(s);
    p.pack_array(3);
    p.pack(std::string("ftq.failure_history"));
    p.pack_uint32(2);
    p.pack_array(0);
    CHECK((load_error(target, s.bytes).code() == ftq::errc::checkpoint_version_unsupported));
  }
  SUBCASE("every single-byte flip either loads or throws checkpoint_error") {
    for (std::size_t i = 0; i < good.size(); ++i) {
      auto bad = good;
      bad[i] ^= std::byte{0xff};
      ftq::failure_detector t({}, clk);
      try {
        t.load_history(bad);
      } catch (const ftq::checkpoint_error&) {
        CHECK(t.history().empty());
      }
    }
  }
  CHECK(target.history().empty());
  CHECK(target.total_failures() == 0);
}
