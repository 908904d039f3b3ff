#pragma once
/// Defines the base every operator runs through: an immutable operator (configuration fixed when
/// the plan is compiled) that pulls batches from its children as a coroutine and keeps all of its
/// mutable state in an operator_state owned by the execution_context. `next()` is the single
/// entry point, so later issues can wrap every operator with checkpoints and retries in one place.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/batch.hpp>
#include <ftq/types.hpp>

#include "exec/execution_context.hpp"

namespace ftq::exec {

class physical_operator {
 public:
  physical_operator(std::size_t id, std::string plan_path, schema output,
                    std::vector<std::unique_ptr<physical_operator>> children);
  virtual ~physical_operator() = default;
  physical_operator(const physical_operator&) = delete;
  physical_operator& operator=(const physical_operator&) = delete;

  /// Produces the next batch with at least one live row, or nullopt once the operator is done
  /// (and on every call after that). Checks cancellation, counts rows, yields when due, and
  /// takes a checkpoint when one is due (before producing: every state is consistent there).
  /// Under a supervisor (ctx.supervisor(id())), the call is the supervisor's instead, which adds
  /// retries and restores around produce().
  boost::asio::awaitable<std::optional<batch>> next(execution_context& ctx) const {
    if (operator_supervisor* s = ctx.supervisor(id_)) {
      return s->next(*this, ctx);
    }
    return run_unsupervised(ctx);
  }

  /// Creates this operator's fresh execution state (and, recursively, its children's) in `ctx`.
  void init_states(execution_context& ctx) const;

  std::size_t id() const noexcept { return id_; }
  const std::string& plan_path() const noexcept { return plan_path_; }
  const schema& output_schema() const noexcept { return output_; }
  const std::vector<std::unique_ptr<physical_operator>>& children() const noexcept { return children_; }
  /// Short operator name for logs and progress: "csv_scan", "hash_join", ...
  virtual std::string_view name() const noexcept = 0;
  /// Number of operators in this subtree.
  std::size_t subtree_size() const noexcept;
  /// Whether the operator consumes all of child `i`'s rows before it produces any that depend on
  /// them (an aggregate's input, a join's build side): child i's pipeline ends here, and a
  /// failure below can be recovered by rolling back only that pipeline.
  virtual bool blocking_input(std::size_t i) const noexcept {
    (void)i;
    return false;
  }

  /// For supervisors (engine/fault_tolerant_operator): one produce() call, and a fresh state.
  boost::asio::awaitable<std::optional<batch>> produce_once(execution_context& ctx) const { return produce(ctx); }
  std::unique_ptr<operator_state> fresh_state(execution_context& ctx) const { return make_state(ctx); }

 protected:
  virtual std::unique_ptr<operator_state> make_state(execution_context& ctx) const = 0;
  /// Produces the next batch; may return batches with zero live rows (next() skips them).
  virtual boost::asio::awaitable<std::optional<batch>> produce(execution_context& ctx) const = 0;

  physical_operator& child(std::size_t i) const { return *children_[i]; }
  /// Wraps a unary operator's input for the constructor above.
  static std::vector<std::unique_ptr<physical_operator>> one_child(std::unique_ptr<physical_operator> child);

 private:
  boost::asio::awaitable<std::optional<batch>> run_unsupervised(execution_context& ctx) const;

  std::size_t id_;
  std::string plan_path_;
  schema output_;
  std::vector<std::unique_ptr<physical_operator>> children_;
};

using operator_ptr = std::unique_ptr<physical_operator>;

}  // namespace ftq::exec
