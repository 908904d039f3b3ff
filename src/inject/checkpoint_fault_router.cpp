#include "inject/checkpoint_fault_router.hpp"

#include <algorithm>
#include <iterator>

namespace ftq::inject {

namespace {

// Whether `path` is `dir` or lies under it, comparing whole components ("a/b" holds "a/b/c",
// not "a/bc"). Both are taken as the store gives them: no normalization.
bool holds(const std::filesystem::path& dir, const std::filesystem::path& path) {
  auto p = path.begin();
  for (const std::filesystem::path& part : dir) {
    if (part.empty()) {
      continue;  // a trailing separator's empty component
    }
    if (p == path.end() || part != *p) {
      return false;
    }
    ++p;
  }
  return true;
}

}  // namespace

checkpoint_fault_router::checkpoint_fault_router(std::shared_ptr<io::fault_injector> fallback)
    : fallback_(std::move(fallback)) {}

void checkpoint_fault_router::route(const std::filesystem::path& dir, std::shared_ptr<io::fault_injector> target) {
  std::lock_guard lock(mu_);
  for (entry& e : routes_) {
    if (e.dir == dir) {
      e.target = std::move(target);
      return;
    }
  }
  routes_.push_back(entry{dir, std::move(target)});
}

void checkpoint_fault_router::unroute(const std::filesystem::path& dir) {
  std::lock_guard lock(mu_);
  std::erase_if(routes_, [&dir](const entry& e) { return e.dir == dir; });
}

std::size_t checkpoint_fault_router::routes() const {
  std::lock_guard lock(mu_);
  return routes_.size();
}

std::shared_ptr<io::fault_injector> checkpoint_fault_router::find(const std::filesystem::path& path) const {
  std::lock_guard lock(mu_);
  const entry* best = nullptr;
  std::ptrdiff_t best_depth = -1;
  for (const entry& e : routes_) {
    if (!holds(e.dir, path)) {
      continue;
    }
    const std::ptrdiff_t depth = std::distance(e.dir.begin(), e.dir.end());
    if (depth > best_depth) {
      best = &e;
      best_depth = depth;
    }
  }
  return best != nullptr ? best->target : fallback_;
}

int checkpoint_fault_router::before(io::op_kind op, const std::filesystem::path& path) {
  const std::shared_ptr<io::fault_injector> target = find(path);
  return target ? target->before(op, path) : 0;
}

void checkpoint_fault_router::after(io::op_kind op, const std::filesystem::path& path, int error) {
  if (const std::shared_ptr<io::fault_injector> target = find(path)) {
    target->after(op, path, error);
  }
}

}  // namespace ftq::inject
