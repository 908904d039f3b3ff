#include "io/rados_store.hpp"

#include <ftq/checkpoint.hpp>
#include <ftq/error.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "checkpoint/manager_impl.hpp"
#include "checkpoint/query_checkpoints.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"
#include "support/fault_schedule.hpp"
#include "support/run_coro.hpp"
#include "support/vector_state.hpp"

namespace {

namespace asio = boost::asio;
namespace io = ftq::io;
namespace layout = ftq::rados::layout;
using ftq::test::run_coro_on;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * 1024;

/// The cluster the suite runs against: $FTQ_TEST_RADOS (rados://POOL) and $CEPH_CONF, as
/// tests/rados/with-cluster.sh sets them. Missing ones fail the test: this suite never skips.
struct cluster_env {
  std::string uri;
  std::string pool;
  std::string conf;
};

cluster_env test_cluster() {
  const char* uri = std::getenv("FTQ_TEST_RADOS");
  const char* conf = std::getenv("CEPH_CONF");
  if (uri == nullptr || *uri == '\0' || conf == nullptr || *conf == '\0') {
    FAIL(
        "FTQ_TEST_RADOS (rados://POOL) and CEPH_CONF must be set: run this suite through "
        "tests/rados/with-cluster.sh -- build/tests/rados-tests");
  }
  const ftq::rados::store_uri parsed = ftq::rados::parse_store_uri(uri);
  return {uri, parsed.pool, conf};
}

std::shared_ptr<ftq::rados::connection> connect_new() {
  const cluster_env env = test_cluster();
  ftq::rados::connect_options o;
  o.pool = env.pool;
  o.conf_path = env.conf;
  return ftq::rados::connection::connect(o);
}

/// One connection shared by the suite (as a worker shares one among its queries).
std::shared_ptr<ftq::rados::connection> shared_connection() {
  static std::shared_ptr<ftq::rados::connection> c = connect_new();
  return c;
}

/// "t-<16 hex digits>": a prefix no other test case (or run) uses.
std::string unique_prefix() {
  static std::mt19937_64 rng(std::random_device{}());
  char buf[24];
  std::snprintf(buf, sizeof buf, "t-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

std::vector<std::byte> payload(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> out(n);
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<std::byte>(x & 0xff);
  }
  return out;
}

std::shared_ptr<io::rados_store> make_store(asio::io_context& ctx, io::rados_store_options o = {},
                                            std::shared_ptr<io::fault_injector> faults = nullptr) {
  return std::make_shared<io::rados_store>(ctx.get_executor(), shared_connection(), std::move(o), std::move(faults));
}

void make_dirs(asio::io_context& ctx, io::file_store& s, const std::string& dir) {
  run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<void> { co_await s.make_dirs(dir); });
}

/// Commits `data` split into `pieces` buffers of unequal sizes.
void commit(asio::io_context& ctx, io::file_store& s, const std::string& dir, const std::string& name,
            const std::vector<std::byte>& data, std::size_t pieces = 1) {
  io::commit_request r;
  r.dir = dir;
  r.name = name;
  std::size_t at = 0;
  for (std::size_t p = 0; p < pieces; ++p) {
    const std::size_t n = p + 1 == pieces ? data.size() - at : std::min(data.size() - at, (data.size() / pieces) + p);
    r.buffers.emplace_back(data.data() + at, n);
    at += n;
  }
  run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<void> { co_await s.commit(r); });
}

std::vector<std::byte> read(asio::io_context& ctx, io::file_store& s, const std::string& path) {
  return run_coro_on(
      ctx, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::byte>> { co_return co_await s.read(path); });
}

std::vector<std::string> list(asio::io_context& ctx, io::file_store& s, const std::string& dir) {
  return run_coro_on(
      ctx, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::string>> { co_return co_await s.list(dir); });
}

std::vector<std::string> list_dirs(asio::io_context& ctx, io::file_store& s, const std::string& dir) {
  return run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::string>> {
    co_return co_await s.list_dirs(dir);
  });
}

void remove(asio::io_context& ctx, io::file_store& s, std::vector<std::filesystem::path> paths) {
  run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<void> { co_await s.remove(paths); });
}

std::vector<std::string> sweep(asio::io_context& ctx, io::file_store& s, const std::string& dir) {
  return run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::string>> {
    co_return co_await s.sweep(dir);
  });
}

/// Every object whose name starts with `dir` + "/", sorted.
std::vector<std::string> objects_under(asio::io_context& ctx, const std::string& dir) {
  return run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::string>> {
    co_return co_await shared_connection()->list_objects(dir + "/");
  });
}

std::uint64_t object_size(const std::string& oid) {
  std::uint64_t size = 0;
  std::time_t mtime = 0;
  const int r = shared_connection()->ioctx().stat(oid, &size, &mtime);
  REQUIRE_MESSAGE(r == 0, oid << ": stat: " << r);
  return size;
}

/// The raw manifest entry of `name` ("<unique> <bytes> <chunks>"), or "" when there is none.
std::string entry_of(const std::string& dir, const std::string& name) {
  std::map<std::string, librados::bufferlist> vals;
  const std::string key = std::string(layout::file_key_prefix) + name;
  const int r = shared_connection()->ioctx().omap_get_vals_by_keys(layout::manifest_oid(dir), {key}, &vals);
  REQUIRE(r == 0);
  return vals.count(key) != 0 ? vals[key].to_str() : std::string();
}

/// The objects a dir should hold once swept: its manifest and the chunks of its entries.
std::vector<std::string> expected_objects(const std::string& dir, const std::vector<std::string>& names) {
  std::vector<std::string> out{layout::manifest_oid(dir)};
  for (const auto& n : names) {
    const std::string e = entry_of(dir, n);
    REQUIRE(!e.empty());
    std::istringstream in(e);
    std::string unique;
    std::uint64_t bytes = 0;
    std::uint64_t chunks = 0;
    in >> unique >> bytes >> chunks;
    for (std::uint64_t i = 0; i < chunks; ++i) {
      out.push_back(layout::chunk_oid(dir, n, unique, i));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Fails every operation from the first one of kind `from` on, as a machine that stopped there
/// would (a crash mid-commit: nothing after it runs, not even the cleanup).
class stop_at final : public io::fault_injector {
 public:
  explicit stop_at(io::op_kind from) : from_(from) {}
  int before(io::op_kind op, const std::filesystem::path&) override {
    std::lock_guard lock(mu_);
    stopped_ = stopped_ || op == from_;
    return stopped_ ? EIO : 0;
  }
  void after(io::op_kind, const std::filesystem::path&, int) override {}

 private:
  std::mutex mu_;
  io::op_kind from_;
  bool stopped_ = false;
};

void put_object(const std::string& oid, const std::string& text) {
  librados::bufferlist bl;
  bl.append(text);
  REQUIRE(shared_connection()->ioctx().write_full(oid, bl) == 0);
}

}  // namespace

TEST_CASE("rados store: round trips 0 B, 4 KiB, 1 MiB and 65 MiB (two chunks) exactly") {
  asio::io_context ctx;
  auto store = make_store(ctx);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  CHECK(store->info().kind == io::backend_kind::rados);
  CHECK(io::backend_name(store->info().kind) == "rados");

  const std::vector<std::pair<std::string, std::size_t>> files{
      {"empty", 0}, {"small", 4 * kib}, {"medium", 1 * mib}, {"large", 65 * mib}};
  std::uint64_t seed = 1;
  for (const auto& [name, size] : files) {
    CAPTURE(name);
    const auto data = payload(size, seed++);
    commit(ctx, *store, dir, name, data, 3);
    CHECK((read(ctx, *store, dir + "/" + name) == data));
  }
  CHECK((list(ctx, *store, dir) == std::vector<std::string>{"empty", "large", "medium", "small"}));

  // The layout: 0 chunks for the empty file, one for 4 KiB and 1 MiB, 64 MiB + 1 MiB for 65 MiB.
  CHECK(entry_of(dir, "empty").ends_with(" 0 0"));
  const std::string large = entry_of(dir, "large");
  CHECK(large.ends_with(" " + std::to_string(65 * mib) + " 2"));
  const std::string unique = large.substr(0, large.find(' '));
  CHECK(object_size(layout::chunk_oid(dir, "large", unique, 0)) == 64 * mib);
  CHECK(object_size(layout::chunk_oid(dir, "large", unique, 1)) == 1 * mib);
  const std::vector<std::string> objects = objects_under(ctx, dir);
  CHECK(objects.size() == 1 + 0 + 1 + 1 + 2);  // manifest + chunks
  CHECK((objects == expected_objects(dir, {"empty", "large", "medium", "small"})));
}

TEST_CASE("rados store: many small chunks are cut at the right places across buffers") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.chunk_bytes = 1000;
  o.parallel_chunks = 3;
  auto store = make_store(ctx, o);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  for (std::size_t size : {1u, 999u, 1000u, 1001u, 4500u, 10000u}) {
    CAPTURE(size);
    const auto data = payload(size, size);
    commit(ctx, *store, dir, "f", data, 4);
    CHECK((read(ctx, *store, dir + "/f") == data));
    const std::string e = entry_of(dir, "f");
    CHECK(e.ends_with(" " + std::to_string(size) + " " + std::to_string((size + 999) / 1000)));
  }
  // Replacing deleted every earlier version's chunks.
  CHECK((objects_under(ctx, dir) == expected_objects(dir, {"f"})));
}

TEST_CASE("rados store: a chunk size above the largest single write is refused up front") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.max_write_bytes = 8 * mib;
  o.chunk_bytes = 8 * mib + 1;
  try {
    make_store(ctx, o);
    FAIL("expected setting_invalid");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::setting_invalid));
    CHECK(std::string(e.what()).find("osd_max_write_size") != std::string::npos);
  }
  o.chunk_bytes = 0;
  CHECK_THROWS_AS(make_store(ctx, o), ftq::error);
  o.chunk_bytes = 8 * mib;  // equal is fine
  CHECK(make_store(ctx, o)->options().chunk_bytes == 8 * mib);

  // Through the checkpoint manager's options the same.
  ftq::checkpoint_options co;
  co.store = test_cluster().uri + "/" + unique_prefix();
  co.ceph_conf = test_cluster().conf;
  co.rados = shared_connection();
  co.rados_chunk_bytes = 100 * mib;
  co.key_env.clear();
  try {
    ftq::checkpoint_manager m(ctx.get_executor(), co);
    FAIL("expected setting_invalid");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::setting_invalid));
  }
}

TEST_CASE("rados store: list, list_dirs, remove and a missing file") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.chunk_bytes = 64 * kib;
  const std::string root = unique_prefix();
  o.root = root;
  auto store = make_store(ctx, o);

  // Nothing there yet: empty listings, ENOENT on read.
  CHECK(list(ctx, *store, root + "/a").empty());
  CHECK(list_dirs(ctx, *store, root).empty());
  try {
    read(ctx, *store, root + "/a/x");
    FAIL("expected ENOENT");
  } catch (const ftq::io_error& e) {
    CHECK((e.code() == std::errc::no_such_file_or_directory));
    CHECK(std::string(e.what()) == root + "/a/x: read: No such file or directory");
  }

  // make_dirs of the root creates nothing; of a query, its manifest and an index entry.
  make_dirs(ctx, *store, root);
  make_dirs(ctx, *store, "");
  CHECK(objects_under(ctx, root).empty());
  make_dirs(ctx, *store, root + "/b");
  make_dirs(ctx, *store, root + "/a");
  make_dirs(ctx, *store, root + "/a");  // again: fine
  CHECK((list_dirs(ctx, *store, root) == std::vector<std::string>{"a", "b"}));
  CHECK(store->expected_version(root + "/a") == std::nullopt);

  const auto x = payload(200 * kib, 1);
  const auto y = payload(10, 2);
  commit(ctx, *store, root + "/a", "x", x);
  commit(ctx, *store, root + "/a", "y", y);
  commit(ctx, *store, root + "/b", "z", y);
  CHECK(store->expected_version(root + "/a") == 2u);
  CHECK((list(ctx, *store, root + "/a") == std::vector<std::string>{"x", "y"}));
  CHECK((list(ctx, *store, root + "/b") == std::vector<std::string>{"z"}));
  try {
    read(ctx, *store, root + "/a/z");
    FAIL("expected ENOENT");
  } catch (const ftq::io_error& e) {
    CHECK((e.code() == std::errc::no_such_file_or_directory));
  }

  // remove: x in a, z in b, and a file that does not exist; one fenced op per directory.
  remove(ctx, *store, {root + "/a/x", root + "/a/nope", root + "/b/z"});
  CHECK((list(ctx, *store, root + "/a") == std::vector<std::string>{"y"}));
  CHECK(list(ctx, *store, root + "/b").empty());
  CHECK(store->expected_version(root + "/a") == 3u);
  CHECK((objects_under(ctx, root + "/a") == expected_objects(root + "/a", {"y"})));
  CHECK((objects_under(ctx, root + "/b") == expected_objects(root + "/b", {})));
  remove(ctx, *store, {root + "/a/nope", root + "/c/nope"});  // nothing to do: no version bump
  CHECK(store->expected_version(root + "/a") == 3u);
  CHECK((read(ctx, *store, root + "/a/y") == y));
}

TEST_CASE("rados store: a stale writer is fenced with lease_lost and the newer entry stays") {
  asio::io_context ctx;
  auto first = make_store(ctx);
  auto second = std::make_shared<io::rados_store>(ctx.get_executor(), connect_new());
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *first, dir);

  const auto old_bytes = payload(3000, 1);
  const auto newer = payload(5000, 2);
  const auto stale = payload(7000, 3);
  commit(ctx, *first, dir, "f", old_bytes);  // first expects version 1 now
  CHECK(first->expected_version(dir) == 1u);
  commit(ctx, *second, dir, "f", newer);  // second reads 1, moves it to 2
  CHECK(second->expected_version(dir) == 2u);
  try {
    commit(ctx, *first, dir, "f", stale);
    FAIL("expected lease_lost");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::lease_lost));
    const std::string what = e.what();
    CHECK_MESSAGE(what.find(dir + ": fenced: the manifest moved to version 2 (expected 1)") != std::string::npos, what);
  }
  CHECK(first->expected_version(dir) == std::nullopt);  // forgotten: re-read on next use
  CHECK((read(ctx, *first, dir + "/f") == newer));
  // The refused commit's chunks are gone; the old entry's chunks went with the replacement.
  CHECK((objects_under(ctx, dir) == expected_objects(dir, {"f"})));

  // Not adopted, so after re-reading the version the first may write again.
  commit(ctx, *first, dir, "f", stale);
  CHECK((read(ctx, *second, dir + "/f") == stale));
}

TEST_CASE("rados store: a lease held by another client's cookie fences an adopted store") {
  asio::io_context ctx;
  auto store = make_store(ctx);
  const std::string dir = unique_prefix() + "/q";
  const std::string manifest = layout::manifest_oid(dir);
  make_dirs(ctx, *store, dir);

  auto lock = [&](ftq::rados::connection& conn, const std::string& cookie) {
    return run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<int> {
      librados::ObjectWriteOperation op;
      ftq::rados::lock_ops::lock(op, layout::lease_lock, cookie, "test", std::chrono::seconds(60), 0);
      co_return co_await conn.operate(manifest, op);
    });
  };
  // This client holds the lease with cookie "mine": commits go through.
  REQUIRE(lock(*shared_connection(), "mine") == 0);
  store->adopt(dir, "mine", 0);
  const auto kept = payload(4 * kib, 1);
  commit(ctx, *store, dir, "f", kept);
  CHECK(store->expected_version(dir) == 1u);

  // Another client takes it (after ours is released): the adopted store is fenced.
  run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<void> {
    librados::ObjectWriteOperation op;
    ftq::rados::lock_ops::unlock(op, layout::lease_lock, "mine");
    CHECK(co_await shared_connection()->operate(manifest, op) == 0);
  });
  auto other = connect_new();
  REQUIRE(lock(*other, "theirs") == 0);
  try {
    commit(ctx, *store, dir, "f", payload(8 * kib, 2));
    FAIL("expected lease_lost");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::lease_lost));
    const std::string what = e.what();
    CHECK_MESSAGE(what.find("no longer holds the lease ftq.lease (cookie mine)") != std::string::npos, what);
  }
  // Even the same cookie through another client does not pass: the lease names the client.
  REQUIRE(lock(*shared_connection(), "theirs") == -EBUSY);
  CHECK((read(ctx, *store, dir + "/f") == kept));
  CHECK((objects_under(ctx, dir) == expected_objects(dir, {"f"})));

  // update_manifest is fenced the same way; disowned, the store no longer asserts the lease.
  std::function<void(librados::ObjectWriteOperation&)> steps = [](librados::ObjectWriteOperation& op) {
    librados::bufferlist bl;
    bl.append("running");
    op.setxattr(layout::state_attr, bl);
  };
  CHECK_THROWS_AS(run_coro_on(ctx,
                              [&](asio::any_io_executor) -> asio::awaitable<std::uint64_t> {
                                co_return co_await store->update_manifest(dir, steps);
                              }),
                  ftq::error);
  store->disown(dir);
  const std::uint64_t v = run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<std::uint64_t> {
    co_return co_await store->update_manifest(dir, steps);
  });
  CHECK(v == 2u);
  CHECK(store->expected_version(dir) == 2u);
}

TEST_CASE("rados store: commits into one directory through one store at once do not fence each other") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.chunk_bytes = 16 * kib;
  auto store = make_store(ctx, o);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  std::vector<std::vector<std::byte>> data;
  for (int i = 0; i < 6; ++i) {
    data.push_back(payload(40 * kib + static_cast<std::size_t>(i), static_cast<std::uint64_t>(i)));
  }
  run_coro_on(ctx, [&](asio::any_io_executor ex) -> asio::awaitable<void> {
    int done = 0;
    std::exception_ptr failure;
    std::vector<io::commit_request> requests(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
      requests[i].dir = dir;
      requests[i].name = "f" + std::to_string(i % 3);  // pairs replace each other too
      requests[i].buffers.emplace_back(data[i]);
      asio::co_spawn(ex, store->commit(requests[i]), [&](std::exception_ptr e) {
        failure = failure ? failure : e;
        ++done;
      });
    }
    asio::steady_timer t(ex);
    while (done < static_cast<int>(data.size())) {
      t.expires_after(std::chrono::milliseconds(2));
      co_await t.async_wait(asio::use_awaitable);
    }
    if (failure) {
      std::rethrow_exception(failure);
    }
  });
  CHECK(store->expected_version(dir) == 6u);
  CHECK((list(ctx, *store, dir) == std::vector<std::string>{"f0", "f1", "f2"}));
  for (int n = 0; n < 3; ++n) {
    const auto got = read(ctx, *store, dir + "/f" + std::to_string(n));
    CHECK((got == data[static_cast<std::size_t>(n)] || got == data[static_cast<std::size_t>(n + 3)]));
  }
  CHECK((objects_under(ctx, dir) == expected_objects(dir, {"f0", "f1", "f2"})));
}

TEST_CASE("rados store: sweep deletes what a crashed commit left and keeps everything referenced") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.chunk_bytes = 64 * kib;
  auto store = make_store(ctx, o);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  const auto kept = payload(100 * kib, 1);
  commit(ctx, *store, dir, "f", kept);
  put_object(layout::job_oid(dir), "{}");
  put_object(layout::chunk_oid(dir, layout::result_name, "7-1", 0), "a,b\n");
  put_object(dir + "/sub/g@1-1.0", "not this directory's");

  // The machine stops at the commit point: chunks written, manifest never updated, no cleanup.
  auto crashed = make_store(ctx, o, std::make_shared<stop_at>(io::op_kind::rename));
  CHECK_THROWS_AS(commit(ctx, *crashed, dir, "f", payload(150 * kib, 2)), ftq::io_error);
  CHECK_THROWS_AS(commit(ctx, *crashed, dir, "g", payload(10, 3)), ftq::io_error);
  const std::vector<std::string> before = objects_under(ctx, dir);
  CHECK(before.size() == 1 + 2 + 1 + 1 + 1 + 3);  // manifest, f, job, result, sub/g, orphans (stop_at
                                                  // fails g's chunk write: only f's 3 remain)

  const std::vector<std::string> removed = sweep(ctx, *store, dir);
  CHECK(removed.size() == 3);
  for (const auto& r : removed) {
    CHECK(r.starts_with("f@"));
  }
  std::vector<std::string> expected = expected_objects(dir, {"f"});
  expected.push_back(layout::job_oid(dir));
  expected.push_back(layout::chunk_oid(dir, layout::result_name, "7-1", 0));
  expected.push_back(dir + "/sub/g@1-1.0");
  std::sort(expected.begin(), expected.end());
  CHECK((objects_under(ctx, dir) == expected));
  CHECK((read(ctx, *store, dir + "/f") == kept));
  CHECK(sweep(ctx, *store, dir).empty());
  // A directory without a manifest: every chunk-like object in it is an orphan.
  const std::string bare = unique_prefix();
  put_object(bare + "/h@3-4.0", "x");
  CHECK((sweep(ctx, *store, bare) == std::vector<std::string>{"h@3-4.0"}));
}

TEST_CASE("rados store grind: failing each step of a commit in turn leaves the old or the new file, whole") {
  io::rados_store_options o;
  o.chunk_bytes = 64 * kib;
  o.parallel_chunks = 2;
  const auto old_bytes = payload(150 * kib, 1);  // 3 chunks
  const auto new_bytes = payload(200 * kib, 2);  // 4 chunks
  for (int err : {EIO, ENOSPC}) {
    std::size_t n = 1;
    for (;; ++n) {
      CAPTURE(err);
      CAPTURE(n);
      asio::io_context ctx;
      auto store = make_store(ctx, o);
      const std::string dir = unique_prefix() + "/q";
      make_dirs(ctx, *store, dir);
      commit(ctx, *store, dir, "f", old_bytes);

      auto faults = std::make_shared<ftq::test::fault_schedule>(n, err);
      auto faulty = make_store(ctx, o, faults);
      bool committed = true;
      try {
        commit(ctx, *faulty, dir, "f", new_bytes);
      } catch (const ftq::io_error& e) {
        committed = false;
        CHECK_MESSAGE((e.code() == std::error_condition(err, std::generic_category())), std::string(e.what()));
      }
      // Only the deletion of the replaced chunks, after the commit point, may fail unseen.
      const auto ops = faults->ops();
      const bool fired = faults->fired();
      if (fired) {
        const auto& failed_op = ops[n - 1];
        CHECK_MESSAGE(committed == (failed_op.op == io::op_kind::unlink), faults->trace());
      } else {
        CHECK(committed);
      }
      const auto got = read(ctx, *store, dir + "/f");
      CHECK_MESSAGE((got == (committed ? new_bytes : old_bytes)), faults->trace());
      sweep(ctx, *store, dir);
      CHECK_MESSAGE((objects_under(ctx, dir) == expected_objects(dir, {"f"})), faults->trace());
      if (!fired) {
        // n ran past the last step: read, 4 writes, rename, 3 unlinks of the old chunks.
        CHECK(n == 1 + 4 + 1 + 3 + 1);
        break;
      }
    }
  }
}

TEST_CASE("rados store: failures of read, remove, list and make_dirs steps surface with their errno") {
  asio::io_context ctx;
  const std::string dir = unique_prefix() + "/q";
  auto store = make_store(ctx);
  make_dirs(ctx, *store, dir);
  commit(ctx, *store, dir, "f", payload(10, 1));
  for (io::op_kind kind : {io::op_kind::read, io::op_kind::unlink, io::op_kind::list, io::op_kind::mkdir}) {
    CAPTURE(io::op_name(kind));
    auto faulty = make_store(ctx, {}, std::make_shared<stop_at>(kind));
    try {
      switch (kind) {
        case io::op_kind::read:
          read(ctx, *faulty, dir + "/f");
          break;
        case io::op_kind::unlink:
          remove(ctx, *faulty, {dir + "/f"});
          break;
        case io::op_kind::list:
          list(ctx, *faulty, dir);
          break;
        default:
          make_dirs(ctx, *faulty, dir);
          break;
      }
      FAIL("expected an io_error");
    } catch (const ftq::io_error& e) {
      CHECK((e.code() == std::errc::io_error));
    }
  }
  CHECK((read(ctx, *store, dir + "/f") == payload(10, 1)));
}

TEST_CASE("rados store: read checks every chunk's length and follows a file replaced under it") {
  asio::io_context ctx;
  io::rados_store_options o;
  o.chunk_bytes = 1000;
  auto store = make_store(ctx, o);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  const auto data = payload(2500, 1);  // chunks of 1000, 1000, 500
  auto chunk = [&](std::uint64_t i) {
    const std::string e = entry_of(dir, "f");
    return layout::chunk_oid(dir, "f", e.substr(0, e.find(' ')), i);
  };
  auto expect_eio = [&](const std::string& needle) {
    try {
      read(ctx, *store, dir + "/f");
      FAIL("expected EIO");
    } catch (const ftq::io_error& e) {
      CHECK((e.code() == std::errc::io_error));
      CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, std::string(e.what()));
    }
  };
  auto damage = [&](std::uint64_t i, std::size_t size) {
    commit(ctx, *store, dir, "f", data);
    put_object(chunk(i), std::string(size, 'x'));
  };
  damage(1, 999);
  expect_eio("chunk 1 holds 999 bytes, expected 1000");
  damage(2, 501);
  expect_eio("chunk 2 holds 501 bytes, expected 500");
  damage(0, 1200);  // could be the first of 1200 + 1200 + 100: chunk 1 tells
  expect_eio("chunk 1 holds 1000 bytes, expected 1200");
  damage(0, 2000);
  expect_eio("chunk 0 holds 2000 bytes, which cannot be the first of 3 chunks of 2500 bytes");
  commit(ctx, *store, dir, "f", data);
  REQUIRE(shared_connection()->ioctx().remove(chunk(2)) == 0);
  expect_eio("which is gone");

  // Replaced between reading the entry and reading the chunks: the read starts over.
  commit(ctx, *store, dir, "f", data);
  const auto newer = payload(1500, 2);
  auto faults = std::make_shared<ftq::test::fault_schedule>(0, 0);
  bool replaced = false;
  faults->on_after = [&](io::op_kind op, const std::filesystem::path& path, int) {
    if (replaced || op != io::op_kind::read || path != layout::manifest_oid(dir)) {
      return;
    }
    replaced = true;  // as another store would: new chunks, the entry swapped, old chunks deleted
    const std::string old0 = chunk(0);
    librados::bufferlist c0;
    c0.append(reinterpret_cast<const char*>(newer.data()), 1000);
    librados::bufferlist c1;
    c1.append(reinterpret_cast<const char*>(newer.data()) + 1000, 500);
    REQUIRE(shared_connection()->ioctx().write_full(layout::chunk_oid(dir, "f", "9-9", 0), c0) == 0);
    REQUIRE(shared_connection()->ioctx().write_full(layout::chunk_oid(dir, "f", "9-9", 1), c1) == 0);
    std::map<std::string, librados::bufferlist> entry;
    entry["f/f"].append("9-9 1500 2");
    REQUIRE(shared_connection()->ioctx().omap_set(layout::manifest_oid(dir), entry) == 0);
    REQUIRE(shared_connection()->ioctx().remove(old0) == 0);
  };
  auto reader = make_store(ctx, o, faults);
  CHECK((read(ctx, *reader, dir + "/f") == newer));
  CHECK(replaced);
  CHECK(faults->count_of(io::op_kind::read) >= 4);  // manifest, chunk 0 (gone), manifest, manifest again...
}

TEST_CASE("rados store: a 64 MiB commit never holds the executor's only thread") {
  asio::io_context ctx;  // one thread: the one running run_coro_on
  io::rados_store_options o;
  o.chunk_bytes = 32 * mib;
  auto store = make_store(ctx, o);
  const std::string dir = unique_prefix() + "/q";
  make_dirs(ctx, *store, dir);
  const auto data = payload(64 * mib, 9);
  std::size_t ticks = 0;
  std::chrono::steady_clock::duration longest{0};
  std::chrono::steady_clock::duration took{0};
  run_coro_on(ctx, [&](asio::any_io_executor ex) -> asio::awaitable<void> {
    bool done = false;
    io::commit_request r;
    r.dir = dir;
    r.name = "big";
    r.buffers.emplace_back(data);
    std::exception_ptr failure;
    const auto started = std::chrono::steady_clock::now();
    asio::co_spawn(ex, store->commit(r), [&](std::exception_ptr e) {
      done = true;
      took = std::chrono::steady_clock::now() - started;
      failure = e;
    });
    asio::steady_timer t(ex);
    auto last = std::chrono::steady_clock::now();
    while (!done) {
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
      const auto now = std::chrono::steady_clock::now();
      longest = std::max(longest, now - last);
      last = now;
      ++ticks;
    }
    if (failure) {
      std::rethrow_exception(failure);
    }
  });
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  MESSAGE("64 MiB commit took " << ms(took) << " ms; the timer fired " << ticks << " times, longest gap " << ms(longest)
                                << " ms");
  // Holding the thread would make one gap as long as the commit; a loaded machine's scheduling
  // makes gaps of some tens of ms.
  CHECK(ticks >= 10);
  CHECK(longest * 3 < took);
  CHECK((read(ctx, *store, dir + "/big") == data));
}

namespace {

std::array<unsigned char, 32> plan_hash(unsigned char seed) {
  std::array<unsigned char, 32> h{};
  h.fill(seed);
  return h;
}

struct two_states {
  ftq::test::vector_state a;
  ftq::test::vector_state b;
  std::vector<ftq::checkpoint::state_ref> refs() { return {{0, &a}, {1, &b}}; }
};

void manager_round_trip(const std::string& store_uri, const std::string& query_id) {
  asio::io_context ctx;
  ftq::checkpoint_options o;
  o.store = store_uri;
  o.ceph_conf = test_cluster().conf;
  o.key_env.clear();
  o.rados_chunk_bytes = 256 * kib;
  std::vector<std::string> log;
  o.log = [&](std::string_view line) { log.emplace_back(line); };
  ftq::checkpoint_manager m(ctx.get_executor(), o);
  CHECK(m.backend() == "rados");
  CHECK(m.backend_reason() == "rados: pool " + test_cluster().pool + " (conf " + test_cluster().conf + ")");
  REQUIRE(m.internals().rados_store() != nullptr);
  CHECK(m.internals().rados_store_shared().get() == m.internals().rados_store());
  CHECK(run_coro_on(ctx, [&](asio::any_io_executor) { return m.open(); }) == 0u);

  two_states s;
  for (int i = 0; i < 100000; ++i) {
    s.a.append(i);
  }
  s.b.append(-1);
  run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<void> {
    ftq::checkpoint::query_checkpoints q(m, query_id, plan_hash(3));
    for (int round = 0; round < 4; ++round) {
      s.a.set(static_cast<std::size_t>(round), 1000 + round);
      s.b.append(round);
      const auto report = co_await q.commit(s.refs());
      CHECK(report.info.backend == "rados");
    }
  });

  const auto infos = run_coro_on(ctx, [&](asio::any_io_executor) { return m.list(query_id); });
  REQUIRE(!infos.empty());
  CHECK(infos.size() <= 4);
  for (const auto& info : infos) {
    CHECK(info.backend == "rados");
    CHECK(info.query_id == query_id);
  }
  const auto ids = run_coro_on(ctx, [&](asio::any_io_executor) { return m.list(""); });
  CHECK(std::any_of(ids.begin(), ids.end(), [&](const auto& i) { return i.query_id == query_id; }));
  const auto checks = run_coro_on(ctx, [&](asio::any_io_executor) { return m.verify(query_id); });
  REQUIRE(checks.size() == infos.size());
  for (const auto& c : checks) {
    CHECK_MESSAGE(!c.error, c.message);
  }

  // A second manager (a restart) restores the newest state exactly.
  ftq::checkpoint_manager again(ctx.get_executor(), o);
  two_states restored;
  const auto report = run_coro_on(ctx, [&](asio::any_io_executor) -> asio::awaitable<ftq::checkpoint::restore_report> {
    ftq::checkpoint::query_checkpoints q(again, query_id, plan_hash(3));
    co_return co_await q.restore([&] {
      restored = two_states{};
      return restored.refs();
    });
  });
  REQUIRE(report.restored.has_value());
  CHECK(report.restored->epoch == infos.front().epoch);
  CHECK(report.skipped.empty());
  CHECK((restored.a.values == s.a.values));
  CHECK((restored.b.values == s.b.values));

  run_coro_on(ctx, [&](asio::any_io_executor) { return m.remove_query(query_id); });
  CHECK_THROWS_AS(run_coro_on(ctx, [&](asio::any_io_executor) { return m.list(query_id); }), ftq::checkpoint_error);
}

}  // namespace

TEST_CASE("checkpoint manager on rados://POOL/PREFIX commits, lists, verifies and restores") {
  const std::string prefix = unique_prefix() + "/ckpt";
  manager_round_trip(test_cluster().uri + "/" + prefix, "q1");
  // Everything it made lives under the prefix: the index, the manifest, no chunk left.
  asio::io_context ctx;
  const auto left = objects_under(ctx, prefix);
  CHECK((left == std::vector<std::string>{layout::index_oid(prefix), layout::manifest_oid(prefix + "/q1")}));
}

TEST_CASE("checkpoint manager on rados://POOL (no prefix) keeps queries at the pool's root") {
  const std::string query_id = unique_prefix();
  manager_round_trip(test_cluster().uri, query_id);
  asio::io_context ctx;
  CHECK((objects_under(ctx, query_id) == std::vector<std::string>{layout::manifest_oid(query_id)}));
}

TEST_CASE("checkpoint manager: a store that is not rados:// or a connection to another pool is refused") {
  asio::io_context ctx;
  ftq::checkpoint_options o;
  o.key_env.clear();
  o.store = "s3://bucket";
  try {
    ftq::checkpoint_manager m(ctx.get_executor(), o);
    FAIL("expected setting_invalid");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::setting_invalid));
  }
  o.store = "rados://another-pool";
  o.rados = shared_connection();
  try {
    ftq::checkpoint_manager m(ctx.get_executor(), o);
    FAIL("expected setting_invalid");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::setting_invalid));
    CHECK(std::string(e.what()).find("another-pool") != std::string::npos);
  }
  o.store.clear();  // local, and no directory: as before
  CHECK_THROWS_AS(ftq::checkpoint_manager(ctx.get_executor(), o), std::invalid_argument);
}
