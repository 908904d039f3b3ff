#include "status/prometheus_text.hpp"

#include <doctest/doctest.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "unit/status/sample_snapshot.hpp"

using namespace ftq::test;

namespace {

using labels = std::map<std::string, std::string>;

struct sample {
  std::string name;
  labels labels_;
  double value = 0;
};

struct exposition {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::vector<sample> samples;
};

[[noreturn]] void reject(std::size_t line, const std::string& why) {
  throw std::runtime_error("line " + std::to_string(line) + ": " + why);
}

bool name_char(char c, bool first, bool colon) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
  return letter || (!first && c >= '0' && c <= '9');
}

std::string read_name(std::string_view& s, std::size_t line, bool colon) {
  std::size_t n = 0;
  while (n < s.size() && name_char(s[n], n == 0, colon)) {
    ++n;
  }
  if (n == 0) {
    reject(line, "expected a name at '" + std::string(s) + "'");
  }
  std::string name(s.substr(0, n));
  s.remove_prefix(n);
  return name;
}

double read_value(std::string_view s, std::size_t line) {
  if (s == "+Inf") {
    return std::numeric_limits<double>::infinity();
  }
  if (s == "-Inf") {
    return -std::numeric_limits<double>::infinity();
  }
  if (s == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc{} || r.ptr != s.data() + s.size()) {
    reject(line, "bad value '" + std::string(s) + "'");
  }
  return v;
}

// A strict reader of the text format 0.0.4 as ftq writes it: only HELP and TYPE comments, TYPE
// before a family's samples and once, valid names, label values with only \\ \" \n escapes, no
// timestamps, no duplicate series, a newline after every line.
exposition parse(std::string_view text) {
  exposition ex;
  if (text.empty() || text.back() != '\n') {
    reject(0, "does not end with a newline");
  }
  std::set<std::string> series;
  std::size_t line = 0;
  while (!text.empty()) {
    ++line;
    const std::size_t nl = text.find('\n');
    std::string_view s = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (s.starts_with("# HELP ") || s.starts_with("# TYPE ")) {
      const bool help = s[2] == 'H';
      s.remove_prefix(7);
      const std::string name = read_name(s, line, true);
      if (!s.starts_with(' ') || s.size() < 2) {
        reject(line, "no text after the name");
      }
      const std::string rest(s.substr(1));
      auto& table = help ? ex.helps : ex.types;
      if (!table.emplace(name, rest).second) {
        reject(line, "second " + std::string(help ? "HELP" : "TYPE") + " for " + name);
      }
      if (!help && rest != "counter" && rest != "gauge" && rest != "histogram") {
        reject(line, "unknown type " + rest);
      }
      continue;
    }
    if (s.starts_with('#')) {
      reject(line, "unexpected comment");
    }
    sample smp;
    smp.name = read_name(s, line, true);
    if (s.starts_with('{')) {
      s.remove_prefix(1);
      while (true) {
        const std::string lname = read_name(s, line, false);
        if (!s.starts_with("=\"")) {
          reject(line, "expected =\" after label " + lname);
        }
        s.remove_prefix(2);
        std::string value;
        while (true) {
          if (s.empty()) {
            reject(line, "unterminated label value");
          }
          const char c = s.front();
          s.remove_prefix(1);
          if (c == '"') {
            break;
          }
          if (c == '\\') {
            if (s.empty()) {
              reject(line, "dangling backslash");
            }
            const char e = s.front();
            s.remove_prefix(1);
            if (e == 'n') {
              value.push_back('\n');
            } else if (e == '\\' || e == '"') {
              value.push_back(e);
            } else {
              reject(line, "bad escape");
            }
          } else {
            value.push_back(c);
          }
        }
        if (!smp.labels_.emplace(lname, value).second) {
          reject(line, "duplicate label " + lname);
        }
        if (s.starts_with(',')) {
          s.remove_prefix(1);
          continue;
        }
        if (!s.starts_with('}')) {
          reject(line, "expected , or }");
        }
        s.remove_prefix(1);
        break;
      }
    }
    if (!s.starts_with(' ')) {
      reject(line, "expected a space before the value");
    }
    s.remove_prefix(1);
    if (s.find(' ') != std::string_view::npos) {
      reject(line, "a timestamp or trailing text");
    }
    smp.value = read_value(s, line);
    std::string family = smp.name;
    if (!ex.types.contains(family)) {
      for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (family.ends_with(suffix)) {
          const std::string base = family.substr(0, family.size() - suffix.size());
          if (ex.types.contains(base) && ex.types[base] == "histogram") {
            family = base;
          }
        }
      }
    }
    if (!ex.types.contains(family)) {
      reject(line, "sample of " + smp.name + " before its TYPE");
    }
    if (ex.types[family] != "histogram" && family != smp.name) {
      reject(line, "suffix on a non-histogram");
    }
    std::string key = smp.name;
    for (const auto& [k, v] : smp.labels_) {
      key += "|" + k + "=" + v;
    }
    if (!series.insert(key).second) {
      reject(line, "duplicate series " + key);
    }
    ex.samples.push_back(std::move(smp));
  }
  return ex;
}

std::optional<double> value(const exposition& ex, std::string_view name, const labels& l = {}) {
  for (const sample& s : ex.samples) {
    if (s.name == name && s.labels_ == l) {
      return s.value;
    }
  }
  return std::nullopt;
}

std::size_t count_of(const exposition& ex, std::string_view name) {
  std::size_t n = 0;
  for (const sample& s : ex.samples) {
    n += s.name == name ? 1 : 0;
  }
  return n;
}

// Buckets in order with le ascending to +Inf, counts non-decreasing, +Inf == _count. Returns the
// (le, cumulative) pairs.
std::vector<std::pair<double, double>> check_histogram(const exposition& ex, const std::string& name) {
  CHECK(ex.types.at(name) == "histogram");
  std::vector<std::pair<double, double>> buckets;
  for (const sample& s : ex.samples) {
    if (s.name == name + "_bucket") {
      REQUIRE(s.labels_.size() == 1);
      buckets.emplace_back(read_value(s.labels_.at("le"), 0), s.value);
    }
  }
  REQUIRE(!buckets.empty());
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    CHECK(buckets[i].first > buckets[i - 1].first);
    CHECK(buckets[i].second >= buckets[i - 1].second);
  }
  CHECK(std::isinf(buckets.back().first));
  CHECK(value(ex, name + "_count") == buckets.back().second);
  CHECK(value(ex, name + "_sum").has_value());
  return buckets;
}

const ftq::status_server_stats server_stats{.connections_accepted = 11,
                                            .connections_refused = 2,
                                            .connections_open = 3,
                                            .requests = 40,
                                            .bad_requests = 5,
                                            .timeouts = 1};

}  // namespace

TEST_CASE("prometheus: the strict reader rejects what Prometheus would") {
  CHECK_NOTHROW(parse("# HELP a x\n# TYPE a counter\na 1\n"));
  CHECK_THROWS(parse("# TYPE a counter\na 1"));               // no final newline
  CHECK_THROWS(parse("a 1\n"));                               // no TYPE
  CHECK_THROWS(parse("# TYPE a counter\na{b=\"c} 1\n"));      // unterminated
  CHECK_THROWS(parse("# TYPE a counter\na{b=\"\\t\"} 1\n"));  // bad escape
  CHECK_THROWS(parse("# TYPE a counter\na 1,5\n"));
  CHECK_THROWS(parse("# TYPE a counter\na 1\na 2\n"));  // duplicate series
  CHECK_THROWS(parse("# TYPE a counter\n# TYPE a counter\n"));
  CHECK_THROWS(parse("# TYPE a counter\na_count 1\n"));
}

TEST_CASE("prometheus: every family has HELP and TYPE, and the text parses strictly") {
  const std::string text = ftq::status::prometheus_text(sample_snapshot(), server_stats);
  exposition ex;
  REQUIRE_NOTHROW(ex = parse(text));
  for (const auto& [name, type] : ex.types) {
    CAPTURE(name);
    CHECK(ex.helps.contains(name));
  }
  CHECK(ex.types.size() == 20);
  for (const char* counter :
       {"ftq_queries_total", "ftq_rows_scanned_total", "ftq_rows_output_total", "ftq_failures_total",
        "ftq_recoveries_total", "ftq_stalls_total", "ftq_checkpoint_commits_total", "ftq_checkpoint_failures_total",
        "ftq_checkpoint_bytes_total", "ftq_status_requests_total", "ftq_status_bad_requests_total",
        "ftq_status_connections_total", "ftq_status_timeouts_total"}) {
    CAPTURE(counter);
    CHECK(ex.types.at(counter) == "counter");
  }
  for (const char* gauge :
       {"ftq_queries_running", "ftq_uptime_seconds", "ftq_query_progress_ratio", "ftq_status_connections_open"}) {
    CAPTURE(gauge);
    CHECK(ex.types.at(gauge) == "gauge");
  }
}

TEST_CASE("prometheus: counters carry the snapshot's values, every error class included") {
  const exposition ex = parse(ftq::status::prometheus_text(sample_snapshot(), server_stats));
  CHECK(value(ex, "ftq_queries_total", {{"outcome", "started"}}) == 4);
  CHECK(value(ex, "ftq_queries_total", {{"outcome", "succeeded"}}) == 1);
  CHECK(value(ex, "ftq_queries_total", {{"outcome", "failed"}}) == 1);
  CHECK(value(ex, "ftq_queries_total", {{"outcome", "cancelled"}}) == 0);
  CHECK(value(ex, "ftq_rows_scanned_total") == 5000900);
  CHECK(value(ex, "ftq_rows_output_total") == 10);
  CHECK(count_of(ex, "ftq_failures_total") == 8);
  CHECK(value(ex, "ftq_failures_total", {{"class", "transient"}}) == 2);
  CHECK(value(ex, "ftq_failures_total", {{"class", "resource"}}) == 1);
  CHECK(value(ex, "ftq_failures_total", {{"class", "operator_fault"}}) == 2);
  CHECK(value(ex, "ftq_failures_total", {{"class", "stall"}}) == 1);
  for (const char* zero : {"bad_input", "checkpoint", "cancelled", "internal"}) {
    CAPTURE(zero);
    CHECK(value(ex, "ftq_failures_total", {{"class", zero}}) == 0);
  }
  CHECK(value(ex, "ftq_recoveries_total", {{"action", "retry"}}) == 2);
  CHECK(value(ex, "ftq_recoveries_total", {{"action", "restore_operator"}}) == 2);
  CHECK(value(ex, "ftq_recoveries_total", {{"action", "restart_pipeline"}}) == 0);
  CHECK(value(ex, "ftq_stalls_total") == 1);
  CHECK(value(ex, "ftq_checkpoint_commits_total", {{"kind", "full"}}) == 2);
  CHECK(value(ex, "ftq_checkpoint_commits_total", {{"kind", "delta"}}) == 3);
  CHECK(value(ex, "ftq_checkpoint_failures_total") == 1);
  CHECK(value(ex, "ftq_checkpoint_bytes_total", {{"stage", "raw"}}) == 400074);
  CHECK(value(ex, "ftq_checkpoint_bytes_total", {{"stage", "stored"}}) == 80058);
  CHECK(value(ex, "ftq_status_requests_total") == 40);
  CHECK(value(ex, "ftq_status_bad_requests_total") == 5);
  CHECK(value(ex, "ftq_status_connections_total", {{"result", "accepted"}}) == 11);
  CHECK(value(ex, "ftq_status_connections_total", {{"result", "refused"}}) == 2);
  CHECK(value(ex, "ftq_status_connections_open") == 3);
  CHECK(value(ex, "ftq_status_timeouts_total") == 1);
}

TEST_CASE("prometheus: gauges, and progress for running queries only") {
  const exposition ex = parse(ftq::status::prometheus_text(sample_snapshot(), server_stats));
  CHECK(value(ex, "ftq_queries_running") == 2);
  CHECK(value(ex, "ftq_uptime_seconds") == doctest::Approx(12.345));
  CHECK(count_of(ex, "ftq_query_progress_ratio") == 2);
  CHECK(value(ex, "ftq_query_progress_ratio", {{"query", "3"}, {"name", "q1"}}) == doctest::Approx(0.25));
  CHECK(value(ex, "ftq_query_progress_ratio", {{"query", "4"}, {"name", "join"}}) == 0);
}

TEST_CASE("prometheus: histograms are cumulative up to +Inf, which equals _count") {
  const exposition ex = parse(ftq::status::prometheus_text(sample_snapshot(), server_stats));
  const auto commit = check_histogram(ex, "ftq_checkpoint_commit_seconds");
  REQUIRE(commit.size() == 5);
  CHECK(commit[0] == std::pair<double, double>{0.001, 1});
  CHECK(commit[1] == std::pair<double, double>{0.005, 5});
  CHECK(commit[3] == std::pair<double, double>{0.1, 5});
  CHECK(value(ex, "ftq_checkpoint_commit_seconds_count") == 5);
  CHECK(value(ex, "ftq_checkpoint_commit_seconds_sum") == doctest::Approx(0.0175));
  const auto bytes = check_histogram(ex, "ftq_checkpoint_stored_bytes");
  CHECK(bytes.size() == 4);
  CHECK(bytes[2].first == 1048576);
  const auto recovery = check_histogram(ex, "ftq_recovery_seconds");
  CHECK(recovery.back().second == 4);  // one of them above the last bound
  CHECK(recovery[3].second == 3);
  CHECK(value(ex, "ftq_recovery_seconds_sum") == 12.5);
  // The bounds print as people write them.
  const std::string text = ftq::status::prometheus_text(sample_snapshot(), server_stats);
  CHECK(text.find("ftq_checkpoint_commit_seconds_bucket{le=\"0.005\"} 5\n") != std::string::npos);
  CHECK(text.find("ftq_checkpoint_stored_bytes_bucket{le=\"65536\"} 5\n") != std::string::npos);
  CHECK(text.find("ftq_recovery_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos);
}

TEST_CASE("prometheus: empty and malformed histograms still expose a valid one") {
  ftq::engine_snapshot s = sample_snapshot();
  s.metrics.checkpoint_commit_seconds = {};
  s.metrics.recovery_seconds.counts.resize(2);                       // fewer counts than bounds
  s.metrics.checkpoint_stored_bytes_per_commit.counts.push_back(7);  // more than bounds + 1
  s.metrics.checkpoint_stored_bytes_per_commit.sum = std::numeric_limits<double>::infinity();
  const std::string text = ftq::status::prometheus_text(s, server_stats);
  exposition ex;
  REQUIRE_NOTHROW(ex = parse(text));
  const auto empty = check_histogram(ex, "ftq_checkpoint_commit_seconds");
  CHECK(empty.size() == 1);
  CHECK(empty[0].second == 0);
  CHECK(value(ex, "ftq_checkpoint_commit_seconds_sum") == 0);
  CHECK(check_histogram(ex, "ftq_recovery_seconds").back().second == 1);
  CHECK(check_histogram(ex, "ftq_checkpoint_stored_bytes").back().second == 12);
  CHECK(text.find("ftq_checkpoint_stored_bytes_sum +Inf\n") != std::string::npos);
}

TEST_CASE("prometheus: label values are escaped and read back as they were") {
  ftq::engine_snapshot s = sample_snapshot();
  const std::string weird = "a\"b\\c\nd}e,f=g";
  s.queries[0].name = weird;
  const std::string text = ftq::status::prometheus_text(s, server_stats);
  CHECK(text.find("name=\"a\\\"b\\\\c\\nd}e,f=g\"") != std::string::npos);
  exposition ex;
  REQUIRE_NOTHROW(ex = parse(text));
  CHECK(value(ex, "ftq_query_progress_ratio", {{"query", "3"}, {"name", weird}}) == doctest::Approx(0.25));
}

TEST_CASE("prometheus: label values that are not UTF-8 are repaired") {
  ftq::engine_snapshot s = sample_snapshot();
  s.queries[0].name = "q\xe1";
  const std::string text = ftq::status::prometheus_text(s, server_stats);
  CHECK(text.find("name=\"q\xef\xbf\xbd\"") != std::string::npos);
  CHECK(text.find("q\xe1") == std::string::npos);
}

TEST_CASE("prometheus: an empty snapshot still lists every family with zeros") {
  const exposition ex = parse(ftq::status::prometheus_text(ftq::engine_snapshot{}, {}));
  CHECK(ex.types.size() == 20);
  CHECK(count_of(ex, "ftq_failures_total") == 8);
  CHECK(value(ex, "ftq_failures_total", {{"class", "internal"}}) == 0);
  CHECK(count_of(ex, "ftq_query_progress_ratio") == 0);
  CHECK(value(ex, "ftq_uptime_seconds") == 0);
}

TEST_CASE("prometheus: a cluster view adds the ftq_cluster_ families") {
  ftq::engine_snapshot s = sample_snapshot();
  s.cluster = sample_cluster();
  const std::string text = ftq::status::prometheus_text(s, server_stats);
  exposition ex;
  REQUIRE_NOTHROW(ex = parse(text));
  CHECK(ex.types.size() == 24);
  CHECK(ex.types.at("ftq_cluster_takeovers_total") == "counter");
  CHECK(ex.types.at("ftq_cluster_fenced_commits_total") == "counter");
  CHECK(ex.types.at("ftq_cluster_leases_held") == "gauge");
  CHECK(ex.types.at("ftq_cluster_query_owned") == "gauge");
  for (const char* name : {"ftq_cluster_takeovers_total", "ftq_cluster_fenced_commits_total", "ftq_cluster_leases_held",
                           "ftq_cluster_query_owned"}) {
    CAPTURE(name);
    CHECK(ex.helps.contains(name));
  }
  CHECK(value(ex, "ftq_cluster_takeovers_total") == 2);
  CHECK(value(ex, "ftq_cluster_leases_held") == 1);
  CHECK(value(ex, "ftq_cluster_fenced_commits_total") == 1);
  // One series per query with an owner: 1 while the owner's lease runs; the queued query that
  // was never owned has none.
  CHECK(count_of(ex, "ftq_cluster_query_owned") == 3);
  CHECK(value(ex, "ftq_cluster_query_owned", {{"query", "q1-jobs"}, {"owner", "worker-a"}}) == 1);
  CHECK(value(ex, "ftq_cluster_query_owned", {{"query", "q6-jobs"}, {"owner", "worker-b"}}) == 0);
  CHECK(value(ex, "ftq_cluster_query_owned", {{"query", "bad-jobs"}, {"owner", "worker-c"}}) == 0);
  CHECK_FALSE(value(ex, "ftq_cluster_query_owned", {{"query", "join-jobs"}, {"owner", ""}}).has_value());
  CHECK(text.find("ftq_cluster_query_owned{query=\"q1-jobs\",owner=\"worker-a\"} 1\n") != std::string::npos);
  CHECK(text.find("ftq_cluster_takeovers_total 2\n") != std::string::npos);
}

TEST_CASE("prometheus: without a cluster view there is no ftq_cluster_ family") {
  const std::string text = ftq::status::prometheus_text(sample_snapshot(), server_stats);
  CHECK(text.find("ftq_cluster_") == std::string::npos);
  ftq::engine_snapshot s = sample_snapshot();
  s.cluster = ftq::cluster_view{};
  const exposition ex = parse(ftq::status::prometheus_text(s, server_stats));
  CHECK(value(ex, "ftq_cluster_leases_held") == 0);
  CHECK(count_of(ex, "ftq_cluster_query_owned") == 0);
  CHECK(ex.types.contains("ftq_cluster_query_owned"));  // the family is declared even when empty
}

TEST_CASE("prometheus: cluster label values are escaped") {
  ftq::engine_snapshot s = sample_snapshot();
  s.cluster = sample_cluster();
  s.cluster->queries[0].owner = "host \"a\"\\";
  const exposition ex = parse(ftq::status::prometheus_text(s, server_stats));
  CHECK(value(ex, "ftq_cluster_query_owned", {{"query", "q1-jobs"}, {"owner", "host \"a\"\\"}}) == 1);
}
