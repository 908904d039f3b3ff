#pragma once
/// Keeps the failure detector's bounded history: assigns increasing seqs, drops the oldest record
/// beyond capacity, selects by query, operator, time and count, and saves to and merges from
/// versioned msgpack bytes ["ftq.failure_history", version, [record...]], each record an array
/// [seq, unix time ns, query, operator id, operator name, class name, message, attempt,
/// recovery, outcome]. Readers accept extra trailing record fields, so a field can be added
/// without a version bump. Not thread-safe (the detector locks around it).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include <ftq/failure_detector.hpp>

namespace ftq::recovery {

class failure_history {
 public:
  static constexpr std::uint32_t format_version = 1;

  explicit failure_history(std::size_t capacity);

  /// Assigns r.seq and appends; returns the seq.
  std::uint64_t add(failure_record r);
  /// Updates the newest record with `seq`; false if none is held.
  bool set_outcome(std::uint64_t seq, std::string recovery, std::string outcome);
  std::vector<failure_record> select(const history_filter& f) const;
  std::size_t size() const noexcept { return records_.size(); }

  std::vector<std::byte> save() const;
  /// Parses saved bytes completely (throwing checkpoint_error before anything changes).
  static std::vector<failure_record> decode(std::span<const std::byte> bytes);
  /// Adds the records not held yet (by query+seq), keeps seq order and capacity, and moves the
  /// next seq past every merged one. Returns how many were added.
  std::size_t merge(std::vector<failure_record> records);

 private:
  void trim();

  std::size_t capacity_;
  std::deque<failure_record> records_;  // ordered by seq
  std::uint64_t next_seq_ = 1;
};

}  // namespace ftq::recovery
