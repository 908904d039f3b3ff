#include "io/rados_store.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

#include "rados/layout.hpp"

namespace ftq::io {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace layout = rados::layout;

namespace {

// Large copies (into a chunk, out of one) give the executor back this often.
constexpr std::size_t copy_slice = std::size_t{4} << 20;
// omap entries fetched per listing round trip.
constexpr std::uint64_t omap_page = 1000;
// A read retries this many times when the file was replaced under it (its chunks deleted).
constexpr int read_attempts = 3;

/// "a/b/" -> "a/b", "." -> "": the object-name prefix a path stands for.
std::string dir_key(const fs::path& p) {
  std::string s = p.generic_string();
  while (!s.empty() && s.back() == '/') {
    s.pop_back();
  }
  if (s == ".") {
    s.clear();
  }
  return s;
}

std::string parent_of(const std::string& dir) {
  const std::size_t slash = dir.rfind('/');
  return slash == std::string::npos ? std::string() : dir.substr(0, slash);
}

std::string leaf_of(const std::string& dir) {
  const std::size_t slash = dir.rfind('/');
  return slash == std::string::npos ? dir : dir.substr(slash + 1);
}

std::string file_key(const std::string& name) { return std::string(layout::file_key_prefix) + name; }

/// A manifest entry "f/NAME" -> "<unique> <bytes> <chunks>".
struct entry {
  std::string unique;
  std::uint64_t bytes = 0;
  std::uint64_t chunks = 0;
};

std::string format_entry(const entry& e) {
  return e.unique + " " + std::to_string(e.bytes) + " " + std::to_string(e.chunks);
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) {
    return false;
  }
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool valid_unique(std::string_view u) {
  const std::size_t dash = u.find('-');
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  return dash != std::string_view::npos && parse_u64(u.substr(0, dash), a) && parse_u64(u.substr(dash + 1), b);
}

std::optional<entry> parse_entry(std::string_view text) {
  const std::size_t s1 = text.find(' ');
  if (s1 == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t s2 = text.find(' ', s1 + 1);
  if (s2 == std::string_view::npos) {
    return std::nullopt;
  }
  entry e;
  e.unique = std::string(text.substr(0, s1));
  if (!valid_unique(e.unique) || !parse_u64(text.substr(s1 + 1, s2 - s1 - 1), e.bytes) ||
      !parse_u64(text.substr(s2 + 1), e.chunks) || (e.chunks == 0) != (e.bytes == 0) || e.chunks > e.bytes) {
    return std::nullopt;
  }
  return e;
}

/// A chunk object's name within its directory: "<name>@<unique>.<i>".
struct chunk_name {
  std::string name;
  std::string unique;
  std::uint64_t index = 0;
};

std::optional<chunk_name> parse_chunk(std::string_view leaf) {
  const std::size_t at = leaf.rfind('@');
  if (at == std::string_view::npos || at == 0) {
    return std::nullopt;
  }
  const std::string_view rest = leaf.substr(at + 1);
  const std::size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos) {
    return std::nullopt;
  }
  chunk_name c;
  c.name = std::string(leaf.substr(0, at));
  c.unique = std::string(rest.substr(0, dot));
  if (!valid_unique(c.unique) || !parse_u64(rest.substr(dot + 1), c.index)) {
    return std::nullopt;
  }
  return c;
}

std::uint64_t parse_version(const librados::bufferlist& bl) {
  std::uint64_t v = 0;
  const std::string s = bl.to_str();
  return parse_u64(s, v) ? v : 0;  // cmpxattr's u64 mode reads a missing or odd value as 0 too
}

librados::bufferlist text_bl(const std::string& s) {
  librados::bufferlist bl;
  bl.append(s);
  return bl;
}

[[noreturn]] void throw_errno(const std::string& path, int error, const std::string& doing) {
  throw io_error(path, std::error_code(error, std::system_category()), doing);
}

asio::awaitable<void> yield_now() {
  auto ex = co_await asio::this_coro::executor;
  co_await asio::post(ex, asio::use_awaitable);
}

/// Copies bytes [offset, offset + length) of the concatenation of `buffers` to `out`, giving the
/// executor back between slices.
asio::awaitable<void> gather(const std::vector<std::span<const std::byte>>* buffers, std::size_t offset,
                             std::size_t length, char* out) {
  std::size_t since_yield = 0;
  for (const auto& b : *buffers) {
    if (length == 0) {
      break;
    }
    if (offset >= b.size()) {
      offset -= b.size();
      continue;
    }
    std::size_t at = offset;
    offset = 0;
    while (at < b.size() && length > 0) {
      const std::size_t n = std::min({b.size() - at, length, copy_slice});
      std::memcpy(out, b.data() + at, n);
      out += n;
      at += n;
      length -= n;
      since_yield += n;
      if (since_yield >= copy_slice && length > 0) {
        since_yield = 0;
        co_await yield_now();
      }
    }
  }
}

/// Copies a bufferlist's bytes to `out`, giving the executor back between slices.
asio::awaitable<void> scatter(const librados::bufferlist* bl, std::byte* out) {
  std::size_t since_yield = 0;
  for (const auto& p : bl->buffers()) {
    std::size_t at = 0;
    while (at < p.length()) {
      const std::size_t n = std::min<std::size_t>(p.length() - at, copy_slice);
      std::memcpy(out, p.c_str() + at, n);
      out += n;
      at += n;
      since_yield += n;
      if (since_yield >= copy_slice) {
        since_yield = 0;
        co_await yield_now();
      }
    }
  }
}

template <class T>
asio::awaitable<void> store_into(asio::awaitable<T> work, T* out) {
  *out = co_await std::move(work);
}

struct cursor {
  std::atomic<std::size_t> next{0};
};

template <class Task>
asio::awaitable<void> pull_tasks(std::shared_ptr<cursor> c, std::shared_ptr<Task> task, std::size_t n) {
  for (std::size_t i = c->next.fetch_add(1); i < n; i = c->next.fetch_add(1)) {
    co_await (*task)(i);
  }
}

/// Runs task(0) ... task(n - 1), at most `window` at once, alongside `extra`, all on the
/// caller's executor; returns when every one has finished and rethrows the first exception.
/// Tasks report cluster errors through their own results, not by throwing.
template <class Task>
asio::awaitable<void> run_parallel(std::size_t n, std::size_t window, Task task,
                                   std::vector<asio::awaitable<void>> extra) {
  auto t = std::make_shared<Task>(std::move(task));
  if (extra.empty() && n == 1) {
    co_await (*t)(0);
    co_return;
  }
  auto ex = co_await asio::this_coro::executor;
  auto c = std::make_shared<cursor>();
  using op_type = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
  std::vector<op_type> ops;
  for (auto& a : extra) {
    ops.push_back(asio::co_spawn(ex, std::move(a), asio::deferred));
  }
  for (std::size_t w = 0; w < std::min(window, n); ++w) {
    ops.push_back(asio::co_spawn(ex, pull_tasks(c, t, n), asio::deferred));
  }
  if (ops.empty()) {
    co_return;
  }
  auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                             .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& e : errors) {
    if (e) {
      std::rethrow_exception(e);
    }
  }
}

}  // namespace

/// What one read of a manifest returned: the object's result, its version and the entries
/// asked for that exist (keyed by file name, "f/" cut).
struct rados_store::manifest_read {
  int r = 0;
  std::uint64_t version = 0;
  std::map<std::string, std::string> entries;
};

struct rados_store::fenced_result {
  int r = 0;
  bool sent = false;  // false: refused before sending (injected), so surely not applied
  std::uint64_t version = 0;
};

class rados_store::dir_turn {
 public:
  dir_turn(rados_store* store, std::string dir) : store_(store), dir_(std::move(dir)) {}
  dir_turn(dir_turn&& other) noexcept : store_(std::exchange(other.store_, nullptr)), dir_(std::move(other.dir_)) {}
  dir_turn& operator=(dir_turn&&) = delete;
  ~dir_turn() {
    if (store_ != nullptr) {
      store_->pass_turn(dir_);
    }
  }

 private:
  rados_store* store_;
  std::string dir_;
};

rados_store::rados_store(asio::any_io_executor executor, std::shared_ptr<rados::connection> connection,
                         rados_store_options options, std::shared_ptr<fault_injector> faults)
    : file_store(backend_info{backend_kind::rados, !options.reason.empty()
                                                       ? options.reason
                                                       : "rados: pool " + (connection ? connection->pool() : "?")}),
      executor_(std::move(executor)),
      connection_(std::move(connection)),
      options_(std::move(options)),
      faults_(std::move(faults)) {
  if (!connection_) {
    throw error(errc::setting_invalid, "rados store: no connection");
  }
  if (options_.chunk_bytes == 0 || options_.chunk_bytes > options_.max_write_bytes) {
    throw error(errc::setting_invalid, "rados store: chunk size " + std::to_string(options_.chunk_bytes) +
                                           " bytes must be between 1 and the largest single write, " +
                                           std::to_string(options_.max_write_bytes) +
                                           " bytes (Ceph's osd_max_write_size)");
  }
  if (options_.parallel_chunks == 0) {
    throw error(errc::setting_invalid, "rados store: parallel_chunks must be at least 1");
  }
  while (!options_.root.empty() && options_.root.back() == '/') {
    options_.root.pop_back();
  }
}

rados_store::~rados_store() = default;

std::string rados_store::next_unique() {
  static std::atomic<std::uint64_t> counter{0};
  return std::to_string(connection_->instance_id()) + "-" +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

int rados_store::before(op_kind op, const std::string& path) { return faults_ ? faults_->before(op, path) : 0; }

void rados_store::after(op_kind op, const std::string& path, int error) {
  if (faults_) {
    faults_->after(op, path, error);
  }
}

void rados_store::adopt(const std::string& dir, const std::string& cookie, std::uint64_t version) {
  std::lock_guard lock(mutex_);
  dir_state& d = dirs_[dir_key(dir)];
  d.lease_cookie = cookie;
  d.version = version;
}

void rados_store::disown(const std::string& dir) {
  std::lock_guard lock(mutex_);
  dirs_[dir_key(dir)].lease_cookie.clear();
}

std::optional<std::uint64_t> rados_store::expected_version(const std::string& dir) const {
  std::lock_guard lock(mutex_);
  auto it = dirs_.find(dir_key(dir));
  return it == dirs_.end() ? std::nullopt : it->second.version;
}

asio::awaitable<rados_store::dir_turn> rados_store::take_turn(std::string dir) {
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this, &dir](auto handler) {
        asio::any_io_executor ex = asio::get_associated_executor(handler, executor_);
        std::unique_lock lock(mutex_);
        dir_state& d = dirs_[dir];
        if (d.busy) {
          d.waiters.emplace_back(std::move(ex), std::move(handler));
          return;
        }
        d.busy = true;
        lock.unlock();
        asio::post(ex, [h = std::move(handler)]() mutable { std::move(h)(); });
      },
      asio::use_awaitable);
  co_return dir_turn(this, std::move(dir));
}

void rados_store::pass_turn(const std::string& dir) {
  std::unique_lock lock(mutex_);
  dir_state& d = dirs_[dir];
  if (d.waiters.empty()) {
    d.busy = false;
    return;
  }
  auto next = std::move(d.waiters.front());
  d.waiters.pop_front();
  lock.unlock();
  // Resumes the waiter on its own executor.
  asio::post(next.first, [h = std::move(next.second)]() mutable { std::move(h)(); });
}

asio::awaitable<rados_store::manifest_read> rados_store::read_manifest(std::string dir, std::set<std::string> keys) {
  const std::string oid = layout::manifest_oid(dir);
  manifest_read out;
  if (const int injected = before(op_kind::read, oid); injected != 0) {
    after(op_kind::read, oid, injected);
    out.r = -injected;
    co_return out;
  }
  librados::ObjectReadOperation op;
  librados::bufferlist version_bl;
  int version_r = 0;
  op.getxattr(layout::version_attr, &version_bl, &version_r);
  op.set_op_flags2(LIBRADOS_OP_FLAG_FAILOK);  // a manifest without a version reads as 0
  std::map<std::string, librados::bufferlist> values;
  int values_r = 0;
  if (!keys.empty()) {
    op.omap_get_vals_by_keys(keys, &values, &values_r);
  }
  librados::bufferlist unused;
  out.r = co_await connection_->operate(oid, op, &unused);
  if (out.r == 0 && values_r < 0) {
    out.r = values_r;
  }
  after(op_kind::read, oid, out.r < 0 ? -out.r : 0);
  if (out.r < 0) {
    co_return out;
  }
  out.version = version_r < 0 ? 0 : parse_version(version_bl);
  for (auto& [key, value] : values) {
    if (key.starts_with(layout::file_key_prefix)) {
      out.entries.emplace(key.substr(layout::file_key_prefix.size()), value.to_str());
    }
  }
  co_return out;
}

asio::awaitable<rados_store::fenced_result> rados_store::fenced(
    std::string dir, std::uint64_t expected, std::function<void(librados::ObjectWriteOperation&)> steps, op_kind kind,
    std::string step_path) {
  std::string cookie;
  {
    std::lock_guard lock(mutex_);
    cookie = dirs_[dir].lease_cookie;
  }
  librados::ObjectWriteOperation op;
  op.cmpxattr(layout::version_attr, LIBRADOS_CMPXATTR_OP_EQ, expected);
  if (!cookie.empty()) {
    rados::lock_ops::assert_locked(op, layout::lease_lock, cookie);
  }
  if (steps) {
    steps(op);
  }
  op.setxattr(layout::version_attr, text_bl(std::to_string(expected + 1)));

  fenced_result out;
  out.version = expected + 1;
  if (const int injected = before(kind, step_path); injected != 0) {
    after(kind, step_path, injected);
    out.r = -injected;
  } else {
    const std::string oid = layout::manifest_oid(dir);
    out.sent = true;
    out.r = co_await connection_->operate(oid, op);
    after(kind, step_path, out.r < 0 ? -out.r : 0);
  }
  std::lock_guard lock(mutex_);
  dir_state& d = dirs_[dir];
  if (out.r == 0) {
    d.version = out.version;
  } else {
    d.version.reset();  // re-read on next use: it moved, or the outcome is unknown
  }
  co_return out;
}

asio::awaitable<void> rados_store::throw_fenced_error(std::string dir, std::uint64_t expected, int r) {
  const std::string oid = layout::manifest_oid(dir);
  if (r == -ECANCELED) {
    // Name the version found, for the message (best effort; the injector is not consulted).
    librados::ObjectReadOperation op;
    librados::bufferlist bl;
    int vr = 0;
    op.getxattr(layout::version_attr, &bl, &vr);
    librados::bufferlist unused;
    const int rr = co_await connection_->operate(oid, op, &unused);
    const std::string found = rr == 0 && vr >= 0 ? "moved to version " + std::to_string(parse_version(bl))
                                                 : "is no longer at version " + std::to_string(expected);
    throw error(errc::lease_lost, dir + ": fenced: the manifest " + found + " (expected " + std::to_string(expected) +
                                      "): another process owns this query now");
  }
  if (r == -EBUSY) {
    std::string cookie;
    {
      std::lock_guard lock(mutex_);
      cookie = dirs_[dir].lease_cookie;
    }
    throw error(errc::lease_lost, dir + ": fenced: this process no longer holds the lease " +
                                      std::string(layout::lease_lock) + " (cookie " + cookie +
                                      "): it lapsed or another process took the query over");
  }
  rados::throw_rados_error(oid, "update manifest", r);
}

asio::awaitable<int> rados_store::remove_object(std::string oid) {
  if (const int injected = before(op_kind::unlink, oid); injected != 0) {
    after(op_kind::unlink, oid, injected);
    co_return -injected;
  }
  librados::ObjectWriteOperation op;
  op.remove();
  const int r = co_await connection_->operate(oid, op);
  after(op_kind::unlink, oid, r < 0 ? -r : 0);
  co_return r;
}

asio::awaitable<std::pair<int, std::string>> rados_store::remove_objects(std::vector<std::string> oids) {
  std::vector<int> results(oids.size(), 0);
  auto task = [&](std::size_t i) -> asio::awaitable<void> { results[i] = co_await remove_object(oids[i]); };
  std::vector<asio::awaitable<void>> none;
  co_await run_parallel(oids.size(), options_.parallel_chunks, task, std::move(none));
  for (std::size_t i = 0; i < oids.size(); ++i) {
    if (results[i] < 0 && results[i] != -ENOENT) {
      co_return std::pair<int, std::string>{results[i], oids[i]};
    }
  }
  co_return std::pair<int, std::string>{0, std::string()};
}

asio::awaitable<void> rados_store::commit(const commit_request& request) {
  const std::string dir = dir_key(request.dir);
  const std::string file = layout::join(dir, request.name);
  const std::string key = file_key(request.name);
  std::size_t total = 0;
  for (const auto& b : request.buffers) {
    total += b.size();
  }
  const std::size_t chunk = options_.chunk_bytes;
  const std::size_t chunks = (total + chunk - 1) / chunk;
  const std::string unique = next_unique();
  std::vector<std::string> oids;
  for (std::size_t i = 0; i < chunks; ++i) {
    oids.push_back(layout::chunk_oid(dir, request.name, unique, i));
  }
  if (chunks > 0 && std::min(total, chunk) > options_.max_write_bytes) {
    throw_errno(oids.front(), EMSGSIZE,
                "write of " + std::to_string(std::min(total, chunk)) + " bytes refused: above max_write_bytes " +
                    std::to_string(options_.max_write_bytes) + " (Ceph's osd_max_write_size)");
  }

  // The chunk writes, and alongside them the manifest read that yields the entry this commit
  // replaces and the version to expect.
  std::vector<int> written(chunks, 1);  // 1: never sent
  std::atomic<bool> failed{false};
  manifest_read seen;
  auto write_task = [&](std::size_t i) -> asio::awaitable<void> {
    if (failed.load()) {
      co_return;
    }
    const std::size_t offset = i * chunk;
    const std::size_t length = std::min(chunk, total - offset);
    // A copy librados owns: it may still read a buffer after a timed-out operation returned.
    ceph::bufferptr data(static_cast<unsigned>(length));
    co_await gather(&request.buffers, offset, length, data.c_str());
    librados::bufferlist bl;
    bl.push_back(std::move(data));
    if (const int injected = before(op_kind::write, oids[i]); injected != 0) {
      after(op_kind::write, oids[i], injected);
      written[i] = -injected;
      failed = true;
      co_return;
    }
    librados::ObjectWriteOperation op;
    op.write_full(bl);
    const std::string oid = oids[i];
    const int r = co_await connection_->operate(oid, op);
    after(op_kind::write, oid, r < 0 ? -r : 0);
    written[i] = r;
    if (r < 0) {
      failed = true;
    }
  };
  std::vector<asio::awaitable<void>> extra;
  std::set<std::string> keys{key};
  extra.push_back(store_into(read_manifest(dir, keys), &seen));
  co_await run_parallel(chunks, options_.parallel_chunks, write_task, std::move(extra));
  if (seen.r < 0) {
    failed = true;
  }

  // Deletes this commit's chunks after a failure that surely left the manifest as it was.
  auto drop_new_chunks = [&]() -> asio::awaitable<void> {
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < chunks; ++i) {
      if (written[i] != 1) {
        sent.push_back(oids[i]);
      }
    }
    if (!sent.empty()) {
      (void)co_await remove_objects(std::move(sent));  // best effort: sweep() gets the rest
    }
  };

  if (failed) {
    co_await drop_new_chunks();
    if (seen.r < 0) {
      const std::string manifest = layout::manifest_oid(dir);
      rados::throw_rados_error(manifest, "read", seen.r);
    }
    for (std::size_t i = 0; i < chunks; ++i) {
      if (written[i] == -EMSGSIZE) {
        throw_errno(oids[i], EMSGSIZE,
                    "rados: write: the cluster refused " + std::to_string(std::min(chunk, total - i * chunk)) +
                        " bytes (its osd_max_write_size is lower: lower the chunk size)");
      }
      if (written[i] < 0 && written[i] != 1) {
        rados::throw_rados_error(oids[i], "write", written[i]);
      }
    }
  }

  std::optional<entry> replaced;
  fenced_result done;
  std::uint64_t expected = 0;
  {
    dir_turn turn = co_await take_turn(dir);
    std::optional<std::uint64_t> known;
    {
      std::lock_guard lock(mutex_);
      known = dirs_[dir].version;
    }
    if (known && *known != seen.version) {
      // This store changed the manifest since the read (or another process did, and the
      // compare-and-set below fails): read the entry being replaced again, now that it is our turn.
      std::set<std::string> keys{key};
      seen = co_await read_manifest(dir, std::move(keys));
      if (seen.r < 0) {
        co_await drop_new_chunks();
        const std::string manifest = layout::manifest_oid(dir);
        rados::throw_rados_error(manifest, "read", seen.r);
      }
    }
    expected = known ? *known : seen.version;
    if (auto it = seen.entries.find(request.name); it != seen.entries.end()) {
      replaced = parse_entry(it->second);
    }
    std::map<std::string, librados::bufferlist> set;
    set.emplace(key, text_bl(format_entry(entry{unique, total, chunks})));
    std::function<void(librados::ObjectWriteOperation&)> steps = [&set](librados::ObjectWriteOperation& op) {
      op.omap_set(set);
    };
    done = co_await fenced(dir, expected, steps, op_kind::rename, file);
  }
  if (done.r < 0) {
    const bool surely_not_applied = !done.sent || done.r == -ECANCELED || done.r == -EBUSY || done.r == -ENOENT;
    if (surely_not_applied) {
      co_await drop_new_chunks();
    }
    co_await throw_fenced_error(dir, expected, done.r);
  }
  if (replaced && replaced->unique != unique) {
    std::vector<std::string> old;
    for (std::uint64_t i = 0; i < replaced->chunks; ++i) {
      old.push_back(layout::chunk_oid(dir, request.name, replaced->unique, i));
    }
    (void)co_await remove_objects(std::move(old));  // best effort: sweep() gets the rest
  }
}

asio::awaitable<std::vector<std::byte>> rados_store::read(fs::path path) {
  const std::string dir = dir_key(path.parent_path());
  const std::string name = path.filename().string();
  const std::string manifest = layout::manifest_oid(dir);
  for (int attempt = 1;; ++attempt) {
    std::set<std::string> keys{file_key(name)};
    manifest_read m = co_await read_manifest(dir, std::move(keys));
    if (m.r == -ENOENT || (m.r == 0 && m.entries.empty())) {
      throw_errno(path.string(), ENOENT, "read");
    }
    if (m.r < 0) {
      rados::throw_rados_error(manifest, "read", m.r);
    }
    const std::optional<entry> e = parse_entry(m.entries.begin()->second);
    if (!e) {
      throw_errno(manifest, EIO, "rados: read: malformed entry for " + name + ": '" + m.entries.begin()->second + "'");
    }
    std::vector<std::byte> out(e->bytes);
    if (e->chunks == 0) {
      co_return out;
    }

    // Every chunk but the last has the first one's length: read it first to learn it.
    std::vector<std::string> oids;
    for (std::uint64_t i = 0; i < e->chunks; ++i) {
      oids.push_back(layout::chunk_oid(dir, name, e->unique, i));
    }
    std::vector<int> results(oids.size(), 0);
    std::vector<std::uint64_t> lengths(oids.size(), 0);
    std::uint64_t chunk_len = 0;
    std::uint64_t last_len = 0;
    auto read_task = [&](std::size_t i) -> asio::awaitable<void> {
      if (const int injected = before(op_kind::read, oids[i]); injected != 0) {
        after(op_kind::read, oids[i], injected);
        results[i] = -injected;
        co_return;
      }
      librados::ObjectReadOperation op;
      librados::bufferlist bl;
      int rv = 0;
      op.read(0, 0, &bl, &rv);  // length 0: the whole object
      librados::bufferlist unused;
      const std::string oid = oids[i];
      int r = co_await connection_->operate(oid, op, &unused);
      if (r == 0 && rv < 0) {
        r = rv;
      }
      after(op_kind::read, oid, r < 0 ? -r : 0);
      results[i] = r;
      if (r < 0) {
        co_return;
      }
      lengths[i] = bl.length();
      const std::uint64_t want = i == 0 ? bl.length() : (i + 1 == oids.size() ? last_len : chunk_len);
      if (bl.length() != want || i * chunk_len + bl.length() > out.size()) {
        co_return;  // checked by the caller
      }
      co_await scatter(&bl, out.data() + i * chunk_len);
    };
    // Chunk 0 alone, before the others, sets chunk_len; scatter needs it for its offset.
    chunk_len = e->bytes;  // while reading chunk 0, its offset is 0 whatever this is
    co_await read_task(0);
    std::string gone;
    auto check = [&](std::size_t i) {
      if (results[i] == -ENOENT) {
        gone = oids[i];
        return;
      }
      if (results[i] < 0) {
        rados::throw_rados_error(oids[i], "read", results[i]);
      }
    };
    check(0);
    if (gone.empty()) {
      chunk_len = lengths[0];
      const std::uint64_t head = chunk_len * (e->chunks - 1);
      const bool fits =
          e->chunks == 1 ? chunk_len == e->bytes : chunk_len > 0 && head < e->bytes && e->bytes - head <= chunk_len;
      if (!fits) {
        throw_errno(oids[0], EIO,
                    "rados: read: chunk 0 holds " + std::to_string(chunk_len) +
                        " bytes, which cannot be the first of " + std::to_string(e->chunks) + " chunks of " +
                        std::to_string(e->bytes) + " bytes");
      }
      last_len = e->bytes - head;
      auto rest = [&](std::size_t i) -> asio::awaitable<void> { co_await read_task(i + 1); };
      std::vector<asio::awaitable<void>> none;
      co_await run_parallel(oids.size() - 1, options_.parallel_chunks, rest, std::move(none));
      for (std::size_t i = 1; i < oids.size() && gone.empty(); ++i) {
        check(i);
        const std::uint64_t want = i + 1 == oids.size() ? last_len : chunk_len;
        if (gone.empty() && lengths[i] != want) {
          throw_errno(oids[i], EIO,
                      "rados: read: chunk " + std::to_string(i) + " holds " + std::to_string(lengths[i]) +
                          " bytes, expected " + std::to_string(want));
        }
      }
    }
    if (gone.empty()) {
      co_return out;
    }
    // A chunk is gone: either the file was replaced (or removed) meanwhile, which re-reading
    // the entry shows, or the store lost it.
    std::set<std::string> again_keys{file_key(name)};
    manifest_read again = co_await read_manifest(dir, std::move(again_keys));
    const bool moved =
        again.r == -ENOENT ||
        (again.r == 0 && (again.entries.empty() || again.entries.begin()->second != m.entries.begin()->second));
    if (!moved || attempt >= read_attempts) {
      throw_errno(gone, EIO, "rados: read: the entry of " + name + " refers to this chunk, which is gone");
    }
  }
}

asio::awaitable<void> rados_store::remove(std::vector<fs::path> paths) {
  std::map<std::string, std::set<std::string>> by_dir;
  for (const auto& p : paths) {
    by_dir[dir_key(p.parent_path())].insert(p.filename().string());
  }
  std::pair<int, std::string> first_error{0, std::string()};
  for (const auto& [dir, names] : by_dir) {
    const std::string manifest = layout::manifest_oid(dir);
    std::vector<std::string> doomed;
    {
      dir_turn turn = co_await take_turn(dir);
      std::set<std::string> keys;
      for (const auto& n : names) {
        keys.insert(file_key(n));
      }
      manifest_read m = co_await read_manifest(dir, keys);
      if (m.r == -ENOENT || (m.r == 0 && m.entries.empty())) {
        continue;  // nothing of these is there
      }
      if (m.r < 0) {
        rados::throw_rados_error(manifest, "read", m.r);
      }
      std::optional<std::uint64_t> known;
      {
        std::lock_guard lock(mutex_);
        known = dirs_[dir].version;
      }
      const std::uint64_t expected = known ? *known : m.version;
      std::set<std::string> present;
      for (const auto& [name, value] : m.entries) {
        present.insert(file_key(name));
        if (const std::optional<entry> e = parse_entry(value)) {
          for (std::uint64_t i = 0; i < e->chunks; ++i) {
            doomed.push_back(layout::chunk_oid(dir, name, e->unique, i));
          }
        }
      }
      std::function<void(librados::ObjectWriteOperation&)> steps = [&present](librados::ObjectWriteOperation& op) {
        op.omap_rm_keys(present);
      };
      const fenced_result done = co_await fenced(dir, expected, steps, op_kind::unlink, manifest);
      if (done.r < 0) {
        co_await throw_fenced_error(dir, expected, done.r);
      }
    }
    auto failure = co_await remove_objects(std::move(doomed));
    if (failure.first < 0 && first_error.first == 0) {
      first_error = std::move(failure);
    }
  }
  if (first_error.first < 0) {
    // The entries are gone; the chunks left are sweep()'s.
    rados::throw_rados_error(first_error.second, "unlink", first_error.first);
  }
}

asio::awaitable<std::map<std::string, librados::bufferlist>> rados_store::omap_entries(std::string oid,
                                                                                       std::string prefix,
                                                                                       op_kind op_step) {
  const char* what = op_name(op_step).data();
  if (const int injected = before(op_step, oid); injected != 0) {
    after(op_step, oid, injected);
    rados::throw_rados_error(oid, what, -injected);
  }
  std::map<std::string, librados::bufferlist> entries;
  std::string start_after;
  for (;;) {
    librados::ObjectReadOperation op;
    std::map<std::string, librados::bufferlist> values;
    bool more = false;
    int rv = 0;
    op.omap_get_vals2(start_after, prefix, omap_page, &values, &more, &rv);
    librados::bufferlist unused;
    int r = co_await connection_->operate(oid, op, &unused);
    if (r == 0 && rv < 0) {
      r = rv;
    }
    if (r == -ENOENT) {
      break;  // no such object: no entries
    }
    if (r < 0) {
      after(op_step, oid, -r);
      rados::throw_rados_error(oid, what, r);
    }
    for (auto& [key, value] : values) {
      start_after = key;
      entries.emplace(key.substr(prefix.size()), std::move(value));
    }
    if (!more || values.empty()) {
      break;
    }
  }
  after(op_step, oid, 0);
  co_return entries;
}

// The names and prefixes are named locals, not temporaries inside the co_await expressions:
// GCC 12 mishandles temporaries with destructors there.
asio::awaitable<std::vector<std::string>> rados_store::list(fs::path path) {
  std::string oid = layout::manifest_oid(dir_key(path));
  std::string prefix(layout::file_key_prefix);
  const std::map<std::string, librados::bufferlist> entries =
      co_await omap_entries(std::move(oid), std::move(prefix), op_kind::list);
  std::vector<std::string> names;
  for (const auto& [name, value] : entries) {
    names.push_back(name);
  }
  co_return names;  // sorted: map order
}

asio::awaitable<std::vector<std::string>> rados_store::list_dirs(fs::path path) {
  std::string oid = layout::index_oid(dir_key(path));
  std::string no_prefix;
  const std::map<std::string, librados::bufferlist> entries =
      co_await omap_entries(std::move(oid), std::move(no_prefix), op_kind::list);
  std::vector<std::string> names;
  for (const auto& [name, value] : entries) {
    names.push_back(name);
  }
  co_return names;
}

asio::awaitable<void> rados_store::make_dirs(fs::path path) {
  const std::string dir = dir_key(path);
  if (dir.empty() || dir == options_.root) {
    co_return;  // a prefix is a name space: nothing to create
  }
  const std::string manifest = layout::manifest_oid(dir);
  if (const int injected = before(op_kind::mkdir, manifest); injected != 0) {
    after(op_kind::mkdir, manifest, injected);
    rados::throw_rados_error(manifest, "mkdir", -injected);
  }
  {
    librados::ObjectWriteOperation op;
    op.create(true);
    op.setxattr(layout::version_attr, text_bl("0"));
    const int r = co_await connection_->operate(manifest, op);
    after(op_kind::mkdir, manifest, r < 0 && r != -EEXIST ? -r : 0);
    if (r < 0 && r != -EEXIST) {
      rados::throw_rados_error(manifest, "mkdir", r);
    }
  }
  // Always (idempotent): a crash between the two steps must not leave the query unlisted.
  const std::string index = layout::index_oid(parent_of(dir));
  if (const int injected = before(op_kind::mkdir, index); injected != 0) {
    after(op_kind::mkdir, index, injected);
    rados::throw_rados_error(index, "mkdir", -injected);
  }
  librados::ObjectWriteOperation op;
  std::map<std::string, librados::bufferlist> add;
  add.emplace(leaf_of(dir), librados::bufferlist());
  op.omap_set(add);
  const int r = co_await connection_->operate(index, op);
  after(op_kind::mkdir, index, r < 0 ? -r : 0);
  if (r < 0) {
    rados::throw_rados_error(index, "mkdir", r);
  }
}

asio::awaitable<std::vector<std::string>> rados_store::sweep(fs::path path) {
  const std::string dir = dir_key(path);
  const std::string prefix = dir.empty() ? std::string() : dir + "/";
  if (const int injected = before(op_kind::list, dir); injected != 0) {
    after(op_kind::list, dir, injected);
    rados::throw_rados_error(prefix + "*", "list objects", -injected);
  }
  std::vector<std::string> objects;
  try {
    objects = co_await connection_->list_objects(prefix);
  } catch (const io_error& e) {
    after(op_kind::list, dir, e.code().value());
    throw;
  }
  after(op_kind::list, dir, 0);
  std::vector<std::pair<std::string, chunk_name>> candidates;
  for (const auto& oid : objects) {
    const std::string leaf = oid.substr(prefix.size());
    if (leaf.find('/') != std::string::npos) {
      continue;  // a subdirectory's
    }
    std::optional<chunk_name> c = parse_chunk(leaf);
    if (!c || c->name == layout::result_name) {
      continue;  // not a chunk, or a result chunk (job_registry's, referenced by ftq.result)
    }
    candidates.emplace_back(leaf, std::move(*c));
  }
  std::vector<std::string> removed;
  if (candidates.empty()) {
    co_return removed;
  }
  // Every entry of the manifest (paged), then the chunks none of them references.
  std::string manifest = layout::manifest_oid(dir);
  std::string file_keys(layout::file_key_prefix);
  const std::map<std::string, librados::bufferlist> values =
      co_await omap_entries(std::move(manifest), std::move(file_keys), op_kind::read);
  std::map<std::string, entry> entries;
  for (const auto& [name, value] : values) {
    if (const std::optional<entry> e = parse_entry(value.to_str())) {
      entries.emplace(name, *e);
    }
  }
  std::vector<std::string> doomed;
  for (auto& [leaf, c] : candidates) {
    auto it = entries.find(c.name);
    const bool referenced = it != entries.end() && it->second.unique == c.unique && c.index < it->second.chunks;
    if (!referenced) {
      doomed.push_back(layout::join(dir, leaf));
      removed.push_back(leaf);
    }
  }
  auto failure = co_await remove_objects(std::move(doomed));
  if (failure.first < 0) {
    rados::throw_rados_error(failure.second, "unlink", failure.first);
  }
  co_return removed;
}

asio::awaitable<std::uint64_t> rados_store::update_manifest(
    std::string dir_in, std::function<void(librados::ObjectWriteOperation&)> steps) {
  const std::string dir = dir_key(dir_in);
  const std::string manifest = layout::manifest_oid(dir);
  dir_turn turn = co_await take_turn(dir);
  std::optional<std::uint64_t> known;
  {
    std::lock_guard lock(mutex_);
    known = dirs_[dir].version;
  }
  if (!known) {
    std::set<std::string> no_keys;
    manifest_read m = co_await read_manifest(dir, std::move(no_keys));
    if (m.r < 0) {
      rados::throw_rados_error(manifest, "read", m.r);
    }
    known = m.version;
  }
  const std::uint64_t expected = *known;
  const fenced_result done = co_await fenced(dir, expected, std::move(steps), op_kind::rename, manifest);
  if (done.r < 0) {
    co_await throw_fenced_error(dir, expected, done.r);
  }
  co_return done.version;
}

}  // namespace ftq::io
