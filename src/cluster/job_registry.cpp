#include "cluster/job_registry.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <ftq/error.hpp>

#include "checkpoint/manager_impl.hpp"
#include "cluster/manifest_fields.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"

namespace ftq::cluster {

namespace asio = boost::asio;
namespace json = boost::json;
namespace layout = rados::layout;
using std::chrono::system_clock;

namespace {

/// Result chunks are at most this big (and at most the store's chunk size).
constexpr std::size_t max_result_chunk = std::size_t{64} << 20;
constexpr std::uint64_t omap_page = 1000;

std::string text_of(const librados::bufferlist& bl) { return bl.to_str(); }
using detail::attr;
using detail::history_json;
using detail::history_key;
librados::bufferlist bl_of(std::string_view text) { return detail::bytes_of(text); }

void check_id(const std::string& id) {
  try {
    checkpoint::check_query_id(id);
  } catch (const std::invalid_argument& e) {
    throw error(errc::setting_invalid, e.what());
  }
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw error(errc::internal, "sha256 of the result failed (OpenSSL EVP_Digest)");
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 0xf]);
  }
  return out;
}

/// Where deliver() does its blocking file I/O, so no executor thread waits on the disk.
asio::thread_pool& disk_pool() {
  static asio::thread_pool pool(1);
  return pool;
}

std::atomic<std::uint64_t> unique_counter{0};

/// The steps that keep a query from ending twice: its state must be "queued" or "running".
void assert_active(librados::ObjectWriteOperation& op) {
  op.cmpxattr(layout::state_attr, LIBRADOS_CMPXATTR_OP_NE, bl_of("succeeded"));
  op.cmpxattr(layout::state_attr, LIBRADOS_CMPXATTR_OP_NE, bl_of("failed"));
  op.cmpxattr(layout::state_attr, LIBRADOS_CMPXATTR_OP_NE, bl_of(""));
}

// --- the job record ------------------------------------------------------------------------

std::string job_json(const job_spec& spec) {
  json::object o;
  o["query_id"] = spec.query_id;
  o["plan"] = spec.plan_json;
  o["plan_name"] = spec.plan_name;
  o["data"] = spec.data_dir;
  o["out"] = spec.output_path;
  o["batch_rows"] = static_cast<std::uint64_t>(spec.batch_rows);
  o["checkpoint_interval_ms"] = static_cast<std::int64_t>(spec.checkpoint_interval.count());
  o["inject"] = spec.inject;
  o["submitted_by"] = spec.submitted_by;
  o["submitted_at"] = iso_utc(spec.submitted_at);
  return json::serialize(o);
}

std::string str_field(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::uint64_t uint_field(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    return 0;
  }
  if (v->is_uint64()) {
    return v->as_uint64();
  }
  if (v->is_int64() && v->as_int64() >= 0) {
    return static_cast<std::uint64_t>(v->as_int64());
  }
  return 0;
}

job_spec parse_job(const std::string& text, const std::string& oid) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    throw io_error(oid, std::make_error_code(std::errc::bad_message), "job record is not a JSON object");
  }
  const json::object& o = v.as_object();
  job_spec spec;
  spec.query_id = str_field(o, "query_id");
  spec.plan_json = str_field(o, "plan");
  spec.plan_name = str_field(o, "plan_name");
  spec.data_dir = str_field(o, "data");
  spec.output_path = str_field(o, "out");
  spec.batch_rows = static_cast<std::size_t>(uint_field(o, "batch_rows"));
  spec.checkpoint_interval = std::chrono::milliseconds(uint_field(o, "checkpoint_interval_ms"));
  spec.inject = str_field(o, "inject");
  spec.submitted_by = str_field(o, "submitted_by");
  spec.submitted_at = parse_iso_utc(str_field(o, "submitted_at")).value_or(system_clock::time_point{});
  return spec;
}

// --- the committed result ------------------------------------------------------------------

struct result_record {
  result_info info;
  std::string unique;
  std::uint64_t chunks = 0;
};

std::string result_json(const result_record& r) {
  json::object o;
  o["sha256"] = r.info.sha256;
  o["bytes"] = r.info.bytes;
  o["rows"] = r.info.rows;
  o["unique"] = r.unique;
  o["chunks"] = r.chunks;
  o["committed_by"] = r.info.committed_by;
  o["committed_at"] = iso_utc(r.info.committed_at);
  return json::serialize(o);
}

std::optional<result_record> parse_result(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const json::object& o = v.as_object();
  result_record r;
  r.info.sha256 = str_field(o, "sha256");
  r.info.bytes = uint_field(o, "bytes");
  r.info.rows = uint_field(o, "rows");
  r.unique = str_field(o, "unique");
  r.chunks = uint_field(o, "chunks");
  r.info.committed_by = str_field(o, "committed_by");
  r.info.committed_at = parse_iso_utc(str_field(o, "committed_at")).value_or(system_clock::time_point{});
  if (r.unique.empty() || r.info.sha256.empty()) {
    return std::nullopt;
  }
  return r;
}

// --- small RADOS reads and writes ----------------------------------------------------------

struct manifest_read {
  int r = 0;  // 0 or -errno (-ENOENT: no manifest)
  std::map<std::string, librados::bufferlist> attrs;
};

asio::awaitable<manifest_read> read_manifest_attrs(rados::connection& conn, std::string oid) {
  manifest_read out;
  librados::ObjectReadOperation op;
  int attrs_r = 0;
  op.getxattrs(&out.attrs, &attrs_r);
  out.r = co_await conn.operate(oid, op, nullptr);
  if (out.r == 0 && attrs_r < 0) {
    out.r = attrs_r;
  }
  co_return out;
}

/// A whole object's bytes; -errno in `r` when it cannot be read.
asio::awaitable<std::pair<int, std::string>> read_object(rados::connection& conn, std::string oid) {
  librados::ObjectReadOperation op;
  librados::bufferlist bl;
  int read_r = 0;
  op.read(0, 0, &bl, &read_r);  // length 0: the whole object
  int r = co_await conn.operate(oid, op, nullptr);
  if (r == 0 && read_r < 0) {
    r = read_r;
  }
  co_return std::pair<int, std::string>{r, r == 0 ? text_of(bl) : std::string()};
}

asio::awaitable<std::vector<std::string>> omap_keys(rados::connection& conn, std::string oid, std::string prefix) {
  std::vector<std::string> keys;
  std::string after;
  bool more = true;
  while (more) {
    librados::ObjectReadOperation op;
    std::map<std::string, librados::bufferlist> page;
    int omap_r = 0;
    more = false;
    op.omap_get_vals2(after, prefix, omap_page, &page, &more, &omap_r);
    int r = co_await conn.operate(oid, op, nullptr);
    if (r == 0 && omap_r < 0) {
      r = omap_r;
    }
    if (r < 0) {
      rados::throw_rados_error(oid, "list omap keys " + prefix, r);
    }
    if (page.empty()) {
      break;
    }
    after = page.rbegin()->first;
    for (auto& [key, value] : page) {
      keys.push_back(key);
    }
  }
  co_return keys;
}

/// Deletes objects, best effort (what remains is garbage no manifest references: sweep finds it).
asio::awaitable<void> remove_objects(rados::connection& conn, std::vector<std::string> oids) {
  for (const auto& oid : oids) {
    librados::ObjectWriteOperation op;
    op.remove();
    [[maybe_unused]] const int ignored = co_await conn.operate(oid, op);
  }
}

std::vector<std::string> result_chunk_oids(const std::string& dir, const result_record& r) {
  std::vector<std::string> oids;
  for (std::uint64_t i = 0; i < r.chunks; ++i) {
    oids.push_back(layout::chunk_oid(dir, layout::result_name, r.unique, i));
  }
  return oids;
}

// --- delivery (blocking; runs on disk_pool) ------------------------------------------------

[[noreturn]] void throw_errno(const std::string& path, const std::string& doing) {
  throw io_error(path, std::error_code(errno, std::system_category()), doing);
}

/// Whether `path` holds exactly `bytes`.
bool has_bytes(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return false;
    }
    throw_errno(path, "deliver: open existing output");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != bytes.size()) {
    ::close(fd);
    return false;
  }
  std::string have(bytes.size(), '\0');
  std::size_t at = 0;
  while (at < have.size()) {
    const ssize_t n = ::read(fd, have.data() + at, have.size() - at);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    at += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return at == bytes.size() && have == bytes;
}

/// Temp file in the same directory, written, fsynced, renamed over `path`, directory fsynced.
void write_atomically(const std::string& path, const std::string& bytes) {
  const std::filesystem::path target(path);
  const std::filesystem::path parent = target.parent_path().empty() ? "." : target.parent_path();
  const std::string temp = path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(++unique_counter);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw_errno(temp, "deliver: create temp file");
  }
  auto fail = [&](const std::string& doing) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    throw_errno(temp, doing);
  };
  std::size_t at = 0;
  while (at < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("deliver: write");
    }
    at += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    fail("deliver: fsync");
  }
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    throw_errno(temp, "deliver: close");
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    throw_errno(path, "deliver: rename");
  }
  const int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    throw_errno(parent.string(), "deliver: open directory");
  }
  if (::fsync(dfd) != 0) {
    const int saved = errno;
    ::close(dfd);
    errno = saved;
    throw_errno(parent.string(), "deliver: fsync directory");
  }
  ::close(dfd);
}

}  // namespace

job_registry::job_registry(std::shared_ptr<io::rados_store> store, std::string prefix)
    : store_(std::move(store)), prefix_(std::move(prefix)) {}

std::string job_registry::dir_of(const std::string& query_id) const { return layout::join(prefix_, query_id); }

job_registry job_registry::connect(asio::any_io_executor executor, const rados::store_uri& uri,
                                   const std::string& ceph_conf) {
  rados::connect_options co;
  co.pool = uri.pool;
  co.conf_path = ceph_conf;
  io::rados_store_options so;
  so.root = uri.prefix;
  auto store = std::make_shared<io::rados_store>(std::move(executor), rados::connection::connect(co), so);
  return job_registry(std::move(store), uri.prefix);
}

asio::awaitable<void> job_registry::submit(job_spec spec) {
  check_id(spec.query_id);
  if (spec.output_path.empty() || !std::filesystem::path(spec.output_path).is_absolute()) {
    throw error(errc::setting_invalid,
                "query '" + spec.query_id + "': the output path must be absolute (got '" + spec.output_path + "')");
  }
  if (!spec.data_dir.empty() && !std::filesystem::path(spec.data_dir).is_absolute()) {
    throw error(errc::setting_invalid,
                "query '" + spec.query_id + "': the data directory must be absolute (got '" + spec.data_dir + "')");
  }
  if (spec.plan_name.empty()) {
    spec.plan_name = spec.query_id;
  }
  if (spec.submitted_at == system_clock::time_point{}) {
    spec.submitted_at = system_clock::now();
  }
  rados::connection& conn = *store_->connection();
  const std::string dir = dir_of(spec.query_id);
  const std::filesystem::path dir_path(dir);
  const std::string oid = layout::manifest_oid(dir);
  const std::string job_text = job_json(spec);

  // A fenced step refused (lease_lost) means the manifest moved since this store last saw it:
  // the store re-reads its version on the next use, and the query's state is looked at again.
  constexpr int attempts = 3;
  for (int attempt = 1;; ++attempt) {
    manifest_read before = co_await read_manifest_attrs(conn, oid);
    if (before.r < 0 && before.r != -ENOENT) {
      rados::throw_rados_error(oid, "read manifest", before.r);
    }
    const std::string state = attr(before.attrs, layout::state_attr);
    if (state == "queued" || state == "running") {
      const std::string owner = attr(before.attrs, layout::owner_attr);
      throw error(errc::setting_invalid, "query id '" + spec.query_id + "' is taken: that query is " + state +
                                             (owner.empty() ? std::string() : " (owner " + owner + ")") +
                                             "; choose another id or wait until it ends");
    }
    const bool ended = state == "succeeded" || state == "failed";
    const bool had_result = before.attrs.count(layout::result_attr) > 0;
    const std::optional<result_record> old_result = parse_result(attr(before.attrs, layout::result_attr));
    std::vector<std::string> history;
    // Named, not a temporary inside the co_await (GCC 12 mis-destroys those).
    const std::function<void(librados::ObjectWriteOperation&)> requeue = [&](librados::ObjectWriteOperation& op) {
      op.cmpxattr(layout::state_attr, LIBRADOS_CMPXATTR_OP_EQ, bl_of(state));
      op.setxattr(layout::state_attr, bl_of("queued"));
      if (ended) {
        op.setxattr(layout::owner_attr, bl_of(""));
        op.setxattr(layout::lease_until_attr, bl_of("0"));
        if (had_result) {
          op.rmxattr(layout::result_attr);
        }
        if (!history.empty()) {
          op.omap_rm_keys(std::set<std::string>(history.begin(), history.end()));
        }
      }
    };

    bool moved = false;
    try {
      if (ended) {
        // A query that ended under this id: its checkpoints go first (its state stays terminal,
        // so no worker takes it meanwhile), its history and result with the state change.
        std::vector<std::string> files = co_await store_->list(dir_path);
        std::vector<std::filesystem::path> paths;
        for (const auto& f : files) {
          paths.push_back(dir_path / f);
        }
        if (!paths.empty()) {
          co_await store_->remove(std::move(paths));
        }
        const std::string history_prefix(layout::history_key_prefix);
        history = co_await omap_keys(conn, oid, history_prefix);
      } else {
        co_await store_->make_dirs(dir_path);  // the manifest and the index entry (both kept if there)
      }
      {
        const std::string job_oid = layout::job_oid(dir);
        librados::ObjectWriteOperation op;
        op.write_full(bl_of(job_text));
        const int r = co_await conn.operate(job_oid, op);
        if (r < 0) {
          rados::throw_rados_error(job_oid, "write job", r);
        }
      }
      co_await store_->update_manifest(dir, requeue);
    } catch (const error& e) {
      if (e.code() != errc::lease_lost) {
        throw;
      }
      moved = true;
    }
    if (!moved) {
      if (old_result) {
        std::vector<std::string> old_chunks = result_chunk_oids(dir, *old_result);
        co_await remove_objects(conn, std::move(old_chunks));
      }
      co_return;
    }
    if (attempt == attempts) {
      throw error(errc::setting_invalid, "query id '" + spec.query_id +
                                             "' kept changing while it was being submitted (submitted twice at once?)");
    }
  }
}

asio::awaitable<std::vector<std::string>> job_registry::list() {
  const std::filesystem::path root(prefix_);
  std::vector<std::string> ids = co_await store_->list_dirs(root);
  std::sort(ids.begin(), ids.end());
  co_return ids;
}

asio::awaitable<job_status> job_registry::status(std::string query_id) {
  check_id(query_id);
  rados::connection& conn = *store_->connection();
  const std::string dir = dir_of(query_id);
  job_status st;
  st.query_id = query_id;
  st.owner = co_await read_ownership(*store_, dir);

  const std::string job_oid = layout::job_oid(dir);
  auto [job_r, job_text] = co_await read_object(conn, job_oid);
  if (job_r == 0) {
    st.spec = parse_job(job_text, job_oid);
  } else if (job_r != -ENOENT) {
    rados::throw_rados_error(job_oid, "read job", job_r);
  }
  st.spec.query_id = query_id;

  if (st.owner.state == "succeeded") {
    const std::string oid = layout::manifest_oid(dir);
    manifest_read m = co_await read_manifest_attrs(conn, oid);
    if (m.r < 0) {
      rados::throw_rados_error(oid, "read manifest", m.r);
    }
    if (auto r = parse_result(attr(m.attrs, layout::result_attr))) {
      st.result = r->info;
    }
  }
  if (st.owner.state == "failed") {
    for (auto it = st.owner.history.rbegin(); it != st.owner.history.rend(); ++it) {
      if (it->why.starts_with("failed: ")) {
        st.error = it->why.substr(8);
        break;
      }
    }
  }
  const std::filesystem::path dir_path(dir);
  std::vector<std::string> files = co_await store_->list(dir_path);
  for (const auto& f : files) {
    if (auto epoch = checkpoint::parse_file_name(f)) {
      st.last_epoch = std::max(st.last_epoch.value_or(0), *epoch);
    }
  }
  co_return st;
}

namespace {

/// The version a fenced change of `dir` will compare: what the store expects, or (when it has
/// forgotten it after a failed operation) the manifest's, read now as update_manifest will.
asio::awaitable<std::uint64_t> version_to_expect(io::rados_store& store, std::string dir) {
  if (std::optional<std::uint64_t> v = store.expected_version(dir)) {
    co_return *v;
  }
  const std::string oid = layout::manifest_oid(dir);
  manifest_read m = co_await read_manifest_attrs(*store.connection(), oid);
  if (m.r < 0) {
    rados::throw_rados_error(oid, "read manifest", m.r);
  }
  std::uint64_t v = 0;
  const std::string text = attr(m.attrs, layout::version_attr);
  std::from_chars(text.data(), text.data() + text.size(), v);
  co_return v;
}

/// The key of the history entry a fenced change appends: the version the change sets. Called
/// inside update_manifest's steps, where the store's expected version is the one compared.
std::string next_history_key(io::rados_store& store, const std::string& dir, std::uint64_t fallback) {
  return history_key(store.expected_version(dir).value_or(fallback) + 1);
}

}  // namespace

asio::awaitable<void> job_registry::mark_running(lease& held) {
  const std::string dir = held.dir();
  const std::function<void(librados::ObjectWriteOperation&)> steps = [](librados::ObjectWriteOperation& op) {
    assert_active(op);
    op.setxattr(layout::state_attr, bl_of("running"));
  };
  co_await held.store().update_manifest(dir, steps);
}

asio::awaitable<result_info> job_registry::commit_result(lease& held, std::string csv, std::uint64_t rows) {
  io::rados_store& store = held.store();
  rados::connection& conn = *store.connection();
  const std::string dir = held.dir();

  result_record rec;
  rec.unique = std::to_string(conn.instance_id()) + "-" + std::to_string(++unique_counter);
  rec.info.sha256 = sha256_hex(csv);
  rec.info.bytes = csv.size();
  rec.info.rows = rows;
  rec.info.committed_by = held.worker_id();
  const std::size_t chunk = std::max<std::size_t>(1, std::min(max_result_chunk, store.options().chunk_bytes));
  rec.chunks = (csv.size() + chunk - 1) / chunk;
  const std::vector<std::string> oids = result_chunk_oids(dir, rec);

  // The bytes first, to objects no manifest references yet.
  int failed = 0;
  std::string failed_oid;
  for (std::uint64_t i = 0; i < rec.chunks && failed == 0; ++i) {
    const std::size_t from = static_cast<std::size_t>(i) * chunk;
    librados::ObjectWriteOperation op;
    op.write_full(bl_of(std::string_view(csv).substr(from, std::min(chunk, csv.size() - from))));
    failed = co_await conn.operate(oids[i], op);
    failed_oid = oids[i];
  }
  if (failed < 0) {
    co_await remove_objects(conn, oids);
    rados::throw_rados_error(failed_oid, "write result chunk", failed);
  }

  // Then the one fenced operation that makes them the result.
  rec.info.committed_at = system_clock::now();
  const std::string record = result_json(rec);
  const std::string worker = held.worker_id();
  const system_clock::time_point at = rec.info.committed_at;
  bool fenced = false;
  try {
    const std::uint64_t expect = co_await version_to_expect(store, dir);
    const std::function<void(librados::ObjectWriteOperation&)> steps = [&](librados::ObjectWriteOperation& op) {
      assert_active(op);
      op.setxattr(layout::result_attr, bl_of(record));
      op.setxattr(layout::state_attr, bl_of("succeeded"));
      std::map<std::string, librados::bufferlist> entry;
      entry[next_history_key(store, dir, expect)] = bl_of(history_json(at, worker, "", "succeeded"));
      op.omap_set(entry);
    };
    co_await store.update_manifest(dir, steps);
  } catch (const error& e) {
    // Refused: nothing of ours is referenced. Any other failure may have committed (a timeout):
    // the chunks stay, and sweep removes them if they were not.
    if (e.code() != errc::lease_lost) {
      throw;
    }
    fenced = true;
  }
  if (fenced) {
    co_await remove_objects(conn, oids);
    throw error(errc::lease_lost, "query '" + dir +
                                      "': result not committed: fenced (another worker owns the "
                                      "query now, or it has ended already)");
  }
  co_return rec.info;
}

asio::awaitable<void> job_registry::mark_failed(lease& held, std::string why) {
  io::rados_store& store = held.store();
  const std::string dir = held.dir();
  const std::string worker = held.worker_id();
  const system_clock::time_point at = system_clock::now();
  const std::uint64_t expect = co_await version_to_expect(store, dir);
  const std::function<void(librados::ObjectWriteOperation&)> steps = [&](librados::ObjectWriteOperation& op) {
    assert_active(op);
    op.setxattr(layout::state_attr, bl_of("failed"));
    std::map<std::string, librados::bufferlist> entry;
    entry[next_history_key(store, dir, expect)] = bl_of(history_json(at, worker, "", "failed: " + why));
    op.omap_set(entry);
  };
  co_await store.update_manifest(dir, steps);
}

asio::awaitable<std::string> job_registry::read_result(std::string query_id) {
  check_id(query_id);
  rados::connection& conn = *store_->connection();
  const std::string dir = dir_of(query_id);
  const std::string oid = layout::manifest_oid(dir);
  manifest_read m = co_await read_manifest_attrs(conn, oid);
  if (m.r < 0) {
    rados::throw_rados_error(oid, "read manifest", m.r);
  }
  const std::string text = attr(m.attrs, layout::result_attr);
  if (text.empty()) {
    const std::string state = attr(m.attrs, layout::state_attr);
    throw error(errc::checkpoint_not_found, "query '" + query_id + "' has no committed result (state: " +
                                                (state.empty() ? std::string("none") : state) + ")");
  }
  std::optional<result_record> rec = parse_result(text);
  if (!rec) {
    throw checkpoint_error(errc::checkpoint_corrupt, oid, "the result record does not parse: " + text);
  }
  std::string bytes;
  bytes.reserve(rec->info.bytes);
  for (const auto& chunk_oid : result_chunk_oids(dir, *rec)) {
    auto [r, part] = co_await read_object(conn, chunk_oid);
    if (r == -ENOENT) {
      throw checkpoint_error(errc::checkpoint_corrupt, chunk_oid, "a chunk of the committed result is missing");
    }
    if (r < 0) {
      rados::throw_rados_error(chunk_oid, "read result chunk", r);
    }
    bytes += part;
  }
  if (bytes.size() != rec->info.bytes) {
    throw checkpoint_error(errc::checkpoint_corrupt, oid,
                           "the result has " + std::to_string(bytes.size()) + " bytes, its record says " +
                               std::to_string(rec->info.bytes));
  }
  const std::string digest = sha256_hex(bytes);
  if (digest != rec->info.sha256) {
    throw checkpoint_error(errc::checkpoint_corrupt, oid,
                           "the result's sha256 is " + digest + ", its record says " + rec->info.sha256);
  }
  co_return bytes;
}

asio::awaitable<bool> job_registry::deliver(std::string query_id) {
  check_id(query_id);
  rados::connection& conn = *store_->connection();
  const std::string job_oid = layout::job_oid(dir_of(query_id));
  auto [r, text] = co_await read_object(conn, job_oid);
  if (r < 0) {
    rados::throw_rados_error(job_oid, "read job", r);
  }
  const job_spec spec = parse_job(text, job_oid);
  if (spec.output_path.empty()) {
    throw error(errc::setting_invalid, "query '" + query_id + "' has no output path to deliver to");
  }
  std::string bytes = co_await read_result(query_id);
  const std::string path = spec.output_path;
  bool wrote = false;
  auto on_disk = asio::co_spawn(
      disk_pool(),
      [&]() -> asio::awaitable<void> {
        if (!has_bytes(path, bytes)) {
          write_atomically(path, bytes);
          wrote = true;
        }
        co_return;
      },
      asio::use_awaitable);
  co_await std::move(on_disk);
  co_return wrote;
}

}  // namespace ftq::cluster
