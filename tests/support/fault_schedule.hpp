#pragma once
// Provides a fault_injector for "grind" tests: it fails the n-th operation a store performs
// (counting every operation of every kind, from 1) with a chosen errno, and records every
// operation with its outcome, so a test can fail each step of a protocol in turn.

#include <cstddef>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "io/file_store.hpp"

namespace ftq::test {

class fault_schedule : public ftq::io::fault_injector {
 public:
  /// Fails operation number `fail_at` (1-based; 0 fails none) with `error`.
  explicit fault_schedule(std::size_t fail_at, int error);

  struct record {
    ftq::io::op_kind op;
    std::filesystem::path path;
    int injected = 0;  // what before() returned
    int result = -1;   // what after() reported; -1 until then
  };

  int before(ftq::io::op_kind op, const std::filesystem::path& path) override;
  void after(ftq::io::op_kind op, const std::filesystem::path& path, int error) override;

  /// Every operation so far, in the order before() saw them.
  std::vector<record> ops() const;
  std::size_t count() const;
  /// Whether operation `fail_at` happened (so the fault was injected).
  bool fired() const;
  /// "open x.tmp-1 -> 0, write x.tmp-1 -> 5, ..." for failure messages.
  std::string trace() const;
  /// How many recorded operations are `op`.
  std::size_t count_of(ftq::io::op_kind op) const;

  /// Called at the end of after(), outside the lock (tests use it to change the world between
  /// two operations, e.g. lift a file size limit after a short write).
  std::function<void(ftq::io::op_kind, const std::filesystem::path&, int)> on_after;

 private:
  mutable std::mutex mu_;
  std::size_t fail_at_;
  int error_;
  std::vector<record> ops_;
};

}  // namespace ftq::test
