#include "exec/state/change_tracker.hpp"

#include <algorithm>

namespace ftq::exec {

void change_tracker::saving(std::size_t size) {
  on_ = true;
  if (pending_.size() < unsaved_.size()) {
    pending_.resize(unsaved_.size(), 0);
  }
  for (std::size_t i = 0; i < unsaved_.size(); ++i) {
    pending_[i] |= unsaved_[i];
  }
  std::fill(unsaved_.begin(), unsaved_.end(), 0);
  saved_size_ = size;
  saved_generation_ = generation_;
  save_pending_ = true;
}

std::size_t change_tracker::changed_count() const noexcept {
  std::size_t n = 0;
  for_each_changed([&n](std::size_t) { ++n; });
  return n;
}

void change_tracker::committed() {
  if (!save_pending_) {
    return;
  }
  save_pending_ = false;
  committed_ = true;
  committed_size_ = saved_size_;
  committed_generation_ = saved_generation_;
  std::fill(pending_.begin(), pending_.end(), 0);
}

void change_tracker::restored(std::size_t size) {
  on_ = true;
  committed_ = true;
  save_pending_ = false;
  committed_size_ = size;
  saved_size_ = size;
  committed_generation_ = generation_;
  saved_generation_ = generation_;
  std::fill(unsaved_.begin(), unsaved_.end(), 0);
  std::fill(pending_.begin(), pending_.end(), 0);
}

}  // namespace ftq::exec
