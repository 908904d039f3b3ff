#include "checkpoint/query_checkpoints.hpp"

#include <algorithm>
#include <set>

#include <ftq/error.hpp>

#include "checkpoint/manager_impl.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::checkpoint {

namespace {

std::uint64_t now_unix_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

/// Whether a restore may try an older checkpoint after this error, or must stop: another
/// plan's checkpoint, or a key problem, would fail the same way on every older file.
bool skippable(const std::error_code& code) {
  return code == errc::checkpoint_corrupt || code == errc::checkpoint_tampered ||
         code == errc::checkpoint_version_unsupported || code == std::errc::io_error;
}

}  // namespace

query_checkpoints::query_checkpoints(checkpoint_manager& manager, std::string query_id,
                                     std::array<unsigned char, 32> plan_hash)
    : manager_(manager.internals()),
      query_id_(std::move(query_id)),
      plan_hash_(plan_hash),
      dir_(manager_.query_dir(query_id_)) {
  check_query_id(query_id_);
}

boost::asio::awaitable<void> query_checkpoints::open() {
  if (opened_) {
    co_return;
  }
  co_await manager_.store->make_dirs(dir_);
  co_await manager_.sweep_temp_files(dir_);
  std::vector<std::filesystem::path> paths = co_await manager_.checkpoint_files(query_id_);
  for (const auto& path : paths) {
    const std::uint64_t epoch = *parse_file_name(path.filename().string());
    next_epoch_ = std::max(next_epoch_, epoch + 1);
    known_file f;
    try {
      std::vector<std::byte> bytes = co_await manager_.store->read(path);
      const file_summary s = read_summary(bytes, path.string());
      f.kind = s.identity.kind;
      f.parent_epoch = s.identity.parent_epoch;
      f.base_epoch = s.identity.base_epoch;
      f.stored_bytes = s.file_bytes;
      f.readable = s.identity.epoch == epoch;
    } catch (const checkpoint_error& e) {
      // A damaged header: no chain can use the file, so retention will delete it. An I/O
      // error, by contrast, says nothing about the file and propagates.
      f.readable = false;
      manager_.log("checkpoints: " + std::string(e.what()));
    }
    files_[epoch] = f;
  }
  opened_ = true;
}

file_kind query_checkpoints::choose_kind() const {
  const checkpoint_options& o = manager_.options;
  if (!o.incremental || !committed_epoch_ || deltas_since_base_ >= o.max_deltas) {
    return file_kind::full;
  }
  if (static_cast<double>(chain_bytes_) > o.max_chain_ratio * static_cast<double>(base_bytes_)) {
    return file_kind::full;
  }
  return file_kind::delta;
}

boost::asio::awaitable<commit_report> query_checkpoints::commit(std::vector<state_ref> states) {
  co_await open();
  const auto started = std::chrono::steady_clock::now();
  const file_kind kind = choose_kind();

  file_identity id;
  id.query_id = query_id_;
  id.plan_hash = plan_hash_;
  id.epoch = next_epoch_++;  // consumed even if the commit fails: a half-done one may exist
  id.kind = kind;
  id.base_epoch = kind == file_kind::full ? id.epoch : base_epoch_;
  id.parent_epoch = kind == file_kind::full ? id.epoch : *committed_epoch_;
  id.created_unix_ms = now_unix_ms();
  id.backend = std::string(io::backend_name(manager_.store->info().kind));
  for (const auto& s : states) {
    id.operator_ids.push_back(s.operator_id);
  }

  const exec::snapshot_kind requested =
      kind == file_kind::full ? exec::snapshot_kind::full : exec::snapshot_kind::delta;
  file_builder builder(id, manager_.codec());
  std::vector<std::span<const std::byte>> buffers;
  // Packing, compressing and encrypting a large state takes tens of milliseconds: do it on the
  // manager's CPU pool so the query's executor thread keeps serving other work. The query's own
  // coroutine is suspended here, so nothing touches its states meanwhile.
  co_await manager_.on_cpu_pool([&] {
    for (const auto& s : states) {
      exec::state_packer packer(builder.begin_section(s.operator_id));
      const exec::snapshot_kind packed = s.state->save(packer, requested);
      builder.end_section(static_cast<std::uint8_t>(packed));
    }
    buffers = builder.finish();
  });
  const auto serialized = std::chrono::steady_clock::now();

  io::commit_request request{dir_, file_name(id.epoch), std::move(buffers)};
  co_await manager_.store->commit(request);
  const auto written = std::chrono::steady_clock::now();

  for (const auto& s : states) {
    s.state->snapshot_committed();
  }
  const std::uint64_t stored = builder.stored_bytes();
  files_[id.epoch] = known_file{kind, id.parent_epoch, id.base_epoch, stored, true};
  committed_epoch_ = id.epoch;
  if (kind == file_kind::full) {
    base_epoch_ = id.epoch;
    base_bytes_ = stored;
    chain_bytes_ = 0;
    deltas_since_base_ = 0;
  } else {
    chain_bytes_ += stored;
    ++deltas_since_base_;
  }
  ++commits_;

  commit_report report;
  report.info.query_id = query_id_;
  report.info.epoch = id.epoch;
  report.info.delta = kind == file_kind::delta;
  report.info.base_epoch = id.base_epoch;
  report.info.parent_epoch = id.parent_epoch;
  report.info.created = std::chrono::system_clock::time_point(std::chrono::milliseconds(id.created_unix_ms));
  report.info.raw_bytes = builder.raw_bytes();
  report.info.stored_bytes = stored;
  report.info.compression = std::string(compression_name(manager_.codec().algorithm));
  report.info.encrypted = manager_.key.has_value();
  report.info.backend = id.backend;
  report.info.path = dir_ / request.name;
  report.info.operator_ids = id.operator_ids;
  report.serialize = serialized - started;
  report.write = written - serialized;
  report.sections = builder.sections();
  last_ = report.info;

  try {
    co_await apply_retention();
  } catch (const io_error& e) {
    // The checkpoint itself is durable; an old file that could not go yet goes next time.
    manager_.log("checkpoints: retention: " + std::string(e.what()));
  }
  for (const auto& [epoch, file] : files_) {
    report.retained.push_back(epoch);
  }
  co_return report;
}

std::vector<std::uint64_t> query_checkpoints::chain_of(std::uint64_t epoch) const {
  std::vector<std::uint64_t> chain;
  std::uint64_t e = epoch;
  for (;;) {
    auto it = files_.find(e);
    if (it == files_.end() || !it->second.readable) {
      return {};
    }
    chain.push_back(e);
    if (it->second.kind == file_kind::full) {
      return chain;
    }
    if (it->second.parent_epoch >= e) {
      return {};  // a delta must build on an older epoch; anything else is corrupt
    }
    e = it->second.parent_epoch;
  }
}

boost::asio::awaitable<void> query_checkpoints::apply_retention() {
  std::set<std::uint64_t> keep;
  std::size_t complete = 0;
  for (auto it = files_.rbegin(); it != files_.rend() && complete < manager_.options.keep; ++it) {
    std::vector<std::uint64_t> chain = chain_of(it->first);
    if (chain.empty()) {
      continue;
    }
    keep.insert(chain.begin(), chain.end());
    ++complete;
  }
  std::vector<std::filesystem::path> doomed;
  for (auto it = files_.begin(); it != files_.end();) {
    if (keep.count(it->first) == 0) {
      doomed.push_back(dir_ / file_name(it->first));
      it = files_.erase(it);
    } else {
      ++it;
    }
  }
  if (!doomed.empty()) {
    co_await manager_.store->remove(std::move(doomed));
  }
}

void query_checkpoints::refuse_other_plan(const file_summary& s, const std::string& path) const {
  if (s.identity.plan_hash != plan_hash_) {
    throw checkpoint_error(errc::checkpoint_plan_mismatch, path,
                           "checkpoint of another plan (query '" + s.identity.query_id +
                               "'); start afresh or point at another checkpoint directory",
                           s.identity.epoch);
  }
}

boost::asio::awaitable<std::vector<decoded_file>> query_checkpoints::read_chain(std::vector<std::uint64_t> chain) {
  const encryption_key* key = manager_.key ? &*manager_.key : nullptr;
  std::vector<decoded_file> decoded;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {  // the full base first
    const std::string link = (dir_ / file_name(*it)).string();
    std::vector<std::byte> bytes = co_await manager_.store->read(link);
    const file_summary summary = read_summary(bytes, link);
    refuse_other_plan(summary, link);
    if (key != nullptr && !summary.encrypted) {
      // With a key configured, a plain file is a downgrade: someone who can write the
      // directory could otherwise feed forged state past the authentication.
      throw checkpoint_error(errc::checkpoint_tampered, link, "not encrypted, but a key is configured",
                             summary.identity.epoch);
    }
    co_await manager_.on_cpu_pool([&] { decoded.push_back(decode_file(bytes, link, key)); });
  }
  co_return decoded;
}

void query_checkpoints::apply_chain(const std::vector<decoded_file>& chain,
                                    const std::vector<state_ref>& states) const {
  for (const decoded_file& file : chain) {
    const std::uint64_t epoch = file.summary.identity.epoch;
    const std::string link = (dir_ / file_name(epoch)).string();
    for (std::size_t i = 0; i < file.sections.size(); ++i) {
      const section_info& sec = file.summary.sections[i];
      auto target = std::find_if(states.begin(), states.end(),
                                 [&](const state_ref& r) { return r.operator_id == sec.operator_id; });
      if (target == states.end()) {
        throw checkpoint_error(errc::checkpoint_plan_mismatch, link, "no such operator in this plan", epoch,
                               sec.operator_id, sec.offset);
      }
      if (sec.kind > static_cast<std::uint8_t>(exec::snapshot_kind::delta)) {
        throw checkpoint_error(errc::checkpoint_corrupt, link, "unknown section kind", epoch, sec.operator_id,
                               sec.offset);
      }
      const std::vector<char>& raw = file.sections[i];
      try {
        msgpack::object_handle oh = exec::unpack_section(raw.data(), raw.size());
        target->state->load(oh.get(), static_cast<exec::snapshot_kind>(sec.kind));
      } catch (const checkpoint_error& e) {  // the state's own message, placed in the file
        throw checkpoint_error(e.code(), link, e.message(), epoch, sec.operator_id, sec.offset);
      } catch (const std::bad_cast& e) {  // msgpack::type_error: a field of the wrong type
        throw checkpoint_error(errc::checkpoint_corrupt, link, std::string("malformed state: ") + e.what(), epoch,
                               sec.operator_id, sec.offset);
      }
    }
  }
}

void query_checkpoints::note_restored(const std::vector<std::uint64_t>& chain) {
  committed_epoch_ = chain.front();
  base_epoch_ = chain.back();
  base_bytes_ = files_[base_epoch_].stored_bytes;
  chain_bytes_ = 0;
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    chain_bytes_ += files_[chain[i]].stored_bytes;
  }
  deltas_since_base_ = chain.size() - 1;
}

boost::asio::awaitable<restore_report> query_checkpoints::restore(std::function<std::vector<state_ref>()> fresh) {
  co_await open();
  restore_report report;
  std::vector<std::uint64_t> candidates;
  for (auto it = files_.rbegin(); it != files_.rend(); ++it) {
    candidates.push_back(it->first);
  }
  bool states_touched = false;
  for (const std::uint64_t epoch : candidates) {
    const std::filesystem::path path = dir_ / file_name(epoch);
    checkpoint_check skip;
    skip.info.path = path;
    skip.info.query_id = query_id_;
    skip.info.epoch = epoch;
    const std::vector<std::uint64_t> chain = chain_of(epoch);
    if (chain.empty()) {
      skip.error = errc::checkpoint_corrupt;
      skip.message = path.string() + ": unreadable, or its chain to a full checkpoint is broken";
    } else {
      // Verify the whole chain before touching any state, then apply it to fresh states.
      try {
        const std::vector<decoded_file> decoded = co_await read_chain(chain);
        const std::vector<state_ref> states = fresh();
        states_touched = true;
        co_await manager_.on_cpu_pool([&] { apply_chain(decoded, states); });
        for (const auto& s : states) {
          s.state->snapshot_committed();
        }
        report.restored = to_info(decoded.back().summary, path);
        note_restored(chain);
        co_return report;
      } catch (const error& e) {
        if (!skippable(e.code())) {
          throw;
        }
        skip.error = e.code();
        skip.message = e.what();
      }
    }
    manager_.log("checkpoints: skipping " + skip.message);
    report.skipped.push_back(std::move(skip));
  }
  if (states_touched) {
    (void)fresh();  // a chain failed halfway: leave the states as make_state() made them
  }
  co_return report;
}

boost::asio::awaitable<bool> query_checkpoints::reload_committed(section_visitor apply) {
  if (!committed_epoch_) {
    co_return false;
  }
  const std::vector<std::uint64_t> chain = chain_of(*committed_epoch_);
  if (chain.empty()) {
    throw checkpoint_error(errc::checkpoint_not_found, (dir_ / file_name(*committed_epoch_)).string(),
                           "the chain of the last committed checkpoint is incomplete", *committed_epoch_);
  }
  const std::vector<decoded_file> decoded = co_await read_chain(chain);
  co_await manager_.on_cpu_pool([&] {
    for (const decoded_file& file : decoded) {
      const std::uint64_t epoch = file.summary.identity.epoch;
      for (std::size_t i = 0; i < file.sections.size(); ++i) {
        const section_info& sec = file.summary.sections[i];
        const std::vector<char>& raw = file.sections[i];
        try {
          msgpack::object_handle oh = exec::unpack_section(raw.data(), raw.size());
          apply(sec.operator_id, oh.get(), static_cast<exec::snapshot_kind>(sec.kind));
        } catch (const checkpoint_error& e) {
          throw checkpoint_error(e.code(), (dir_ / file_name(epoch)).string(), e.message(), epoch, sec.operator_id,
                                 sec.offset);
        } catch (const std::bad_cast& e) {
          throw checkpoint_error(errc::checkpoint_corrupt, (dir_ / file_name(epoch)).string(),
                                 std::string("malformed state: ") + e.what(), epoch, sec.operator_id, sec.offset);
        }
      }
    }
  });
  co_return true;
}

boost::asio::awaitable<void> query_checkpoints::discard_all() {
  co_await open();
  std::vector<std::filesystem::path> all;
  for (const auto& [epoch, f] : files_) {
    all.push_back(dir_ / file_name(epoch));
  }
  if (!all.empty()) {
    co_await manager_.store->remove(std::move(all));
  }
  files_.clear();
  committed_epoch_.reset();
  base_epoch_ = 0;
  base_bytes_ = 0;
  chain_bytes_ = 0;
  deltas_since_base_ = 0;
}

boost::asio::awaitable<void> query_checkpoints::finish(bool succeeded) {
  if (!opened_) {
    co_return;
  }
  if (succeeded && !manager_.options.retain_on_success) {
    std::vector<std::filesystem::path> all;
    for (const auto& [epoch, f] : files_) {
      all.push_back(dir_ / file_name(epoch));
    }
    files_.clear();
    if (!all.empty()) {
      co_await manager_.store->remove(std::move(all));
    }
    co_return;
  }
  co_await apply_retention();
}

}  // namespace ftq::checkpoint
