#include "inject/fault_spec.hpp"

#include <ftq/error.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include <boost/json.hpp>

namespace ftq::inject {

namespace {

namespace json = boost::json;

// A rule before its keys are checked: what both input forms reduce to.
struct raw_rule {
  std::string kind;
  std::vector<std::pair<std::string, std::string>> keys;  // in input order
  std::string where;                                      // "rule 2 (stall:op=x,for=3s)"
};

[[noreturn]] void fail(const std::string& message) { throw ftq::error(errc::recovery_policy_invalid, message); }

[[noreturn]] void fail_key(const raw_rule& r, std::string_view key, std::string_view message) {
  fail(r.where + ": '" + std::string(key) + "' " + std::string(message));
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && blank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && blank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string join(const std::vector<std::string_view>& words) {
  std::string out;
  for (const std::string_view w : words) {
    out += out.empty() ? "" : ", ";
    out.append(w);
  }
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// The keys each kind takes, in canonical order (also the order error messages list them).
std::vector<std::string_view> allowed_keys(const raw_rule& r, bool crash_on_checkpoint) {
  if (r.kind == "throw") {
    return {"op", "query", "batch", "p", "times", "max", "class"};
  }
  if (r.kind == "stall") {
    return {"op", "query", "batch", "p", "times", "max", "for"};
  }
  if (r.kind == "crash") {
    if (crash_on_checkpoint) {
      return {"checkpoint", "step"};
    }
    return {"op", "query", "batch", "p", "times", "max"};
  }
  return {"n", "times", "errno", "step"};
}

class key_reader {
 public:
  explicit key_reader(const raw_rule& r) : r_(r) {}

  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : r_.keys) {
      if (k == key) {
        return &v;
      }
    }
    return nullptr;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  std::uint64_t positive(std::string_view key) const {
    const std::optional<std::uint64_t> v = parse_count(*find(key));
    if (!v || *v == 0) {
      fail_key(r_, key, "must be a positive integer, got '" + *find(key) + "'");
    }
    return *v;
  }

 private:
  const raw_rule& r_;
};

void read_operator_keys(const raw_rule& r, const key_reader& keys, fault_rule& rule) {
  if (const std::string* op = keys.find("op")) {
    if (!op->empty() && op->front() == '#') {
      const std::optional<std::uint64_t> id = parse_count(std::string_view(*op).substr(1));
      if (!id || *id > std::numeric_limits<std::uint32_t>::max()) {
        fail_key(r, "op", "must be an operator name like hash_join or an id like #3, got '" + *op + "'");
      }
      rule.op_id = static_cast<std::uint32_t>(*id);
    } else {
      const bool name_like = !op->empty() && std::all_of(op->begin(), op->end(), is_name_char);
      if (!name_like || parse_count(*op)) {
        fail_key(r, "op", "must be an operator name like hash_join or an id like #3, got '" + *op + "'");
      }
      rule.op_name = *op;
    }
  }
  if (const std::string* q = keys.find("query")) {
    if (q->empty()) {
      fail_key(r, "query", "must name a query (its plan name)");
    }
    rule.query = *q;
  }
  const bool by_batch = keys.has("batch");
  const bool by_p = keys.has("p");
  if (by_batch == by_p) {
    fail(r.where + ": " + (by_batch ? "'batch' and 'p' exclude each other" : "needs 'batch=N' or 'p=PROBABILITY'"));
  }
  if (by_batch) {
    rule.batch = keys.positive("batch");
    if (keys.has("max")) {
      fail_key(r, "max", "goes with 'p' (with 'batch', use 'times')");
    }
  } else {
    const std::string& text = *keys.find("p");
    double p = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(p) || p <= 0 || p > 1) {
      fail_key(r, "p", "must be a probability in (0, 1], got '" + text + "'");
    }
    rule.p = p;
    if (keys.has("times")) {
      fail_key(r, "times", "goes with 'batch' (with 'p', use 'max')");
    }
    if (keys.has("max")) {
      rule.max = keys.positive("max");
    }
  }
  if (keys.has("times")) {
    rule.times = keys.positive("times");
  }
}

io::op_kind read_step(const raw_rule& r, const key_reader& keys) {
  const std::string* s = keys.find("step");
  if (s == nullptr) {
    return io::op_kind::write;
  }
  for (const io::op_kind k :
       {io::op_kind::open, io::op_kind::write, io::op_kind::fsync, io::op_kind::rename, io::op_kind::fsync_dir}) {
    if (io::op_name(k) == *s) {
      return k;
    }
  }
  fail_key(r, "step", "must be one of open, write, fsync, rename, fsync_dir, got '" + *s + "'");
}

fault_rule build_rule(const raw_rule& r) {
  if (r.kind != "throw" && r.kind != "stall" && r.kind != "crash" && r.kind != "checkpoint") {
    fail(r.where + ": unknown kind '" + r.kind + "' (expected throw, stall, crash or checkpoint)");
  }
  const key_reader keys(r);
  const bool crash_on_checkpoint = r.kind == "crash" && keys.has("checkpoint");
  const std::vector<std::string_view> allowed = allowed_keys(r, crash_on_checkpoint);
  for (std::size_t i = 0; i < r.keys.size(); ++i) {
    const std::string& k = r.keys[i].first;
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      fail_key(r, k,
               "is not a key of " + r.kind + (crash_on_checkpoint ? ":checkpoint" : "") + " (expected " +
                   join(allowed) + ")");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (r.keys[j].first == k) {
        fail_key(r, k, "is given twice");
      }
    }
  }

  fault_rule rule;
  if (r.kind == "checkpoint") {
    rule.kind = rule_kind::checkpoint_fail;
    if (!keys.has("n")) {
      fail(r.where + ": needs 'n=N' (which checkpoint commit fails)");
    }
    rule.commit = keys.positive("n");
    if (keys.has("times")) {
      rule.times = keys.positive("times");
    }
    const std::string* e = keys.find("errno");
    if (e == nullptr) {
      fail(r.where + ": needs 'errno=EIO' or 'errno=ENOSPC'");
    }
    const std::optional<int> error = errno_from_name(*e);
    if (!error) {
      fail_key(r, "errno", "must be EIO or ENOSPC, got '" + *e + "'");
    }
    rule.error = *error;
    rule.step = read_step(r, keys);
    return rule;
  }
  if (crash_on_checkpoint) {
    rule.kind = rule_kind::checkpoint_crash;
    rule.commit = keys.positive("checkpoint");
    rule.step = read_step(r, keys);
    return rule;
  }
  rule.kind = r.kind == "throw" ? rule_kind::throw_error : r.kind == "stall" ? rule_kind::stall : rule_kind::crash;
  read_operator_keys(r, keys, rule);
  if (rule.kind == rule_kind::throw_error) {
    if (const std::string* c = keys.find("class")) {
      if (*c != "transient" && *c != "fault") {
        fail_key(r, "class", "must be transient or fault, got '" + *c + "'");
      }
      rule.transient = *c == "transient";
    }
  }
  if (rule.kind == rule_kind::stall) {
    const std::string* f = keys.find("for");
    if (f == nullptr) {
      fail(r.where + ": needs 'for=DURATION' (how long the operator stalls)");
    }
    const std::optional<std::chrono::nanoseconds> d = parse_duration(*f);
    if (!d) {
      fail_key(r, "for", "must be a duration like 500ms, got '" + *f + "'");
    }
    rule.stall_for = *d;
  }
  return rule;
}

std::uint64_t read_seed(std::string_view text, const std::string& where) {
  const std::optional<std::uint64_t> seed = parse_count(text);
  if (!seed) {
    fail(where + ": 'seed' must be a non-negative integer, got '" + std::string(text) + "'");
  }
  return *seed;
}

std::string json_scalar(const json::value& v, const std::string& where, std::string_view key) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::int64:
      return std::to_string(v.get_int64());
    case json::kind::uint64:
      return std::to_string(v.get_uint64());
    case json::kind::double_: {
      std::array<char, 32> buf{};
      const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v.get_double());
      return ec == std::errc{} ? std::string(buf.data(), end) : "nan";
    }
    default:
      fail(where + ": '" + std::string(key) + "' must be a string or a number");
  }
}

}  // namespace

fault_spec parse_spec(std::string_view spec) {
  fault_spec out;
  bool seeded = false;
  std::size_t number = 0;
  while (!spec.empty()) {
    const std::size_t semi = spec.find(';');
    const std::string_view text = trim(spec.substr(0, semi));
    spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
    if (text.empty()) {
      continue;  // "a;;b" and a trailing ';' are harmless
    }
    raw_rule r;
    r.where = "rule " + std::to_string(++number) + " (" + std::string(text) + ")";
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
      const std::size_t eq = text.find('=');
      if (eq == std::string_view::npos || trim(text.substr(0, eq)) != "seed") {
        fail(r.where + ": expected KIND:key=value,... or seed=N");
      }
      if (seeded) {
        fail(r.where + ": 'seed' is given twice");
      }
      out.seed = read_seed(trim(text.substr(eq + 1)), r.where);
      seeded = true;
      continue;
    }
    r.kind = std::string(trim(text.substr(0, colon)));
    std::string_view body = text.substr(colon + 1);
    while (!body.empty()) {
      const std::size_t comma = body.find(',');
      const std::string_view pair = trim(body.substr(0, comma));
      body = comma == std::string_view::npos ? std::string_view{} : body.substr(comma + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) {
        fail(r.where + ": '" + std::string(pair) + "' is not key=value");
      }
      r.keys.emplace_back(std::string(trim(pair.substr(0, eq))), std::string(trim(pair.substr(eq + 1))));
    }
    out.rules.push_back(build_rule(r));
  }
  return out;
}

fault_spec parse_spec_json(std::string_view text) {
  boost::system::error_code ec;
  const json::value root = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) {
    fail("fault plan JSON: " + ec.message());
  }
  if (!root.is_object()) {
    fail("fault plan JSON: expected an object {\"seed\": N, \"rules\": [...]}");
  }
  fault_spec out;
  for (const auto& [key, value] : root.get_object()) {
    if (key == "seed") {
      out.seed = read_seed(json_scalar(value, "fault plan JSON", "seed"), "fault plan JSON");
    } else if (key != "rules") {
      fail("fault plan JSON: unknown key '" + std::string(key) + "' (expected seed, rules)");
    }
  }
  const json::value* rules = root.get_object().if_contains("rules");
  if (rules == nullptr) {
    return out;
  }
  if (!rules->is_array()) {
    fail("fault plan JSON: 'rules' must be an array");
  }
  std::size_t index = 0;
  for (const json::value& item : rules->get_array()) {
    const std::string at = "rules[" + std::to_string(index++) + "]";
    if (!item.is_object()) {
      fail(at + ": expected an object like {\"kind\": \"throw\", ...}");
    }
    raw_rule r;
    const json::value* kind = item.get_object().if_contains("kind");
    if (kind == nullptr || !kind->is_string()) {
      fail(at + ": needs \"kind\": \"throw\", \"stall\", \"crash\" or \"checkpoint\"");
    }
    r.kind = std::string(kind->get_string());
    std::string text_form = r.kind;
    char sep = ':';
    for (const auto& [key, value] : item.get_object()) {
      if (key == "kind") {
        continue;
      }
      std::string v = json_scalar(value, at, key);
      if (key == "op" && (value.is_int64() || value.is_uint64())) {
        v = "#" + v;  // an integer op is an operator id
      }
      text_form += sep + std::string(key) + "=" + v;
      sep = ',';
      r.keys.emplace_back(std::string(key), std::move(v));
    }
    r.where = at + " (" + text_form + ")";
    out.rules.push_back(build_rule(r));
  }
  return out;
}

}  // namespace ftq::inject
