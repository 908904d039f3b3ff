#include "engine/query_checkpointer.hpp"

#include <algorithm>
#include <cstdio>

#include <openssl/sha.h>

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include "checkpoint/manager_impl.hpp"

namespace ftq::engine_detail {

namespace {

constexpr std::uint64_t default_every_rows = 1'000'000;

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
                                       std::array<unsigned char, 32> hash)
    : manager_(schedule.manager),
      stream_(*schedule.manager, std::move(query_id), hash),
      every_rows_(schedule.every_rows),
      interval_(schedule.interval) {
  if (every_rows_ == 0 && interval_ == std::chrono::steady_clock::duration::zero()) {
    every_rows_ = default_every_rows;
  }
}

void query_checkpointer::schedule_next(const exec::execution_context& ctx) {
  next_rows_ = ctx.progress().rows_scanned.load(std::memory_order_relaxed) + every_rows_;
  next_time_ = std::chrono::steady_clock::now() + interval_;
}

bool query_checkpointer::due(const exec::execution_context& ctx) noexcept {
  if (every_rows_ != 0 && ctx.progress().rows_scanned.load(std::memory_order_relaxed) >= next_rows_) {
    return true;
  }
  return interval_ != std::chrono::steady_clock::duration::zero() && std::chrono::steady_clock::now() >= next_time_;
}

std::vector<checkpoint::state_ref> query_checkpointer::states_of(exec::execution_context& ctx) {
  std::vector<checkpoint::state_ref> refs;
  refs.reserve(ctx.operator_count());
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    if (exec::operator_state* s = ctx.state_ptr(id)) {
      refs.push_back({static_cast<std::uint32_t>(id), s});
    }
  }
  return refs;
}

boost::asio::awaitable<void> query_checkpointer::start(exec::execution_context& ctx) {
  co_await stream_.open();
  schedule_next(ctx);
}

boost::asio::awaitable<void> query_checkpointer::take(exec::execution_context& ctx) {
  try {
    checkpoint::commit_report r = co_await stream_.commit(states_of(ctx));
    std::lock_guard lock(stats_mutex_);
    ++stats_.commits;
    stats_.deltas += r.info.delta ? 1 : 0;
    stats_.last_epoch = r.info.epoch;
    stats_.last_raw_bytes = r.info.raw_bytes;
    stats_.last_stored_bytes = r.info.stored_bytes;
    stats_.last_delta = r.info.delta;
    stats_.last_commit_time = r.serialize + r.write;
    stats_.total_commit_time += stats_.last_commit_time;
    stats_.max_commit_time = std::max(stats_.max_commit_time, stats_.last_commit_time);
  } catch (const io_error& e) {
    // The disk refused this one (ENOSPC, EIO...): the query goes on; the next one retries.
    manager_->internals().log("checkpoints: commit failed: " + std::string(e.what()));
    std::lock_guard lock(stats_mutex_);
    ++stats_.failures;
    stats_.last_error = e.what();
  }
  schedule_next(ctx);
}

boost::asio::awaitable<checkpoint::restore_report> query_checkpointer::restore(exec::execution_context& ctx,
                                                                               std::function<void()> reinit) {
  checkpoint::restore_report report = co_await stream_.restore([&ctx, reinit] {
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

checkpoint_stats query_checkpointer::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

}  // namespace ftq::engine_detail
