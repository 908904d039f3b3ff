#include <ftq/checkpoint.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <ftq/error.hpp>

#include "checkpoint/manager_impl.hpp"
#include "rados/connection.hpp"

namespace ftq {

namespace checkpoint {

namespace {

constexpr std::string_view suffix = ".ckpt";

checkpoint::compression to_codec(checkpoint_compression c) {
  switch (c) {
    case checkpoint_compression::none:
      return compression::none;
    case checkpoint_compression::lz4:
      return compression::lz4;
    case checkpoint_compression::zstd:
      return compression::zstd;
  }
  return compression::zstd;
}

io::backend_choice parse_backend(const std::string& name) {
  if (name.empty()) {
    return io::backend_choice_from_env();
  }
  if (name == "auto") {
    return io::backend_choice::automatic;
  }
  if (name == "uring" || name == "io_uring") {
    return io::backend_choice::io_uring;
  }
  if (name == "threads") {
    return io::backend_choice::threads;
  }
  throw error(errc::io_backend_unavailable, "unknown I/O backend '" + name + "' (auto, uring, threads)");
}

}  // namespace

std::string file_name(std::uint64_t epoch) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(epoch));
  return std::string(buf) + std::string(suffix);
}

std::optional<std::uint64_t> parse_file_name(std::string_view name) {
  if (name.size() != 16 + suffix.size() || !name.ends_with(suffix)) {
    return std::nullopt;
  }
  std::uint64_t epoch = 0;
  const char* end = name.data() + 16;
  auto [p, ec] = std::from_chars(name.data(), end, epoch, 16);
  if (ec != std::errc() || p != end) {
    return std::nullopt;
  }
  return epoch;
}

void check_query_id(const std::string& id) {
  const bool ok =
      !id.empty() && id.size() <= 128 && id != "." && id != ".." && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
      });
  if (!ok) {
    throw std::invalid_argument("invalid checkpoint query id '" + id +
                                "': use 1-128 of A-Z a-z 0-9 . _ - (it names a directory)");
  }
}

checkpoint_info to_info(const file_summary& s, const std::filesystem::path& path) {
  checkpoint_info info;
  info.query_id = s.identity.query_id;
  info.epoch = s.identity.epoch;
  info.delta = s.identity.kind == file_kind::delta;
  info.base_epoch = s.identity.base_epoch;
  info.parent_epoch = s.identity.parent_epoch;
  info.created = std::chrono::system_clock::time_point(std::chrono::milliseconds(s.identity.created_unix_ms));
  info.raw_bytes = s.raw_bytes;
  info.stored_bytes = s.file_bytes;
  info.compression = std::string(compression_name(s.algorithm));
  info.encrypted = s.encrypted;
  info.backend = s.identity.backend;
  info.path = path;
  info.operator_ids = s.identity.operator_ids;
  return info;
}

}  // namespace checkpoint

checkpoint::codec_options checkpoint_manager::impl::codec() const {
  checkpoint::codec_options c;
  c.algorithm = checkpoint::to_codec(options.compression);
  c.level = options.compression_level;
  c.key = key ? &*key : nullptr;
  return c;
}

void checkpoint_manager::impl::log(const std::string& line) const {
  if (options.log) {
    options.log(line);
  }
}

checkpoint_manager::checkpoint_manager(boost::asio::any_io_executor executor, checkpoint_options options)
    : impl_(std::make_unique<impl>()) {
  const bool on_rados = rados::is_rados_uri(options.store);
  if (!options.store.empty() && !on_rados) {
    throw error(errc::setting_invalid,
                "checkpoint store '" + options.store + "': expected rados://POOL[/PREFIX] (or none for the directory)");
  }
  if (options.dir.empty() && !on_rados) {
    throw std::invalid_argument("checkpoint_options::dir is empty");
  }
  if (options.keep == 0) {
    options.keep = 1;
  }
  impl_->executor = executor;
  if (!options.key_file.empty()) {
    impl_->key = checkpoint::load_key_file(options.key_file);
  } else if (!options.key_env.empty()) {
    impl_->key = checkpoint::key_from_env(options.key_env.c_str());
  }
  if (on_rados) {
    const rados::store_uri uri = rados::parse_store_uri(options.store);
    std::shared_ptr<rados::connection> conn = options.rados;
    if (!conn) {
      rados::connect_options co;
      co.pool = uri.pool;
      co.conf_path = options.ceph_conf.string();
      conn = rados::connection::connect(co);
    } else if (conn->pool() != uri.pool) {
      throw error(errc::setting_invalid, "checkpoint store '" + options.store + "': the connection given is to pool '" +
                                             conn->pool() + "', not '" + uri.pool + "'");
    }
    std::string conf = options.ceph_conf.string();
    if (conf.empty()) {
      const char* env = std::getenv("CEPH_CONF");
      conf = env != nullptr && *env != '\0' ? env : "default";
    }
    io::rados_store_options ro;
    ro.chunk_bytes = options.rados_chunk_bytes;
    ro.max_write_bytes = options.rados_max_write_bytes;
    ro.root = uri.prefix;
    ro.reason = "rados: pool " + uri.pool + " (conf " + conf + ")";
    impl_->store = std::make_shared<io::rados_store>(executor, std::move(conn), ro, options.faults);
    options.dir = uri.prefix;  // query Q lives at PREFIX/Q
  } else {
    impl_->store = io::make_file_store(executor, checkpoint::parse_backend(options.io_backend), options.faults);
  }
  impl_->options = std::move(options);
  impl_->log("checkpoints: I/O backend " + std::string(io::backend_name(impl_->store->info().kind)) + " (" +
             impl_->store->info().reason + ")");
}

checkpoint_manager::~checkpoint_manager() = default;

const checkpoint_options& checkpoint_manager::options() const noexcept { return impl_->options; }

std::string_view checkpoint_manager::backend() const noexcept { return io::backend_name(impl_->store->info().kind); }

const std::string& checkpoint_manager::backend_reason() const noexcept { return impl_->store->info().reason; }

bool checkpoint_manager::encrypts() const noexcept { return impl_->key.has_value(); }

boost::asio::awaitable<std::size_t> checkpoint_manager::open() {
  if (impl_->rados_store() != nullptr) {
    // A RADOS prefix is a name space: nothing to create, and no commit ever lands in it (each
    // query sweeps its own directory when it opens, query_checkpoints::open()).
    co_return 0;
  }
  co_await impl_->store->make_dirs(impl_->options.dir);
  co_return co_await impl_->sweep_temp_files(impl_->options.dir);
}

boost::asio::awaitable<std::size_t> checkpoint_manager::impl::sweep_temp_files(std::filesystem::path dir) {
  const std::vector<std::string> stale = co_await store->sweep(dir);
  for (const auto& n : stale) {
    log("checkpoints: removed what a crashed commit left: " + (dir / n).string());
  }
  co_return stale.size();
}

boost::asio::awaitable<std::vector<std::string>> checkpoint_manager::impl::query_ids(std::string query_id) {
  if (!query_id.empty()) {
    checkpoint::check_query_id(query_id);
    std::vector<std::string> names = co_await store->list(query_dir(query_id));
    if (std::none_of(names.begin(), names.end(),
                     [](const std::string& n) { return checkpoint::parse_file_name(n).has_value(); })) {
      throw checkpoint_error(errc::checkpoint_not_found, query_dir(query_id).string(),
                             "no checkpoint of query '" + query_id + "'");
    }
    co_return std::vector<std::string>{query_id};
  }
  std::vector<std::string> ids = co_await store->list_dirs(options.dir);
  std::sort(ids.begin(), ids.end());
  co_return ids;
}

boost::asio::awaitable<std::vector<std::filesystem::path>> checkpoint_manager::impl::checkpoint_files(
    std::string query_id) {
  const std::filesystem::path dir = query_dir(query_id);
  std::vector<std::string> names = co_await store->list(dir);
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> files;
  for (const auto& n : names) {
    if (auto epoch = checkpoint::parse_file_name(n)) {
      files.emplace_back(*epoch, dir / n);
    }
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::filesystem::path> paths;
  paths.reserve(files.size());
  for (auto& f : files) {
    paths.push_back(std::move(f.second));
  }
  co_return paths;
}

boost::asio::awaitable<std::vector<checkpoint_info>> checkpoint_manager::list(std::string query_id) {
  std::vector<checkpoint_info> out;
  std::vector<std::string> ids = co_await impl_->query_ids(std::move(query_id));
  for (const auto& id : ids) {
    std::vector<std::filesystem::path> files = co_await impl_->checkpoint_files(id);
    for (const auto& path : files) {
      try {
        std::vector<std::byte> bytes = co_await impl_->store->read(path);
        out.push_back(checkpoint::to_info(checkpoint::read_summary(bytes, path.string()), path));
      } catch (const checkpoint_error& e) {
        impl_->log("checkpoints: cannot read header: " + std::string(e.what()));
      }
    }
  }
  co_return out;
}

boost::asio::awaitable<std::vector<checkpoint_check>> checkpoint_manager::verify(std::string query_id) {
  std::vector<checkpoint_check> out;
  std::vector<std::string> ids = co_await impl_->query_ids(std::move(query_id));
  for (const auto& id : ids) {
    std::vector<std::filesystem::path> files = co_await impl_->checkpoint_files(id);
    for (const auto& path : files) {
      checkpoint_check check;
      check.info.path = path;
      check.info.query_id = id;
      try {
        std::vector<std::byte> bytes = co_await impl_->store->read(path);
        check.info.stored_bytes = bytes.size();
        check.info = checkpoint::to_info(checkpoint::read_summary(bytes, path.string()), path);
        const auto* key = impl_->key ? &*impl_->key : nullptr;
        if (check.info.encrypted && key == nullptr) {
          check.message = "encrypted; checksums verified, tag not checked (no key given)";
        } else {
          (void)checkpoint::decode_file(bytes, path.string(), key);
        }
      } catch (const error& e) {
        check.error = e.code();
        check.message = e.what();
      }
      out.push_back(std::move(check));
    }
  }
  co_return out;
}

boost::asio::awaitable<void> checkpoint_manager::remove_query(std::string query_id) {
  checkpoint::check_query_id(query_id);
  std::vector<std::string> names = co_await impl_->store->list(impl_->query_dir(query_id));
  std::vector<std::filesystem::path> paths;
  for (const auto& n : names) {
    if (checkpoint::parse_file_name(n) || io::is_temp_name(n)) {
      paths.push_back(impl_->query_dir(query_id) / n);
    }
  }
  if (!paths.empty()) {
    co_await impl_->store->remove(std::move(paths));
  }
}

}  // namespace ftq
