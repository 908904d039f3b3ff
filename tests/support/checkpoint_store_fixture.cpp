#include "support/checkpoint_store_fixture.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <stdexcept>

#include <doctest/doctest.h>

#include "checkpoint/manager_impl.hpp"
#include "io/rados_store.hpp"
#include "rados/layout.hpp"
#include "support/run_coro.hpp"

namespace ftq::test {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

/// "DIR/NAME@UNIQUE.I" taken apart (layout::chunk_oid); nullopt for any other object name.
struct chunk_object {
  std::string dir;
  std::string name;
  std::string unique;
  std::uint64_t index = 0;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<chunk_object> parse_chunk_object(const std::string& oid) {
  const std::size_t slash = oid.rfind('/');
  const std::string leaf = slash == std::string::npos ? oid : oid.substr(slash + 1);
  const std::size_t at = leaf.rfind('@');
  if (at == std::string::npos || at == 0) {
    return std::nullopt;
  }
  const std::size_t dot = leaf.rfind('.');
  if (dot == std::string::npos || dot < at) {
    return std::nullopt;
  }
  chunk_object c;
  c.dir = slash == std::string::npos ? std::string() : oid.substr(0, slash);
  c.name = leaf.substr(0, at);
  c.unique = leaf.substr(at + 1, dot - at - 1);
  const std::string index = leaf.substr(dot + 1);
  const std::size_t dash = c.unique.find('-');
  if (!all_digits(index) || dash == std::string::npos || !all_digits(c.unique.substr(0, dash)) ||
      !all_digits(c.unique.substr(dash + 1))) {
    return std::nullopt;
  }
  std::from_chars(index.data(), index.data() + index.size(), c.index);
  return c;
}

/// A manifest entry "f/NAME" -> "<unique> <bytes> <chunks>".
struct manifest_entry {
  std::string unique;
  std::uint64_t chunks = 0;
};

/// The entries of DIR/manifest by file name (empty when there is no manifest).
std::map<std::string, manifest_entry> manifest_entries(const std::string& dir) {
  auto conn = rados_test_connection();
  const std::string oid = dir + "/manifest";
  std::map<std::string, manifest_entry> out;
  std::string after;
  for (;;) {
    std::map<std::string, librados::bufferlist> values;
    bool more = false;
    const int r = conn->ioctx().omap_get_vals2(oid, after, "f/", 1000, &values, &more);
    if (r == -ENOENT) {
      break;
    }
    REQUIRE_MESSAGE(r >= 0, "reading the entries of " << oid << ": error " << r);
    for (auto& [key, value] : values) {
      after = key;
      const std::string text = value.to_str();
      const std::size_t s1 = text.find(' ');
      const std::size_t s2 = text.rfind(' ');
      REQUIRE_MESSAGE((s1 != std::string::npos && s2 > s1), "malformed entry " << key << " of " << oid);
      manifest_entry e;
      e.unique = text.substr(0, s1);
      const std::string chunks = text.substr(s2 + 1);
      REQUIRE_MESSAGE(all_digits(chunks), "malformed entry " << key << " of " << oid << ": " << text);
      std::from_chars(chunks.data(), chunks.data() + chunks.size(), e.chunks);
      out.emplace(key.substr(2), e);
    }
    if (!more || values.empty()) {
      break;
    }
  }
  return out;
}

std::vector<std::string> objects_under(const std::string& prefix) {
  auto conn = rados_test_connection();
  return run_coro([&](asio::any_io_executor) -> asio::awaitable<std::vector<std::string>> {
    std::string p = prefix + "/";
    co_return co_await conn->list_objects(p);
  });
}

/// The object names under `prefix`: referenced chunk count per manifest entry, and the chunks no
/// entry references.
struct rados_census {
  std::size_t entries = 0;
  std::vector<std::string> strays;
  std::set<std::string> stray_files;  // "DIR/NAME@UNIQUE" of the strays
};

rados_census census(const std::string& prefix) {
  rados_census out;
  std::map<std::string, std::vector<chunk_object>> chunks_by_dir;
  std::set<std::string> manifests;
  for (const std::string& oid : objects_under(prefix)) {
    if (oid.ends_with("/manifest")) {
      manifests.insert(oid.substr(0, oid.size() - 9));
    } else if (auto c = parse_chunk_object(oid)) {
      chunks_by_dir[c->dir].push_back(std::move(*c));
    }
  }
  for (const auto& dir : manifests) {
    out.entries += manifest_entries(dir).size();
  }
  for (const auto& [dir, chunks] : chunks_by_dir) {
    const auto entries = manifest_entries(dir);
    for (const auto& c : chunks) {
      const auto it = entries.find(c.name);
      if (it == entries.end() || it->second.unique != c.unique || c.index >= it->second.chunks) {
        out.strays.push_back(dir + "/" + c.name + "@" + c.unique + "." + std::to_string(c.index));
        out.stray_files.insert(dir + "/" + c.name + "@" + c.unique);
      }
    }
  }
  return out;
}

std::string sanitized(std::string_view hint) {
  std::string s;
  for (char c : hint.substr(0, 48)) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    s += ok ? c : '-';
  }
  return s;
}

}  // namespace

std::optional<rados::store_uri> rados_test_uri() {
  const char* text = std::getenv("FTQ_TEST_RADOS");
  if (text == nullptr || *text == '\0') {
    return std::nullopt;
  }
  return rados::parse_store_uri(text);
}

std::shared_ptr<rados::connection> rados_test_connection() {
  static std::mutex mu;
  // Never destroyed: librados is shut down by the process exit, not by a static destructor
  // racing its own threads.
  static auto* shared = new std::shared_ptr<rados::connection>();
  std::lock_guard lock(mu);
  if (!*shared) {
    const auto uri = rados_test_uri();
    if (!uri) {
      throw std::runtime_error("FTQ_TEST_RADOS is not set: no RADOS cluster to test against");
    }
    rados::connect_options o;
    o.pool = uri->pool;
    *shared = rados::connection::connect(o);  // conf: $CEPH_CONF
  }
  return *shared;
}

std::string unique_rados_store(std::string_view hint) {
  static const std::string run = [] {
    std::random_device rd;
    const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
    return "ftq-test-" + std::to_string(::getpid()) + "-" + hex;
  }();
  static std::atomic<std::uint64_t> counter{0};
  const auto uri = rados_test_uri();
  if (!uri) {
    throw std::runtime_error("FTQ_TEST_RADOS is not set: no RADOS cluster to test against");
  }
  rados::store_uri out;
  out.pool = uri->pool;
  out.prefix = rados::layout::join(uri->prefix, run) + "/" + std::to_string(++counter) + "-" + sanitized(hint);
  return out.text();
}

void remove_rados_objects(const std::string& prefix) noexcept {
  try {
    auto conn = rados_test_connection();
    for (const std::string& oid : objects_under(prefix)) {
      (void)conn->ioctx().remove(oid);  // best effort: the cluster is thrown away after the run
    }
  } catch (...) {
  }
}

std::vector<std::string> checkpoint_store_kinds() {
  std::vector<std::string> kinds{"threads"};
  if (io::probe_io_uring().empty()) {
    kinds.emplace_back("uring");
  } else {
    MESSAGE("io_uring unavailable here: " << io::probe_io_uring());
  }
  if (rados_test_uri()) {
    kinds.emplace_back("rados");
  }
  return kinds;
}

checkpoint_store_fixture::checkpoint_store_fixture(std::string kind) : kind_(std::move(kind)) {
  if (kind_ != "threads" && kind_ != "uring" && kind_ != "rados") {
    throw std::invalid_argument("unknown checkpoint store kind '" + kind_ + "'");
  }
  if (on_rados()) {
    store_ = unique_rados_store(tmp_.path().filename().string());
    prefix_ = rados::parse_store_uri(store_).prefix;
  }
}

checkpoint_store_fixture::~checkpoint_store_fixture() {
  if (on_rados()) {
    remove_rados_objects(prefix_);
  }
}

std::string checkpoint_store_fixture::backend_name() const { return kind_ == "uring" ? "io_uring" : kind_; }

checkpoint_options checkpoint_store_fixture::options() const {
  checkpoint_options o;
  o.key_env.clear();
  if (on_rados()) {
    o.store = store_;
    o.rados = rados_test_connection();
  } else {
    o.dir = tmp_ / "ck";
    o.io_backend = kind_;
  }
  return o;
}

fs::path checkpoint_store_fixture::root() const { return on_rados() ? fs::path(prefix_) : tmp_ / "ck"; }

fs::path checkpoint_store_fixture::query_dir(const std::string& id) const { return root() / id; }

std::unique_ptr<io::file_store> checkpoint_store_fixture::make_store(asio::any_io_executor executor,
                                                                     std::shared_ptr<io::fault_injector> faults) const {
  if (on_rados()) {
    io::rados_store_options o;
    o.root = prefix_;
    return std::make_unique<io::rados_store>(std::move(executor), rados_test_connection(), o, std::move(faults));
  }
  return io::make_file_store(std::move(executor),
                             kind_ == "uring" ? io::backend_choice::io_uring : io::backend_choice::threads,
                             std::move(faults));
}

std::string checkpoint_store_fixture::bytes(asio::io_context& io, checkpoint_manager& m, const fs::path& path) const {
  const std::vector<std::byte> b =
      run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<std::vector<std::byte>> {
        fs::path p = path;
        co_return co_await m.internals().store->read(p);
      });
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

void checkpoint_store_fixture::overwrite(asio::io_context& io, checkpoint_manager& m, const fs::path& path,
                                         const std::string& bytes) const {
  if (!on_rados()) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE_MESSAGE(out.good(), "could not rewrite " << path);
    return;
  }
  run_coro_on(io, [&](asio::any_io_executor) -> asio::awaitable<void> {
    io::commit_request request;
    request.dir = path.parent_path();
    request.name = path.filename().string();
    request.buffers.push_back(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
    co_await m.internals().store->commit(request);
  });
}

void checkpoint_store_fixture::flip_byte(asio::io_context& io, checkpoint_manager& m, const fs::path& path,
                                         std::size_t offset) const {
  if (!on_rados()) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
    REQUIRE_MESSAGE(f.good(), "could not flip byte " << offset << " of " << path);
    return;
  }
  std::string b = bytes(io, m, path);
  REQUIRE(offset < b.size());
  b[offset] = static_cast<char>(b[offset] ^ 0x10);
  overwrite(io, m, path, b);
}

void checkpoint_store_fixture::truncate(asio::io_context& io, checkpoint_manager& m, const fs::path& path,
                                        std::size_t size) const {
  if (!on_rados()) {
    fs::resize_file(path, size);
    return;
  }
  std::string b = bytes(io, m, path);
  REQUIRE(size <= b.size());
  b.resize(size);
  overwrite(io, m, path, b);
}

std::vector<std::uint64_t> checkpoint_store_fixture::epochs(const std::string& id) const {
  std::vector<std::uint64_t> out;
  if (!on_rados()) {
    for (const auto& e : fs::directory_iterator(query_dir(id))) {
      auto epoch = checkpoint::parse_file_name(e.path().filename().string());
      REQUIRE_MESSAGE(epoch.has_value(), "unexpected file " << e.path());
      out.push_back(*epoch);
    }
  } else {
    const std::string dir = query_dir(id).generic_string();
    for (const auto& [name, entry] : manifest_entries(dir)) {
      auto epoch = checkpoint::parse_file_name(name);
      REQUIRE_MESSAGE(epoch.has_value(), "unexpected entry " << name << " in " << dir << "/manifest");
      out.push_back(*epoch);
    }
    for (const std::string& left : rados_strays(dir)) {
      FAIL("unexpected object " << left << " (no manifest entry references it)");
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> checkpoint_store_fixture::strays() const {
  if (on_rados()) {
    return rados_strays(prefix_);
  }
  std::vector<std::string> out;
  const fs::path r = root();
  if (fs::exists(r)) {
    for (const auto& e : fs::recursive_directory_iterator(r)) {
      if (e.is_regular_file() && io::is_temp_name(e.path().filename().string())) {
        out.push_back(e.path().lexically_relative(r).string());
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

void checkpoint_store_fixture::plant(const std::string& oid, const std::string& bytes) const {
  if (!on_rados()) {
    write_file(root() / oid, bytes);
    return;
  }
  librados::bufferlist bl;
  bl.append(bytes);
  const int r = rados_test_connection()->ioctx().write_full(oid, bl);
  REQUIRE_MESSAGE(r == 0, "writing " << oid << ": error " << r);
}

std::vector<std::string> rados_strays(const std::string& prefix) { return census(prefix).strays; }

std::size_t rados_files(const std::string& prefix) {
  const rados_census c = census(prefix);
  return c.entries + c.stray_files.size();
}

}  // namespace ftq::test
