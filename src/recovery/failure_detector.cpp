#include <ftq/failure_detector.hpp>

#include <atomic>
#include <cmath>
#include <functional>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>

#include "core/duration_text.hpp"
#include "recovery/circuit_breaker.hpp"
#include "recovery/failure_history.hpp"

namespace ftq {

namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw error(errc::recovery_policy_invalid, "detector_options." + message);
}

struct key_hash {
  std::size_t operator()(const operator_key& k) const noexcept {
    std::size_t h = std::hash<std::string>{}(k.query);
    boost::hash_combine(h, k.operator_id);
    return h;
  }
};

// What the detector knows of one operator.
struct operator_entry {
  explicit operator_entry(const detector_options& o) : breaker(o), phi(o.phi) {}
  recovery::circuit_breaker breaker;
  phi_accrual_estimator phi;
};

}  // namespace

std::string_view breaker_state_name(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "unknown";
}

void detector_options::validate() const {
  if (history_capacity == 0) {
    invalid("history_capacity must be at least 1");
  }
  if (window_count == 0) {
    invalid("window_count must be at least 1");
  }
  if (window_time.count() <= 0) {
    invalid("window_time (" + duration_text(window_time) + ") must be positive");
  }
  if (failure_threshold == 0) {
    invalid("failure_threshold must be at least 1");
  }
  if (!(failure_rate_threshold > 0 && failure_rate_threshold <= 1)) {
    invalid("failure_rate_threshold (" + std::to_string(failure_rate_threshold) + ") must be in (0, 1]");
  }
  if (min_outcomes == 0 || min_outcomes > window_count) {
    invalid("min_outcomes (" + std::to_string(min_outcomes) + ") must be in [1, window_count (" +
            std::to_string(window_count) + ")]");
  }
  if (recovery_timeout.count() < 0) {
    invalid("recovery_timeout (" + duration_text(recovery_timeout) + ") is negative");
  }
  if (half_open_probes == 0) {
    invalid("half_open_probes must be at least 1");
  }
  if (!(phi.threshold > 0) || std::isinf(phi.threshold)) {
    invalid("phi.threshold (" + std::to_string(phi.threshold) + ") must be positive and finite");
  }
  if (phi.window < 2) {
    invalid("phi.window (" + std::to_string(phi.window) + ") must be at least 2");
  }
  if (phi.min_samples == 0 || phi.min_samples > phi.window) {
    invalid("phi.min_samples (" + std::to_string(phi.min_samples) + ") must be in [1, phi.window (" +
            std::to_string(phi.window) + ")]");
  }
  if (phi.min_std_deviation.count() <= 0) {
    invalid("phi.min_std_deviation (" + duration_text(phi.min_std_deviation) + ") must be positive");
  }
  if (phi.acceptable_pause.count() < 0) {
    invalid("phi.acceptable_pause (" + duration_text(phi.acceptable_pause) + ") is negative");
  }
}

struct failure_detector::impl {
  impl(detector_options o, std::shared_ptr<clock> c)
      : options((o.validate(), std::move(o))),
        source(c ? std::move(c) : steady_clock_source()),
        history(options.history_capacity),
        wall_anchor(std::chrono::system_clock::now()),
        steady_anchor(source->now()) {}

  // Wall time that moves with the detector's clock: exact under a manual_clock, and never
  // backwards when the system clock is stepped.
  std::chrono::system_clock::time_point wall(clock::time_point now) const {
    return wall_anchor + std::chrono::duration_cast<std::chrono::system_clock::duration>(now - steady_anchor);
  }

  operator_entry& entry(const operator_key& k) { return ops.try_emplace(k, options).first->second; }

  const operator_entry* find(const operator_key& k) const {
    const auto it = ops.find(k);
    return it == ops.end() ? nullptr : &it->second;
  }

  const detector_options options;
  const std::shared_ptr<clock> source;
  mutable std::mutex mutex;
  boost::unordered_flat_map<operator_key, operator_entry, key_hash> ops;
  recovery::failure_history history;
  std::atomic<std::uint64_t> total{0};
  const std::chrono::system_clock::time_point wall_anchor;
  const clock::time_point steady_anchor;
};

failure_detector::failure_detector(detector_options o, std::shared_ptr<clock> c)
    : impl_(std::make_unique<impl>(std::move(o), std::move(c))) {}

failure_detector::~failure_detector() = default;

const detector_options& failure_detector::options() const noexcept { return impl_->options; }

std::uint64_t failure_detector::record_failure(failure_record r) {
  const operator_key k{r.query, r.operator_id};
  std::lock_guard lock(impl_->mutex);
  const clock::time_point now = impl_->source->now();
  r.time = impl_->wall(now);
  if (r.outcome.empty()) {
    r.outcome = "pending";
  }
  impl_->entry(k).breaker.record_failure(now);
  impl_->total.fetch_add(1, std::memory_order_relaxed);
  return impl_->history.add(std::move(r));
}

void failure_detector::record_success(const operator_key& k) {
  std::lock_guard lock(impl_->mutex);
  impl_->entry(k).breaker.record_success();
}

void failure_detector::set_outcome(std::uint64_t seq, std::string recovery, std::string outcome) {
  std::lock_guard lock(impl_->mutex);
  impl_->history.set_outcome(seq, std::move(recovery), std::move(outcome));
}

breaker_state failure_detector::state(const operator_key& k) {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->ops.find(k);
  return it == impl_->ops.end() ? breaker_state::closed : it->second.breaker.state(impl_->source->now());
}

clock::time_point failure_detector::reopens_at(const operator_key& k) const {
  std::lock_guard lock(impl_->mutex);
  const operator_entry* e = impl_->find(k);
  return e == nullptr ? clock::time_point{} : e->breaker.reopens_at();
}

double failure_detector::failure_rate(const operator_key& k) const {
  std::lock_guard lock(impl_->mutex);
  const operator_entry* e = impl_->find(k);
  return e == nullptr ? 0.0 : e->breaker.failure_rate();
}

std::size_t failure_detector::failures_in_window(const operator_key& k) const {
  std::lock_guard lock(impl_->mutex);
  const operator_entry* e = impl_->find(k);
  return e == nullptr ? 0 : e->breaker.failures_in_window(impl_->source->now());
}

std::optional<failure_detector::probe> failure_detector::admit(const operator_key& k) {
  std::uint64_t period = 0;
  recovery::circuit_breaker::admission a;
  {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->ops.find(k);
    if (it == impl_->ops.end()) {
      a = recovery::circuit_breaker::admission::inert;
    } else {
      a = it->second.breaker.admit(impl_->source->now(), period);
    }
  }
  switch (a) {
    case recovery::circuit_breaker::admission::inert:
      return probe(nullptr, {}, 0);
    case recovery::circuit_breaker::admission::probe:
      return probe(this, k, period);
    case recovery::circuit_breaker::admission::refused:
      break;
  }
  return std::nullopt;
}

void failure_detector::probe_done(const operator_key& k, std::uint64_t period, bool ok) {
  std::lock_guard lock(impl_->mutex);
  const auto it = impl_->ops.find(k);
  if (it != impl_->ops.end()) {
    it->second.breaker.probe_done(period, ok, impl_->source->now());
  }
}

failure_detector::probe::probe(failure_detector* d, operator_key k, std::uint64_t period) noexcept
    : detector_(d), key_(std::move(k)), period_(period), probe_(d != nullptr) {}

failure_detector::probe::probe(probe&& other) noexcept
    : detector_(std::exchange(other.detector_, nullptr)),
      key_(std::move(other.key_)),
      period_(other.period_),
      probe_(other.probe_) {}

failure_detector::probe& failure_detector::probe::operator=(probe&& other) noexcept {
  if (this != &other) {
    abandon();
    detector_ = std::exchange(other.detector_, nullptr);
    key_ = std::move(other.key_);
    period_ = other.period_;
    probe_ = other.probe_;
  }
  return *this;
}

failure_detector::probe::~probe() { abandon(); }

void failure_detector::probe::abandon() noexcept {
  if (failure_detector* d = std::exchange(detector_, nullptr)) {
    // Unwound past (or replaced) without an outcome: an unexpected failure of the attempt.
    try {
      d->probe_done(key_, period_, false);
    } catch (...) {
      // Only a failing mutex lock lands here; there is nothing better to do in a destructor.
    }
  }
}

void failure_detector::probe::succeed() {
  if (failure_detector* d = std::exchange(detector_, nullptr)) {
    d->probe_done(key_, period_, true);
  }
}

void failure_detector::probe::fail() {
  if (failure_detector* d = std::exchange(detector_, nullptr)) {
    d->probe_done(key_, period_, false);
  }
}

bool failure_detector::probe::is_probe() const noexcept { return probe_; }

std::vector<failure_record> failure_detector::history(const history_filter& f) const {
  std::lock_guard lock(impl_->mutex);
  return impl_->history.select(f);
}

std::uint64_t failure_detector::total_failures() const noexcept { return impl_->total.load(std::memory_order_relaxed); }

std::vector<std::byte> failure_detector::save_history() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->history.save();
}

void failure_detector::load_history(std::span<const std::byte> bytes) {
  std::vector<failure_record> records = recovery::failure_history::decode(bytes);  // outside the lock
  std::lock_guard lock(impl_->mutex);
  impl_->total.fetch_add(impl_->history.merge(std::move(records)), std::memory_order_relaxed);
}

void failure_detector::heartbeat(const operator_key& k, clock::time_point t) {
  std::lock_guard lock(impl_->mutex);
  impl_->entry(k).phi.heartbeat(t);
}

double failure_detector::phi(const operator_key& k, clock::time_point now) const {
  std::lock_guard lock(impl_->mutex);
  const operator_entry* e = impl_->find(k);
  return e == nullptr ? 0.0 : e->phi.phi(now);
}

bool failure_detector::suspicious(const operator_key& k, clock::time_point now) const {
  return phi(k, now) >= impl_->options.phi.threshold;
}

void failure_detector::forget(const std::string& query) {
  std::lock_guard lock(impl_->mutex);
  boost::unordered::erase_if(impl_->ops, [&](const auto& kv) { return kv.first.query == query; });
}

}  // namespace ftq
