#include "inject/checkpoint_faults.hpp"

#include <cerrno>

#include "inject/crash.hpp"

namespace ftq::inject {

namespace {

// A RADOS commit's chunk object "DIR/NAME@UNIQUE.i" (rados/layout.hpp): returns "DIR/NAME@UNIQUE"
// and sets `file` to "DIR/NAME"; empty for any other path.
std::string chunk_commit_key(const std::string& path, std::string& file) {
  const std::size_t at = path.rfind('@');
  const std::size_t dot = path.rfind('.');
  if (at == std::string::npos || dot == std::string::npos || dot < at || dot + 1 == path.size() ||
      path.find('/', at) != std::string::npos || path.find_first_not_of("0123456789", dot + 1) != std::string::npos) {
    return {};
  }
  file = path.substr(0, at);
  return path.substr(0, dot);
}

}  // namespace

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
      if (it != by_temp_.end()) {
        return decide(op, path, it->second);
      }
      std::string file;
      const std::string chunks = op == io::op_kind::write ? chunk_commit_key(key, file) : std::string();
      if (chunks.empty()) {
        return 0;
      }
      // A RADOS commit starts with its first chunk write; the others (several run at once) are
      // its continuation writes.
      auto [c, fresh] = by_chunks_.try_emplace(chunks);
      if (fresh) {
        c->second.number = ++commits_;
        chunks_of_file_[file] = chunks;
      }
      return decide(op, path, c->second);
    }
    case io::op_kind::rename: {
      const auto it = by_temp_.find(key);
      if (it == by_temp_.end()) {
        // A RADOS commit's manifest operation, the commit point, carries the file's path.
        const auto f = chunks_of_file_.find(key);
        const auto c = f == chunks_of_file_.end() ? by_chunks_.end() : by_chunks_.find(f->second);
        return c == by_chunks_.end() ? 0 : decide(op, path, c->second);
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
    case io::op_kind::unlink: {
      by_temp_.erase(key);  // the cleanup of a commit that failed before its rename
      std::string file;
      if (const std::string chunks = chunk_commit_key(key, file); !chunks.empty() && by_chunks_.erase(chunks) > 0) {
        chunks_of_file_.erase(file);  // the cleanup of a RADOS commit that failed
      }
      break;
    }
    case io::op_kind::rename: {
      const auto it = by_temp_.find(key);
      if (it == by_temp_.end()) {
        if (const auto f = chunks_of_file_.find(key); f != chunks_of_file_.end()) {
          by_chunks_.erase(f->second);  // the RADOS commit ended at its manifest operation
          chunks_of_file_.erase(f);
        }
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
