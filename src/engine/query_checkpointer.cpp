#include "engine/query_checkpointer.hpp"

#include <algorithm>
#include <cstdio>

#include <openssl/sha.h>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "checkpoint/manager_impl.hpp"
#include "engine/engine_metrics.hpp"

namespace ftq::engine_detail {

namespace {

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out;
  char buf[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", bytes[i]);
    out += buf;
  }
  return out;
}

}  // namespace

std::array<unsigned char, 32> plan_hash(const std::string& plan_json) {
  std::array<unsigned char, 32> h{};
  SHA256(reinterpret_cast<const unsigned char*>(plan_json.data()), plan_json.size(), h.data());
  return h;
}

std::string default_checkpoint_id(const std::string& plan_name, const std::string& plan_json,
                                  const std::string& output) {
  std::string name;
  for (char c : plan_name.substr(0, 64)) {
    const bool safe =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    name += safe ? c : '_';
  }
  if (name.empty() || name == "." || name == "..") {
    name = "query";
  }
  const std::array<unsigned char, 32> h = plan_hash(plan_json + '\n' + output);
  return name + "-" + hex(h.data(), 8);
}

query_checkpointer::query_checkpointer(const checkpoint_schedule& schedule, std::string query_id,
                                       std::array<unsigned char, 32> hash, interval_options adaptive)
    : manager_(schedule.manager),
      stream_(*schedule.manager, std::move(query_id), hash),
      every_rows_(schedule.every_rows),
      interval_(schedule.interval),
      estimator_(adaptive) {
  adaptive_ = every_rows_ == 0 && interval_ == std::chrono::steady_clock::duration::zero();
}

void query_checkpointer::add_state(std::uint32_t id, exec::operator_state* state) {
  extra_states_.push_back({id, state});
}

void query_checkpointer::schedule_next(const exec::execution_context& ctx) {
  const auto now = std::chrono::steady_clock::now();
  if (last_schedule_ != std::chrono::steady_clock::time_point{}) {
    estimator_.record_run_time(now - last_schedule_);
  }
  last_schedule_ = now;
  if (adaptive_) {
    next_time_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(estimator_.current().interval);
    return;
  }
  next_rows_ = ctx.progress().rows_scanned.load(std::memory_order_relaxed) + every_rows_;
  next_time_ = now + interval_;
}

bool query_checkpointer::due(const exec::execution_context& ctx) noexcept {
  if (stopped()) {
    return false;
  }
  if (requested_.load(std::memory_order_relaxed)) {
    return true;
  }
  if (every_rows_ != 0 && ctx.progress().rows_scanned.load(std::memory_order_relaxed) >= next_rows_) {
    return true;
  }
  return (adaptive_ || interval_ != std::chrono::steady_clock::duration::zero()) &&
         std::chrono::steady_clock::now() >= next_time_;
}

std::vector<checkpoint::state_ref> query_checkpointer::states_of(exec::execution_context& ctx) const {
  std::vector<checkpoint::state_ref> refs;
  refs.reserve(ctx.operator_count());
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    if (exec::operator_state* s = ctx.state_ptr(id)) {
      refs.push_back({static_cast<std::uint32_t>(id), s});
    }
  }
  refs.insert(refs.end(), extra_states_.begin(), extra_states_.end());
  return refs;
}

boost::asio::awaitable<void> query_checkpointer::start(exec::execution_context& ctx) {
  co_await stream_.open();
  schedule_next(ctx);
}

boost::asio::awaitable<void> query_checkpointer::take(exec::execution_context& ctx) {
  if (stopped()) {
    co_return;
  }
  const auto started = std::chrono::steady_clock::now();
  requested_.store(false, std::memory_order_relaxed);
  try {
    const std::vector<checkpoint::state_ref> states = states_of(ctx);
    for (const auto& s : states) {
      s.state->prepare_snapshot();
    }
    // A sink's fsync may block: off the executor thread, like the serialization.
    co_await manager_->internals().on_cpu_pool([&states] {
      for (const auto& s : states) {
        s.state->sync_snapshot();
      }
    });
    checkpoint::commit_report r = co_await stream_.commit(states);
    estimator_.record_cost(std::chrono::steady_clock::now() - started);
    if (metrics_ != nullptr) {
      metrics_->checkpoint_committed(r.serialize + r.write, r.info.raw_bytes, r.info.stored_bytes, r.info.delta);
    }
    std::lock_guard lock(stats_mutex_);
    for (checkpoint_entry& e : recent_) {
      e.retained = std::binary_search(r.retained.begin(), r.retained.end(), e.epoch);
    }
    recent_.push_back(checkpoint_entry{r.info.epoch, r.info.delta, r.info.base_epoch, r.info.created, r.info.raw_bytes,
                                       r.info.stored_bytes, r.serialize + r.write, true});
    if (recent_.size() > recent_limit) {
      recent_.pop_front();
    }
    sections_.clear();
    section_ids_.clear();
    for (const checkpoint::section_info& sec : r.sections) {
      section_ids_.push_back(sec.operator_id);
      sections_.push_back(operator_checkpoint{r.info.epoch, r.info.created, sec.raw_bytes, sec.stored_bytes,
                                              sec.kind == static_cast<std::uint8_t>(exec::snapshot_kind::delta)});
    }
    ++stats_.commits;
    stats_.deltas += r.info.delta ? 1 : 0;
    stats_.last_epoch = r.info.epoch;
    stats_.last_raw_bytes = r.info.raw_bytes;
    stats_.last_stored_bytes = r.info.stored_bytes;
    stats_.last_delta = r.info.delta;
    stats_.last_commit_time = r.serialize + r.write;
    stats_.total_commit_time += stats_.last_commit_time;
    stats_.max_commit_time = std::max(stats_.max_commit_time, stats_.last_commit_time);
  } catch (const error& e) {
    const bool fenced = e.code() == make_error_code(errc::lease_lost);
    if (!fenced && dynamic_cast<const io_error*>(&e) == nullptr) {
      throw;  // not the store's refusal: a state that cannot be saved is the query's failure
    }
    // The store refused this one. For a disk (ENOSPC, EIO...) the query goes on and the next
    // one retries; a store that fenced it says another process owns the query now: this one
    // must stop at once and write nothing more.
    manager_->internals().log("checkpoints: commit " + std::string(fenced ? "refused" : "failed") + ": " +
                              std::string(e.what()));
    if (metrics_ != nullptr) {
      metrics_->checkpoint_failed();
    }
    {
      std::lock_guard lock(stats_mutex_);
      ++stats_.failures;
      stats_.last_error = e.what();
    }
    if (fenced) {
      stop_checkpointing();
      throw error(errc::lease_lost, "query '" + stream_.query_id() +
                                        "': checkpoint commit refused: another process owns the query now "
                                        "(this one lost its lease), so it stops here: " +
                                        std::string(e.what()));
    }
  }
  schedule_next(ctx);
}

boost::asio::awaitable<checkpoint::restore_report> query_checkpointer::restore(exec::execution_context& ctx,
                                                                               std::function<void()> reinit) {
  checkpoint::restore_report report = co_await stream_.restore([this, &ctx, reinit] {
    reinit();
    return states_of(ctx);
  });
  if (report.restored) {
    std::lock_guard lock(stats_mutex_);
    stats_.last_epoch = report.restored->epoch;
  }
  co_return report;
}

boost::asio::awaitable<void> query_checkpointer::finish(bool succeeded) { co_await stream_.finish(succeeded); }

boost::asio::awaitable<bool> query_checkpointer::reload(checkpoint::query_checkpoints::section_visitor apply) {
  const bool found = co_await stream_.reload_committed(std::move(apply));
  co_return found;
}

boost::asio::awaitable<void> query_checkpointer::discard_all() { co_await stream_.discard_all(); }

checkpoint_stats query_checkpointer::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

std::vector<checkpoint_entry> query_checkpointer::recent() const {
  std::lock_guard lock(stats_mutex_);
  return {recent_.begin(), recent_.end()};
}

std::vector<std::optional<operator_checkpoint>> query_checkpointer::last_sections(std::size_t operator_count) const {
  std::vector<std::optional<operator_checkpoint>> out(operator_count);
  std::lock_guard lock(stats_mutex_);
  for (std::size_t i = 0; i < section_ids_.size(); ++i) {
    if (section_ids_[i] < operator_count) {
      out[section_ids_[i]] = sections_[i];
    }
  }
  return out;
}

}  // namespace ftq::engine_detail
