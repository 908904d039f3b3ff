#pragma once
/// The checkpoint manager's internals shared with the per-query checkpoint streams: its store,
/// key, codec settings and event log.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/checkpoint.hpp>

#include "checkpoint/file_format.hpp"
#include "io/file_store.hpp"
#include "io/rados_store.hpp"

namespace ftq {

struct checkpoint_manager::impl {
  boost::asio::any_io_executor executor;
  /// With a RADOS store, options.dir is the URI's PREFIX (possibly empty) and options.store the URI.
  checkpoint_options options;
  /// Shared: leases and the job registry use a RADOS store too (rados_store_shared()).
  std::shared_ptr<io::file_store> store;
  std::optional<checkpoint::encryption_key> key;

  /// Serializes, compresses, encrypts and decodes off the callers' executor threads.
  std::unique_ptr<boost::asio::thread_pool> cpu_pool = std::make_unique<boost::asio::thread_pool>(2);

  /// Runs `work` on the CPU pool and resumes the caller on its own executor; rethrows what
  /// `work` throws.
  template <class Work>
  boost::asio::awaitable<void> on_cpu_pool(Work work) {
    co_await boost::asio::co_spawn(
        cpu_pool->get_executor(),
        [&work]() -> boost::asio::awaitable<void> {
          work();
          co_return;
        },
        boost::asio::use_awaitable);
  }

  checkpoint::codec_options codec() const;
  /// DIR/Q locally; PREFIX/Q (just Q with an empty prefix) on RADOS, as rados::layout::join.
  std::filesystem::path query_dir(const std::string& query_id) const { return options.dir / query_id; }
  /// The store when it is RADOS, else null.
  io::rados_store* rados_store() const noexcept { return dynamic_cast<io::rados_store*>(store.get()); }
  std::shared_ptr<io::rados_store> rados_store_shared() const {
    return std::dynamic_pointer_cast<io::rados_store>(store);
  }
  void log(const std::string& line) const;
  /// Deletes the temp files of crashed commits in `dir`; returns how many.
  boost::asio::awaitable<std::size_t> sweep_temp_files(std::filesystem::path dir);
  /// `query_id` alone (checked), or every query with a directory when empty.
  boost::asio::awaitable<std::vector<std::string>> query_ids(std::string query_id);
  /// The checkpoint files of a query, newest epoch first.
  boost::asio::awaitable<std::vector<std::filesystem::path>> checkpoint_files(std::string query_id);
};

namespace checkpoint {

/// "0000000000000007.ckpt": epochs sort by name.
std::string file_name(std::uint64_t epoch);
/// The epoch of a checkpoint file name, or nullopt for any other name.
std::optional<std::uint64_t> parse_file_name(std::string_view name);
/// Throws std::invalid_argument unless `id` is usable as a directory name: 1-128 of [A-Za-z0-9._-].
void check_query_id(const std::string& id);

checkpoint_info to_info(const file_summary& s, const std::filesystem::path& path);

}  // namespace checkpoint
}  // namespace ftq
