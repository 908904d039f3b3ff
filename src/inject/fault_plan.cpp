#include "inject/fault_plan.hpp"

#include <atomic>
#include <cerrno>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <vector>

#include "inject/checkpoint_faults.hpp"
#include "inject/fault_spec.hpp"

namespace ftq::inject {

namespace detail {

struct plan_state {
  struct operator_rule {
    fault_rule rule;
    std::uint64_t index = 0;  // position in the plan: keeps two p rules' draws independent
    std::string text;
    fault_kind kind = fault_kind::throw_fault;
    std::atomic<std::uint64_t> fired{0};
  };

  std::uint64_t seed = 0;
  std::vector<fault_rule> rules;
  std::unique_ptr<operator_rule[]> operator_rules;
  std::size_t operator_rule_count = 0;
  std::shared_ptr<checkpoint_fault_injector> checkpoint;

  std::atomic<std::uint64_t> throws{0}, stalls{0}, crashes{0};
  mutable std::mutex mu;  // per_query
  std::map<std::string, fault_plan::counters, std::less<>> per_query;
};

}  // namespace detail

namespace {

// splitmix64's finalizer: every input bit affects every output bit.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// A uniform draw in [0, 1) that depends only on its arguments.
double draw(std::uint64_t seed, std::uint64_t rule, std::string_view query, std::uint32_t op, std::uint64_t call) {
  std::uint64_t h = mix(seed + 0x9e3779b97f4a7c15ULL);
  h = mix(h ^ rule);
  h = mix(h ^ fnv1a(query));
  h = mix(h ^ op);
  h = mix(h ^ call);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

// Takes one of `limit` firings, unless all are taken.
bool claim(std::atomic<std::uint64_t>& fired, std::uint64_t limit) {
  std::uint64_t n = fired.load(std::memory_order_relaxed);
  while (n < limit) {
    if (fired.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
      return true;
    }
  }
  return false;
}

fault_kind kind_of(const fault_rule& r) {
  switch (r.kind) {
    case rule_kind::stall:
      return fault_kind::stall;
    case rule_kind::crash:
      return fault_kind::crash;
    default:
      return r.transient ? fault_kind::throw_transient : fault_kind::throw_fault;
  }
}

bool is_operator_rule(const fault_rule& r) {
  return r.kind == rule_kind::throw_error || r.kind == rule_kind::stall || r.kind == rule_kind::crash;
}

}  // namespace

ftq::error injected_error(const operator_fault& f) {
  const errc code = f.kind == fault_kind::throw_transient ? errc::transient_failure : errc::operator_failed;
  return ftq::error(code, "injected fault (" + f.rule + ")");
}

namespace {

std::shared_ptr<detail::plan_state> make_state(fault_spec spec) {
  auto s = std::make_shared<detail::plan_state>();
  s->seed = spec.seed;
  s->rules = std::move(spec.rules);
  std::size_t n = 0;
  for (const fault_rule& r : s->rules) {
    n += is_operator_rule(r) ? 1 : 0;
  }
  s->operator_rules = std::make_unique<detail::plan_state::operator_rule[]>(n);
  s->operator_rule_count = n;
  std::size_t at = 0;
  bool checkpoint_rules = false;
  for (std::size_t i = 0; i < s->rules.size(); ++i) {
    const fault_rule& r = s->rules[i];
    if (!is_operator_rule(r)) {
      checkpoint_rules = true;
      continue;
    }
    detail::plan_state::operator_rule& o = s->operator_rules[at++];
    o.rule = r;
    o.index = i;
    o.text = to_spec(r);
    o.kind = kind_of(r);
  }
  if (checkpoint_rules) {
    s->checkpoint = std::make_shared<checkpoint_fault_injector>(s->rules);
  }
  return s;
}

}  // namespace

fault_plan fault_plan::parse(std::string_view spec) { return fault_plan(make_state(parse_spec(spec))); }

fault_plan fault_plan::from_json(std::string_view json) { return fault_plan(make_state(parse_spec_json(json))); }

fault_plan fault_plan::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw io_error(file.string(), std::error_code(errno != 0 ? errno : ENOENT, std::system_category()),
                   "reading fault plan");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw io_error(file.string(), std::error_code(EIO, std::system_category()), "reading fault plan");
  }
  try {
    return from_json(text.str());
  } catch (const ftq::error& e) {
    throw ftq::error(e.code(), file.string() + ": " + e.what());
  }
}

fault_plan fault_plan::from_argument(std::string_view arg) {
  if (!arg.empty() && arg.front() == '@') {
    return load(std::filesystem::path(arg.substr(1)));
  }
  if (arg.ends_with(".json")) {
    return load(std::filesystem::path(arg));
  }
  return parse(arg);
}

bool fault_plan::empty() const noexcept { return state_ == nullptr || state_->rules.empty(); }

std::uint64_t fault_plan::seed() const noexcept { return state_ == nullptr ? 0 : state_->seed; }

std::string fault_plan::describe() const {
  if (empty()) {
    return "";
  }
  std::string out = "seed=" + std::to_string(state_->seed);
  for (const fault_rule& r : state_->rules) {
    out += ';';
    out += to_spec(r);
  }
  return out;
}

std::optional<operator_fault> fault_plan::on_produce(std::string_view query, std::uint32_t op, std::string_view name,
                                                     std::uint64_t batch, std::uint64_t call) {
  if (state_ == nullptr || state_->operator_rule_count == 0) {
    return std::nullopt;
  }
  detail::plan_state& s = *state_;
  for (std::size_t i = 0; i < s.operator_rule_count; ++i) {
    detail::plan_state::operator_rule& o = s.operator_rules[i];
    const fault_rule& r = o.rule;
    if ((r.op_name && *r.op_name != name) || (r.op_id && *r.op_id != op) || (!r.query.empty() && r.query != query)) {
      continue;
    }
    bool fires = false;
    if (r.batch > 0) {
      fires = batch == r.batch && claim(o.fired, r.times);
    } else {
      fires = draw(s.seed, o.index, query, op, call) < r.p && (!r.max || claim(o.fired, *r.max));
    }
    if (!fires) {
      continue;
    }
    std::lock_guard lock(s.mu);
    auto it = s.per_query.find(query);
    if (it == s.per_query.end()) {
      it = s.per_query.emplace(std::string(query), counters{}).first;
    }
    switch (o.kind) {
      case fault_kind::stall:
        ++s.stalls;
        ++it->second.stalls;
        break;
      case fault_kind::crash:
        ++s.crashes;
        ++it->second.crashes;
        break;
      default:
        ++s.throws;
        ++it->second.throws;
        break;
    }
    return operator_fault{o.kind, r.stall_for, o.text};
  }
  return std::nullopt;
}

std::shared_ptr<io::fault_injector> fault_plan::checkpoint_faults() {
  return state_ == nullptr ? nullptr : state_->checkpoint;
}

fault_plan::counters fault_plan::injected() const {
  if (state_ == nullptr) {
    return {};
  }
  counters c;
  c.throws = state_->throws.load();
  c.stalls = state_->stalls.load();
  c.crashes = state_->crashes.load();
  c.checkpoint_failures = state_->checkpoint ? state_->checkpoint->failures() : 0;
  return c;
}

fault_plan::counters fault_plan::injected(std::string_view query) const {
  if (state_ == nullptr) {
    return {};
  }
  counters c;
  {
    std::lock_guard lock(state_->mu);
    if (const auto it = state_->per_query.find(query); it != state_->per_query.end()) {
      c = it->second;
    }
  }
  c.checkpoint_failures = state_->checkpoint ? state_->checkpoint->failures() : 0;
  return c;
}

}  // namespace ftq::inject
