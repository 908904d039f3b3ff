#pragma once
/// Sends each I/O step of a checkpoint store to the fault injector of the query whose directory
/// the step's path lies in, so queries sharing one checkpoint manager each meet their own
/// checkpoint fault rules (query_options::faults). Steps under no routed directory go to the
/// fallback (null: none fail). Give it as checkpoint_options::faults; the engine routes and
/// unroutes each query that brings a fault plan of its own while it runs. Thread-safe.

#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "io/file_store.hpp"

namespace ftq::inject {

class checkpoint_fault_router final : public io::fault_injector {
 public:
  explicit checkpoint_fault_router(std::shared_ptr<io::fault_injector> fallback = nullptr);

  /// Steps on `dir` or anything under it go to `target` (null: they never fail) until
  /// unroute(dir); routing a directory again replaces its target.
  void route(const std::filesystem::path& dir, std::shared_ptr<io::fault_injector> target);
  void unroute(const std::filesystem::path& dir);
  /// Directories routed now.
  std::size_t routes() const;

  int before(io::op_kind op, const std::filesystem::path& path) override;
  void after(io::op_kind op, const std::filesystem::path& path, int error) override;

 private:
  struct entry {
    std::filesystem::path dir;
    std::shared_ptr<io::fault_injector> target;
  };
  // The target for `path`: the routed directory with the most components that holds it, else
  // the fallback.
  std::shared_ptr<io::fault_injector> find(const std::filesystem::path& path) const;

  std::shared_ptr<io::fault_injector> fallback_;
  mutable std::mutex mu_;
  std::vector<entry> routes_;
};

}  // namespace ftq::inject
