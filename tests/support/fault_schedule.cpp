#include "support/fault_schedule.hpp"

namespace ftq::test {

fault_schedule::fault_schedule(std::size_t fail_at, int error) : fail_at_(fail_at), error_(error) {}

int fault_schedule::before(ftq::io::op_kind op, const std::filesystem::path& path) {
  std::lock_guard lock(mu_);
  const int injected = ops_.size() + 1 == fail_at_ ? error_ : 0;
  ops_.push_back(record{op, path, injected, -1});
  return injected;
}

void fault_schedule::after(ftq::io::op_kind op, const std::filesystem::path& path, int error) {
  {
    std::lock_guard lock(mu_);
    for (record& r : ops_) {
      if (r.result == -1 && r.op == op && r.path == path) {
        r.result = error;
        break;
      }
    }
  }
  if (on_after) {
    on_after(op, path, error);
  }
}

std::vector<fault_schedule::record> fault_schedule::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

std::size_t fault_schedule::count() const {
  std::lock_guard lock(mu_);
  return ops_.size();
}

bool fault_schedule::fired() const {
  std::lock_guard lock(mu_);
  return fail_at_ > 0 && ops_.size() >= fail_at_;
}

std::size_t fault_schedule::count_of(ftq::io::op_kind op) const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const record& r : ops_) {
    n += r.op == op ? 1 : 0;
  }
  return n;
}

std::string fault_schedule::trace() const {
  std::lock_guard lock(mu_);
  std::string s;
  for (const record& r : ops_) {
    if (!s.empty()) {
      s += ", ";
    }
    s += std::string(ftq::io::op_name(r.op)) + " " + r.path.filename().string() + " -> " + std::to_string(r.result);
  }
  return s;
}

}  // namespace ftq::test
