#include <ftq/fault_tolerant_context.hpp>

#include <atomic>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <ftq/error.hpp>

#include "core/duration_text.hpp"

namespace ftq {

namespace {

constexpr error_class all_classes[] = {error_class::transient, error_class::resource,  error_class::operator_fault,
                                       error_class::stall,     error_class::bad_input, error_class::checkpoint,
                                       error_class::cancelled, error_class::internal};

recovery_action default_action(error_class c) noexcept {
  switch (c) {
    case error_class::transient:
      return recovery_action::retry;
    case error_class::resource:
    case error_class::operator_fault:
    case error_class::stall:
      return recovery_action::restore_operator;
    case error_class::bad_input:
    case error_class::checkpoint:
    case error_class::cancelled:
    case error_class::internal:
      return recovery_action::fail;
  }
  return recovery_action::fail;
}

bool valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

[[noreturn]] void invalid(const std::string& message) { throw error(errc::recovery_policy_invalid, message); }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  while (!s.empty() && s.back() == ' ') {
    s.remove_suffix(1);
  }
  return s;
}

std::chrono::nanoseconds duration_item(std::string_view key, std::string_view value) {
  const auto d = parse_duration(value);
  if (!d) {
    invalid("recovery policy: '" + std::string(key) + "' must be a duration like 10ms, got '" + std::string(value) +
            "'");
  }
  return *d;
}

std::uint64_t count_item(std::string_view key, std::string_view value) {
  const std::optional<std::uint64_t> n = parse_count(value);
  if (!n || *n > 1'000'000'000) {
    invalid("recovery policy: '" + std::string(key) + "' must be a count, got '" + std::string(value) + "'");
  }
  return *n;
}

double number_item(std::string_view key, std::string_view value) {
  try {
    std::size_t used = 0;
    const std::string text(value);
    const double v = std::stod(text, &used);
    if (used == text.size()) {
      return v;
    }
  } catch (const std::exception&) {
  }
  invalid("recovery policy: '" + std::string(key) + "' must be a number, got '" + std::string(value) + "'");
}

}  // namespace

std::string_view recovery_action_name(recovery_action a) noexcept {
  switch (a) {
    case recovery_action::retry:
      return "retry";
    case recovery_action::restore_operator:
      return "restore_operator";
    case recovery_action::restart_pipeline:
      return "restart_pipeline";
    case recovery_action::fail:
      return "fail";
  }
  return "?";
}

std::optional<recovery_action> parse_recovery_action(std::string_view name) noexcept {
  for (recovery_action a : {recovery_action::retry, recovery_action::restore_operator,
                            recovery_action::restart_pipeline, recovery_action::fail}) {
    if (recovery_action_name(a) == name) {
      return a;
    }
  }
  return std::nullopt;
}

void handler_registry::add(std::string name, recovery_handler handler, std::chrono::milliseconds time_limit) {
  if (!valid_name(name)) {
    invalid("recovery handler name '" + name + "' must be 1 to 64 of [A-Za-z0-9_.-]");
  }
  if (!handler) {
    invalid("recovery handler '" + name + "' is empty");
  }
  if (time_limit <= std::chrono::milliseconds::zero()) {
    invalid("recovery handler '" + name + "' needs a positive time limit");
  }
  std::lock_guard lock(mutex_);
  entries_[std::move(name)] = entry{std::move(handler), time_limit};
}

void handler_registry::add(std::string name, recovery_handler handler) {
  add(std::move(name), std::move(handler), entry{}.time_limit);
}

bool handler_registry::contains(std::string_view name) const {
  std::lock_guard lock(mutex_);
  return entries_.find(name) != entries_.end();
}

std::optional<handler_registry::entry> handler_registry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::vector<std::string> handler_registry::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_) {
    out.push_back(name);
  }
  return out;
}

recovery_rule recovery_policy::rule_for(error_class c) const {
  for (const recovery_rule& r : rules) {
    if (r.on == c) {
      return r;
    }
  }
  return recovery_rule{c, default_action(c), {}};
}

void recovery_policy::validate(const handler_registry& handlers) const {
  retry.validate();
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const recovery_rule& r = rules[i];
    const std::string where = "recovery rule " + std::to_string(i + 1) + " (" + std::string(error_class_name(r.on)) +
                              "=" + std::string(recovery_action_name(r.action)) + ")";
    for (std::size_t j = 0; j < i; ++j) {
      if (rules[j].on == r.on) {
        invalid(where + ": " + std::string(error_class_name(r.on)) + " already has rule " + std::to_string(j + 1));
      }
    }
    if (never_retryable(r.on) && r.action != recovery_action::fail) {
      invalid(where + ": " + std::string(error_class_name(r.on)) +
              " failures can only fail the query (running again gives the same answer)");
    }
    if (r.action == recovery_action::retry && r.on != error_class::transient) {
      invalid(where + ": retry in place needs a failure raised before the operator changed its state, which only " +
              "transient failures promise; use restore_operator");
    }
    if (!r.handler.empty() && !handlers.contains(r.handler)) {
      std::string known;
      for (const std::string& n : handlers.names()) {
        known += (known.empty() ? "" : ", ") + n;
      }
      invalid(where + ": no recovery handler named '" + r.handler + "' is registered" +
              (known.empty() ? std::string(" (none are)") : " (registered: " + known + ")"));
    }
  }
}

recovery_policy recovery_policy::parse(std::string_view spec) {
  recovery_policy p;
  std::size_t item_no = 0;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    ++item_no;
    if (item.empty()) {
      continue;
    }
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      invalid("recovery policy item " + std::to_string(item_no) + " '" + std::string(item) +
              "': expected CLASS=ACTION[:HANDLER] or a setting like attempts=3");
    }
    const std::string_view key = trim(item.substr(0, eq));
    const std::string_view value = trim(item.substr(eq + 1));
    if (const auto cls = parse_error_class(key)) {
      const std::size_t colon = value.find(':');
      const std::string_view action_name = value.substr(0, colon);
      const auto action = parse_recovery_action(action_name);
      if (!action) {
        invalid("recovery policy item " + std::to_string(item_no) + " '" + std::string(item) + "': unknown action '" +
                std::string(action_name) + "' (retry, restore_operator, restart_pipeline, fail)");
      }
      recovery_rule rule{*cls, *action, {}};
      if (colon != std::string_view::npos) {
        rule.handler = std::string(value.substr(colon + 1));
        if (!valid_name(rule.handler)) {
          invalid("recovery policy item " + std::to_string(item_no) + " '" + std::string(item) +
                  "': handler names are 1 to 64 of [A-Za-z0-9_.-]");
        }
      }
      p.rules.push_back(std::move(rule));
    } else if (key == "backoff") {
      const auto kind = parse_backoff(value);
      if (!kind) {
        invalid("recovery policy: unknown backoff '" + std::string(value) +
                "' (fixed, exponential, decorrelated, adaptive)");
      }
      p.retry.kind = *kind;
    } else if (key == "attempts") {
      p.retry.max_attempts = static_cast<std::uint32_t>(count_item(key, value));
    } else if (key == "base") {
      p.retry.base = duration_item(key, value);
    } else if (key == "cap") {
      p.retry.cap = duration_item(key, value);
    } else if (key == "multiplier") {
      p.retry.multiplier = number_item(key, value);
    } else if (key == "gain") {
      p.retry.adaptive_gain = number_item(key, value);
    } else {
      invalid("recovery policy item " + std::to_string(item_no) + " '" + std::string(item) + "': '" + std::string(key) +
              "' is neither an error class (transient, resource, operator_fault, stall, bad_input, checkpoint, "
              "cancelled, internal) nor a setting (backoff, attempts, base, cap, multiplier, gain)");
    }
  }
  return p;
}

std::string recovery_policy::describe() const {
  std::string out;
  for (error_class c : all_classes) {
    const recovery_rule r = rule_for(c);
    out += std::string(error_class_name(c)) + "=" + std::string(recovery_action_name(r.action));
    if (!r.handler.empty()) {
      out += ":" + r.handler;
    }
    out += ",";
  }
  out += "backoff=" + std::string(backoff_name(retry.kind)) + ",attempts=" + std::to_string(retry.max_attempts) +
         ",base=" + exact_duration_text(retry.base) + ",cap=" + exact_duration_text(retry.cap);
  return out;
}

fault_tolerant_context::fault_tolerant_context(std::string query_id, const fault_tolerance_options& options,
                                               recovery_policy policy, std::shared_ptr<failure_detector> detector,
                                               std::shared_ptr<retry_budget> engine_budget,
                                               std::shared_ptr<checkpoint_manager> checkpoints)
    : query_id_(std::move(query_id)),
      options_(options),
      policy_(std::move(policy)),
      detector_(std::move(detector)),
      engine_budget_(std::move(engine_budget)),
      checkpoints_(std::move(checkpoints)),
      clock_(options.time ? options.time : steady_clock_source()),
      budget_(options.query_budget_tokens, options.query_budget_ratio) {
  stats_.budget_tokens = budget_.tokens();
}

fault_tolerance_stats fault_tolerant_context::stats() const {
  std::lock_guard lock(stats_mutex_);
  fault_tolerance_stats s = stats_;
  s.budget_tokens = budget_.tokens();
  return s;
}

boost::asio::awaitable<bool> fault_tolerant_context::run_handler(std::string name, failure_event event) {
  const std::optional<handler_registry::entry> found = options_.handlers->find(name);
  update_stats([](fault_tolerance_stats& s) { ++s.handler_runs; });
  std::string problem;
  if (!found) {
    problem = "no recovery handler named '" + name + "' is registered";
  } else {
    // The handler runs as a coroutine of its own, so that one which overruns is left behind
    // (it finishes or fails on its own later) instead of holding the query.
    struct outcome {
      std::atomic<bool> done{false};
      std::exception_ptr failure;
    };
    auto result = std::make_shared<outcome>();
    const auto executor = co_await boost::asio::this_coro::executor;
    try {
      // The handler object rides in the spawned coroutine's frame: an abandoned handler may
      // still use its captures after this function has returned.
      boost::asio::co_spawn(
          executor, [handler = found->handler, event]() { return handler(event); },
          [result](std::exception_ptr e) {
            result->failure = e;
            result->done.store(true, std::memory_order_release);
          });
    } catch (...) {
      result->failure = std::current_exception();
      result->done.store(true, std::memory_order_release);
    }
    // Polled in short steps: a signal from the handler's completion could race the wait on a
    // pool of threads, and a handler's latency matters little next to its time limit.
    const auto deadline = clock_->now() + found->time_limit;
    while (!result->done.load(std::memory_order_acquire) && clock_->now() < deadline) {
      const auto left = deadline - clock_->now();
      const clock::duration step = std::min<clock::duration>(left, std::chrono::milliseconds(2));
      co_await clock_->sleep(step, boost::asio::cancellation_slot{});
    }
    if (!result->done.load(std::memory_order_acquire)) {
      problem = "recovery handler '" + name + "' overran its time limit of " + duration_text(found->time_limit) +
                " and was abandoned";
    } else if (result->failure) {
      problem = "recovery handler '" + name + "' failed: " + detail::failure_message(result->failure);
    }
  }
  if (problem.empty()) {
    co_return true;
  }
  update_stats([](fault_tolerance_stats& s) { ++s.handler_failures; });
  failure_record r;
  r.query = query_id_;
  r.operator_id = event.operator_id;
  r.operator_name = event.operator_name;
  r.cls = error_class::internal;
  r.message = problem;
  r.attempt = event.attempt;
  r.recovery = "handler:" + name;
  r.outcome = "contained";
  detector_->record_failure(std::move(r));
  co_return false;
}

}  // namespace ftq
