#pragma once
/// The supervisor every operator of a fault-tolerant query runs through (installed by
/// query_recovery): each next() call checks cancellation, takes the checkpoint the engine's
/// schedule asks for, consults fault injection, and calls produce(). When produce() fails, the
/// failure is classified and recorded in the failure detector, the recovery policy picks the
/// action, the retry controller decides whether it may run again and waits its backoff on a
/// timer (giving up the executor meanwhile), a named handler runs if the rule names one, and
/// the action is carried out: run again in place, roll this operator back and replay, or roll
/// back its whole pipeline. After a rollback it drops the rows it had delivered already, so its
/// consumer sees each row exactly once.

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include <ftq/failure_detector.hpp>
#include <ftq/retry.hpp>

#include "exec/execution_context.hpp"
#include "exec/physical_operator.hpp"

namespace ftq::engine_detail {

class query_recovery;

class fault_tolerant_operator final : public exec::operator_supervisor {
 public:
  fault_tolerant_operator(query_recovery& query, const exec::physical_operator& op);

  boost::asio::awaitable<std::optional<batch>> next(const exec::physical_operator& op,
                                                    exec::execution_context& ctx) override;

  /// After a rollback of this operator: drop this many live rows before delivering again.
  void set_skip(std::uint64_t rows) noexcept;
  std::uint64_t skip() const noexcept { return skip_rows_; }
  /// Retries its current retry sequence has left; safe from any thread.
  std::uint32_t retry_attempts_left() const noexcept;

 private:
  /// Cancellation (with the final checkpoint of a graceful stop) and the scheduled checkpoint.
  boost::asio::awaitable<void> before_produce(exec::execution_context& ctx);
  /// Rethrows what a checkpoint's take() threw (if anything); a lost lease first marks the
  /// query failing, so no operator above tries to recover from it.
  void end_if_refused(const std::exception_ptr& failure);
  /// Throws, stalls or crashes as the fault plan says for this call.
  boost::asio::awaitable<void> inject(exec::execution_context& ctx);
  /// Returns to run produce() again (after a retry wait or a rollback); throws to fail or to
  /// pass the failure up (to an ancestor's rollback, or out of the query).
  boost::asio::awaitable<void> recover(std::exception_ptr failure, exec::execution_context& ctx);
  /// The operator's counters for a batch it delivers.
  void delivered(const batch& b, exec::execution_context& ctx);
  /// A batch came out of produce() (delivered or dropped as replay): the detector's success
  /// and heartbeat, the retry sequence's reset, the end of a recovery.
  void made_progress(exec::execution_context& ctx);
  /// Drops skip_rows_ live rows from the front of `b`.
  void drop_replayed(batch& b);

  query_recovery& query_;
  const exec::physical_operator& op_;
  const std::size_t id_;
  retry_controller retries_;
  exec::published<std::uint32_t> attempts_used_{0};
  std::optional<failure_detector::probe> probe_;
  std::uint64_t calls_ = 0;
  std::uint64_t skip_rows_ = 0;
  // The failure being recovered from: its history record, action and start.
  std::optional<std::uint64_t> pending_seq_;
  std::string pending_action_;
  std::chrono::steady_clock::time_point failed_at_{};
};

}  // namespace ftq::engine_detail
