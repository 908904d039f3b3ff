#include "recovery/circuit_breaker.hpp"

#include <algorithm>

namespace ftq::recovery {

circuit_breaker::circuit_breaker(const detector_options& o)
    : options_(&o), outcomes_(std::max<std::size_t>(o.window_count, 1), 0) {}

void circuit_breaker::record_failure(clock::time_point now) {
  const std::size_t window = outcomes_.size();
  if (count_ == window) {
    failures_ -= outcomes_[next_];
  } else {
    ++count_;
  }
  outcomes_[next_] = 1;
  ++failures_;
  next_ = (next_ + 1) % window;

  const clock::time_point horizon = now - options_->window_time;
  while (!failure_times_.empty() && failure_times_.front() <= horizon) {
    failure_times_.pop_front();
  }
  failure_times_.push_back(now);

  if (state_ != breaker_state::closed) {
    return;  // probes decide while open or half-open
  }
  const bool too_many = failure_times_.size() >= options_->failure_threshold;
  const bool too_often = count_ >= options_->min_outcomes && failure_rate() >= options_->failure_rate_threshold;
  if (too_many || too_often) {
    open(now);
  }
}

void circuit_breaker::record_success() noexcept {
  const std::size_t window = outcomes_.size();
  if (count_ == window) {
    failures_ -= outcomes_[next_];
  } else {
    ++count_;
  }
  outcomes_[next_] = 0;
  next_ = (next_ + 1) % window;
}

breaker_state circuit_breaker::state(clock::time_point now) noexcept {
  if (state_ == breaker_state::open && now >= reopens_at_) {
    state_ = breaker_state::half_open;
    ++period_;
    admitted_ = 0;
    succeeded_ = 0;
  }
  return state_;
}

clock::time_point circuit_breaker::reopens_at() const noexcept {
  return state_ == breaker_state::open ? reopens_at_ : clock::time_point{};
}

double circuit_breaker::failure_rate() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(failures_) / static_cast<double>(count_);
}

std::size_t circuit_breaker::failures_in_window(clock::time_point now) const noexcept {
  const clock::time_point horizon = now - options_->window_time;
  // Times are appended in clock order, so the ones still inside form a suffix.
  const auto first = std::upper_bound(failure_times_.begin(), failure_times_.end(), horizon);
  return static_cast<std::size_t>(failure_times_.end() - first);
}

circuit_breaker::admission circuit_breaker::admit(clock::time_point now, std::uint64_t& period) noexcept {
  switch (state(now)) {
    case breaker_state::closed:
      return admission::inert;
    case breaker_state::open:
      return admission::refused;
    case breaker_state::half_open:
      break;
  }
  if (admitted_ >= options_->half_open_probes) {
    return admission::refused;
  }
  ++admitted_;
  period = period_;
  return admission::probe;
}

void circuit_breaker::probe_done(std::uint64_t period, bool ok, clock::time_point now) noexcept {
  if (period != period_ || state_ != breaker_state::half_open) {
    return;
  }
  if (!ok) {
    open(now);
    return;
  }
  if (++succeeded_ >= options_->half_open_probes) {
    close();
  }
}

void circuit_breaker::open(clock::time_point now) noexcept {
  state_ = breaker_state::open;
  reopens_at_ = now + options_->recovery_timeout;
  ++period_;
}

void circuit_breaker::close() noexcept {
  state_ = breaker_state::closed;
  ++period_;
  // A fresh start: the failures that opened the breaker must not reopen it at the next blip.
  std::fill(outcomes_.begin(), outcomes_.end(), 0);
  next_ = 0;
  count_ = 0;
  failures_ = 0;
  failure_times_.clear();
}

}  // namespace ftq::recovery
