#include "support/crash_simulator.hpp"

#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "support/temp_dir.hpp"

namespace ftq::test {
namespace fs = std::filesystem;
using ftq::io::op_kind;

crash_simulator::crash_simulator(fs::path dir) : dir_(fs::weakly_canonical(dir)) {
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.is_regular_file()) {
      live_[e.path().filename().string()] = std::make_shared<file_state>(file_state{read_file_or_fail(e.path())});
    }
  }
  durable_ = live_;
}

void crash_simulator::stop_after(std::size_t n) {
  std::lock_guard lock(mu_);
  stop_after_ = n;
}

std::size_t crash_simulator::operations() const {
  std::lock_guard lock(mu_);
  return count_;
}

std::string crash_simulator::name_in_dir(const fs::path& path) const {
  const fs::path p = fs::weakly_canonical(path);
  return p.parent_path() == dir_ ? p.filename().string() : std::string();
}

int crash_simulator::before(op_kind, const fs::path&) {
  std::lock_guard lock(mu_);
  ++count_;
  return stop_after_ && count_ > *stop_after_ ? EIO : 0;
}

void crash_simulator::after(op_kind op, const fs::path& path, int error) {
  if (error != 0) {
    return;  // a failed operation changed nothing (the model has no partial renames)
  }
  std::lock_guard lock(mu_);
  switch (op) {
    case op_kind::open: {
      const std::string name = name_in_dir(path);
      if (!name.empty() && !live_.contains(name)) {  // O_CREAT made a new, empty file
        live_[name] = std::make_shared<file_state>();
      }
      break;
    }
    case op_kind::fsync: {
      const std::string name = name_in_dir(path);
      if (auto it = live_.find(name); !name.empty() && it != live_.end()) {
        std::error_code ec;
        const fs::path on_disk = fs::exists(path, ec) ? path : ftq::io::committed_path(path);
        it->second->durable = read_file_or_fail(on_disk);
      }
      break;
    }
    case op_kind::rename: {
      const std::string from = name_in_dir(path);
      const std::string to = name_in_dir(ftq::io::committed_path(path));
      if (auto it = live_.find(from); !from.empty() && it != live_.end()) {
        live_[to] = it->second;
        live_.erase(from);
      }
      break;
    }
    case op_kind::unlink:
      live_.erase(name_in_dir(path));
      break;
    case op_kind::fsync_dir:
      if (fs::weakly_canonical(path) == dir_) {
        durable_ = live_;
      }
      break;
    default:
      break;
  }
}

void crash_simulator::crash() {
  std::lock_guard lock(mu_);
  for (const auto& e : fs::directory_iterator(dir_)) {
    if (e.is_regular_file()) {
      fs::remove(e.path());
    }
  }
  entries restored;
  for (const auto& [name, file] : durable_) {
    write_file(dir_ / name, file->durable);
    // After the reboot each name is a file of its own, whose content is durable.
    restored[name] = std::make_shared<file_state>(file_state{file->durable});
  }
  live_ = restored;
  durable_ = restored;
  count_ = 0;
  stop_after_.reset();
}

}  // namespace ftq::test
