#include "engine/query_recovery.hpp"

#include <algorithm>
#include <span>

#include <boost/asio/cancellation_signal.hpp>

#include <ftq/error.hpp>

#include "engine/fault_tolerant_operator.hpp"
#include "engine/query_checkpointer.hpp"
#include "engine/recovery_gate.hpp"
#include "exec/state/column_codec.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::engine_detail {

namespace {

// query_runtime v1: [tag, 1, full, 3 rows_out (bin of uint64, one per operator), 4 batches_out
// (same), 5 failure history (bin: failure_detector::save_history)]. Always full.
constexpr std::string_view runtime_tag = "query_runtime";
constexpr std::uint32_t runtime_version = 1;

std::vector<operator_position> read_positions(const msgpack::object& in, exec::snapshot_kind kind,
                                              std::size_t operators) {
  const exec::section_reader sec(in, runtime_tag, runtime_version, kind);
  sec.expect_fields(3);
  std::vector<std::uint64_t> rows;
  std::vector<std::uint64_t> batches;
  exec::unpack_values(sec.field(3, "rows_out"), rows, operators);
  exec::unpack_values(sec.field(4, "batches_out"), batches, operators);
  std::vector<operator_position> out(operators);
  for (std::size_t i = 0; i < operators; ++i) {
    out[i] = {rows[i], batches[i]};
  }
  return out;
}

// What a checkpoint records besides the operators: how far each had got (a rollback rewinds
// its counters there and knows how many rows to drop), and the failure history, which so
// survives a restart.
class query_runtime_state final : public exec::operator_state {
 public:
  explicit query_runtime_state(query_recovery& q) : q_(q) {}

  exec::snapshot_kind save(exec::state_packer& out, exec::snapshot_kind) const override {
    exec::execution_context& ctx = q_.exec_context();
    const std::size_t n = ctx.operator_count();
    std::vector<std::uint64_t> rows(n);
    std::vector<std::uint64_t> batches(n);
    for (std::size_t i = 0; i < n; ++i) {
      rows[i] = ctx.stats(i).rows_out;
      batches[i] = ctx.stats(i).batches_out;
    }
    exec::pack_header(out, runtime_tag, runtime_version, exec::snapshot_kind::full, 3);
    exec::pack_values(out, rows);
    exec::pack_values(out, batches);
    const std::vector<std::byte> history = q_.context().detector().save_history();
    out.pack_bin(static_cast<std::uint32_t>(history.size()));
    out.pack_bin_body(reinterpret_cast<const char*>(history.data()), static_cast<std::uint32_t>(history.size()));
    return exec::snapshot_kind::full;
  }

  void load(const msgpack::object& in, exec::snapshot_kind kind) override {
    exec::execution_context& ctx = q_.exec_context();
    const std::size_t n = ctx.operator_count();
    std::vector<operator_position> positions = read_positions(in, kind, n);
    const exec::section_reader sec(in, runtime_tag, runtime_version, kind);
    const std::string_view history = sec.field(5, "failure history").as_bin();
    q_.context().detector().load_history(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(history.data()), history.size()));
    for (std::size_t i = 0; i < n; ++i) {
      ctx.stats(i).rows_out = positions[i].rows_out;
      ctx.stats(i).batches_out = positions[i].batches_out;
    }
    q_.restored_positions() = std::move(positions);
  }

  std::uint64_t snapshot_size_hint() const override { return 16 * q_.exec_context().operator_count() + 1024; }

 private:
  query_recovery& q_;
};

}  // namespace

query_recovery::query_recovery(const exec::physical_operator& root, exec::execution_context& ctx,
                               fault_tolerant_context& ft, query_checkpointer* checkpointer, recovery_gate& gate,
                               std::uint32_t priority, std::string fault_scope)
    : ctx_(ctx),
      ft_(ft),
      checkpointer_(checkpointer),
      gate_(gate),
      priority_(priority),
      fault_scope_(std::move(fault_scope)) {
  ops_.assign(ctx.operator_count(), nullptr);
  parent_.assign(ctx.operator_count(), std::nullopt);
  index(root, std::nullopt);
  for (std::size_t id = 0; id < ops_.size(); ++id) {
    if (ops_[id] == nullptr) {
      throw error(errc::internal, "operator ids of the query are not 0.." + std::to_string(ops_.size() - 1));
    }
    keys_.push_back(operator_key{ft.query_id(), static_cast<std::uint32_t>(id)});
  }
  for (std::size_t id = 0; id < ops_.size(); ++id) {
    supervisors_.push_back(std::make_unique<fault_tolerant_operator>(*this, *ops_[id]));
    ctx.set_supervisor(id, supervisors_.back().get());
  }
  runtime_ = std::make_unique<query_runtime_state>(*this);
  active_.reserve(ops_.size() + 1);
}

query_recovery::~query_recovery() {
  for (std::size_t id = 0; id < ops_.size(); ++id) {
    ctx_.set_supervisor(id, nullptr);
  }
}

void query_recovery::index(const exec::physical_operator& op, std::optional<std::size_t> parent) {
  ops_.at(op.id()) = &op;
  parent_.at(op.id()) = parent;
  for (const auto& c : op.children()) {
    index(*c, op.id());
  }
}

std::optional<std::size_t> query_recovery::innermost() const noexcept {
  const std::int64_t op = innermost_.load(std::memory_order_relaxed);
  if (op < 0) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(op);
}

std::size_t query_recovery::pipeline_top(std::size_t op) const {
  std::size_t at = op;
  while (const auto p = parent_[at]) {
    const exec::physical_operator& parent = *ops_[*p];
    const auto& children = parent.children();
    std::size_t i = 0;
    while (i < children.size() && children[i]->id() != at) {
      ++i;
    }
    at = *p;
    if (parent.blocking_input(i)) {
      break;
    }
  }
  return at;
}

void query_recovery::collect_scope(std::size_t id, std::vector<scope_entry>& out) const {
  const exec::physical_operator& o = *ops_[id];
  exec::operator_state* st = ctx_.state_ptr(id);
  bool partial = false;
  for (std::size_t i = 0; i < o.children().size(); ++i) {
    if (o.blocking_input(i) && st != nullptr && st->keeps_finished_input(i)) {
      partial = true;  // that input's pipeline finished and its output stays: do not run it again
      continue;
    }
    collect_scope(o.children()[i]->id(), out);
  }
  out.push_back({id, partial});
}

boost::asio::awaitable<void> query_recovery::rollback(std::size_t target) {
  std::vector<scope_entry> scope;
  collect_scope(target, scope);
  std::uint64_t cost = 0;
  for (const scope_entry& e : scope) {
    if (exec::operator_state* st = ctx_.state_ptr(e.id)) {
      cost += st->snapshot_size_hint();
    }
  }
  // Neither the wait for the gate nor the restore's reads hold the executor turn, and neither
  // is a stall.
  ctx_.pause_turn();
  set_waiting(true);
  for (const scope_entry& e : scope) {
    ctx_.stats(e.id).phase = operator_phase::recovering;
  }
  std::exception_ptr failure;
  try {
    const recovery_gate::permit permit = co_await gate_.acquire(
        priority_, cost, ft_.query_id() + "#" + std::to_string(target) + "@" + std::string(ops_[target]->name()));
    const auto started = std::chrono::steady_clock::now();
    std::vector<bool> in_scope(ops_.size(), false);
    for (const scope_entry& e : scope) {
      in_scope[e.id] = true;
      if (!e.partial) {
        ctx_.state_ptr(e.id)->retract_progress(ctx_.progress());
        ctx_.set_state(e.id, ops_[e.id]->fresh_state(ctx_));
      }
    }
    std::vector<operator_position> at_epoch(ops_.size());
    bool from_checkpoint = false;
    if (checkpointer_ != nullptr) {
      const std::uint32_t runtime_id = runtime_state_id();
      std::exception_ptr unreadable;
      try {
        from_checkpoint = co_await checkpointer_->reload([&](std::uint32_t id, const msgpack::object& section,
                                                             exec::snapshot_kind kind) {
          if (id == runtime_id) {
            at_epoch = read_positions(section, kind, ops_.size());
            return;
          }
          if (id >= ops_.size() || !in_scope[id]) {
            return;
          }
          exec::operator_state& st = *ctx_.state_ptr(id);
          const bool partial =
              std::any_of(scope.begin(), scope.end(), [id](const scope_entry& e) { return e.id == id && e.partial; });
          if (!partial) {
            st.load(section, kind);
          } else if (!st.rollback_unfinished(&section, kind)) {
            throw error(errc::internal, "operator " + std::to_string(id) + " no longer keeps its finished input");
          }
        });
      } catch (const checkpoint_error&) {
        unreadable = std::current_exception();
      } catch (const io_error&) {
        unreadable = std::current_exception();
      }
      if (unreadable) {
        // The last checkpoint cannot be read back (deleted, damaged on disk): roll back to the
        // start instead, which is as exact, only longer.
        const std::string why = detail::failure_message(unreadable);
        for (const scope_entry& e : scope) {
          if (!e.partial) {
            ctx_.set_state(e.id, ops_[e.id]->fresh_state(ctx_));
          }
        }
        at_epoch.assign(ops_.size(), operator_position{});
        from_checkpoint = false;
        failure_record r;
        r.query = ft_.query_id();
        r.operator_id = static_cast<std::uint32_t>(target);
        r.operator_name = std::string(ops_[target]->name());
        r.cls = error_class::checkpoint;
        r.message = "rolled back to the start: the last checkpoint is unreadable: " + why;
        r.recovery = "restart_from_start";
        r.outcome = "contained";
        ft_.detector().record_failure(std::move(r));
      }
    }
    for (const scope_entry& e : scope) {
      exec::operator_state& st = *ctx_.state_ptr(e.id);
      if (!from_checkpoint && e.partial) {
        (void)st.rollback_unfinished(nullptr, exec::snapshot_kind::full);
      } else if (from_checkpoint && !e.partial) {
        st.snapshot_committed();  // restoring counts as a commit: later deltas build on it
      }
    }
    // Counters: the target keeps what it delivered and drops that much of its replay; the
    // operators below it count again from the epoch.
    std::uint64_t skip = 0;
    for (const scope_entry& e : scope) {
      exec::operator_stats& s = ctx_.stats(e.id);
      if (e.id == target) {
        skip = s.rows_out >= at_epoch[e.id].rows_out ? s.rows_out - at_epoch[e.id].rows_out : 0;
      } else {
        s.rows_out = at_epoch[e.id].rows_out;
        s.batches_out = at_epoch[e.id].batches_out;
        supervisors_[e.id]->set_skip(0);
      }
    }
    supervisors_[target]->set_skip(skip);
    const auto took = std::chrono::steady_clock::now() - started;
    ft_.update_stats([&](fault_tolerance_stats& s) {
      s.states_restored += scope.size();
      s.restore_time += took;
    });
  } catch (...) {
    failure = std::current_exception();
  }
  set_waiting(false);
  co_await ctx_.resume_turn();
  if (failure) {
    set_failing();
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      throw operator_error(errc::recovery_failed, target, std::string(ops_[target]->name()),
                           std::string("rolling back failed: ") + e.what());
    }
  }
}

bool query_recovery::take_final_checkpoint_turn() noexcept {
  if (!final_checkpoint_wanted_ || final_checkpoint_taken_) {
    return false;
  }
  final_checkpoint_taken_ = true;
  return true;
}

boost::asio::awaitable<void> query_recovery::watch_stalls(std::shared_ptr<watchdog_stop> stop) {
  const std::shared_ptr<clock> time = ft_.time();
  const auto every = std::chrono::duration_cast<clock::duration>(ft_.options().stall_check_interval);
  std::optional<std::size_t> interrupted;
  while (!stop->stopped.load(std::memory_order_acquire)) {
    co_await time->sleep(every, stop->wake.slot());
    if (stop->stopped.load(std::memory_order_acquire)) {
      break;
    }
    const std::optional<std::size_t> op = innermost();
    if (!op || waiting()) {
      interrupted.reset();
      continue;
    }
    if (ft_.detector().suspicious(keys_[*op], time->now())) {
      if (interrupted != op) {
        ctx_.interrupt(*op);
        interrupted = op;
      }
    } else {
      interrupted.reset();
    }
  }
}

}  // namespace ftq::engine_detail
