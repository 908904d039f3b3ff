#include "inject/checkpoint_faults.hpp"

#include <cerrno>

#include "inject/crash.hpp"

namespace ftq::inject {

checkpoint_fault_injector::checkpoint_fault_injector(const std::vector<fault_rule>& rules) {
  for (const fault_rule& r : rules) {
    if (r.kind == rule_kind::checkpoint_fail || r.kind == rule_kind::checkpoint_crash) {
      rules_.push_back(r);
    }
  }
}

std::uint64_t checkpoint_fault_injector::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

std::uint64_t checkpoint_fault_injector::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

int checkpoint_fault_injector::decide(io::op_kind op, const std::filesystem::path& path, commit_state& c) {
  if (c.broken || op == io::op_kind::close) {
    return 0;
  }
  if (op == io::op_kind::write) {
    if (c.wrote) {
      return 0;
    }
    c.wrote = true;
  }
  for (const fault_rule& r : rules_) {
    if (r.step != op) {
      continue;
    }
    if (r.kind == rule_kind::checkpoint_fail && c.number >= r.commit && c.number - r.commit < r.times) {
      c.broken = true;
      ++failures_;
      return r.error;
    }
    if (r.kind == rule_kind::checkpoint_crash && c.number == r.commit) {
      c.broken = true;
      crashes_.push_back(
          {op, path.string(), to_spec(r) + ": before " + std::string(io::op_name(op)) + " of " + path.string()});
      crash_pending_.store(true, std::memory_order_release);
      // Failing the step stops it (and, with io_uring, the rest of the chain) from running;
      // after() reports it once the steps before it have completed, and then the process dies.
      return EIO;
    }
  }
  return 0;
}

int checkpoint_fault_injector::before(io::op_kind op, const std::filesystem::path& path) {
  if (rules_.empty()) {
    return 0;
  }
  std::lock_guard lock(mu_);
  std::string key = path.string();
  switch (op) {
    case io::op_kind::open: {
      if (!io::is_temp_name(path.filename().string())) {
        return 0;  // a directory opened for its fsync, or a read
      }
      commit_state& c = by_temp_[key];
      c = commit_state{};
      c.number = ++commits_;
      return decide(op, path, c);
    }
    case io::op_kind::write:
    case io::op_kind::fsync:
    case io::op_kind::close: {
      const auto it = by_temp_.find(key);
      return it == by_temp_.end() ? 0 : decide(op, path, it->second);
    }
    case io::op_kind::rename: {
      const auto it = by_temp_.find(key);
      if (it == by_temp_.end()) {
        return 0;
      }
      const int error = decide(op, path, it->second);
      awaiting_dir_sync_[path.parent_path().string()].push_back(it->second);
      return error;
    }
    case io::op_kind::fsync_dir: {
      const auto it = awaiting_dir_sync_.find(key);
      if (it == awaiting_dir_sync_.end() || it->second.empty()) {
        return 0;  // the directory sync of a remove or make_dirs
      }
      commit_state c = it->second.front();
      it->second.pop_front();
      if (it->second.empty()) {
        awaiting_dir_sync_.erase(it);
      }
      return decide(op, path, c);
    }
    default:
      return 0;
  }
}

void checkpoint_fault_injector::after(io::op_kind op, const std::filesystem::path& path, int error) {
  if (rules_.empty()) {
    return;
  }
  std::lock_guard lock(mu_);
  const std::string key = path.string();
  if (crash_pending_.load(std::memory_order_acquire)) {
    for (auto it = crashes_.begin(); it != crashes_.end(); ++it) {
      if (it->op == op && it->path == key) {
        if (error == EIO) {
          crash_now(it->why);
        }
        crashes_.erase(it);  // cancelled by an earlier step's real failure: it never ran
        crash_pending_.store(!crashes_.empty(), std::memory_order_release);
        break;
      }
    }
  }
  switch (op) {
    case io::op_kind::open:
      if (error != 0) {
        by_temp_.erase(key);
      }
      break;
    case io::op_kind::unlink:
      by_temp_.erase(key);  // the cleanup of a commit that failed before its rename
      break;
    case io::op_kind::rename: {
      const auto it = by_temp_.find(key);
      if (it == by_temp_.end()) {
        break;
      }
      if (error != 0) {
        // No directory sync follows a failed rename (with threads; io_uring announced it already).
        const auto q = awaiting_dir_sync_.find(path.parent_path().string());
        if (q != awaiting_dir_sync_.end()) {
          std::erase_if(q->second, [&](const commit_state& c) { return c.number == it->second.number; });
          if (q->second.empty()) {
            awaiting_dir_sync_.erase(q);
          }
        }
      }
      by_temp_.erase(it);
      break;
    }
    default:
      break;
  }
}

}  // namespace ftq::inject
