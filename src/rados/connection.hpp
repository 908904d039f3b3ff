#pragma once
/// One process's connection to a Ceph cluster and one pool, and the bridge from librados'
/// asynchronous completions to Asio: `co_await conn.operate(oid, op)` sends the operation and
/// suspends the coroutine; librados' completion (on its own finisher thread) posts the result
/// back to the coroutine's executor. No executor thread ever waits on the cluster.
///
/// A connection is shared (std::shared_ptr) by every store, lease and registry that uses the
/// same cluster and pool; librados is thread-safe. Connecting itself is blocking (reading the
/// conf, reaching a monitor): do it once at start-up, before serving.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <rados/librados.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace ftq::rados {

/// "rados://POOL[/PREFIX]" taken apart. PREFIX names objects "PREFIX/..." (no leading or
/// trailing slash; empty: objects at the pool's root).
struct store_uri {
  std::string pool;
  std::string prefix;
  std::string text() const;  // back to "rados://POOL[/PREFIX]"
};
/// Whether `text` starts with "rados://".
bool is_rados_uri(std::string_view text) noexcept;
/// Parses "rados://POOL[/PREFIX]". Throws ftq::error(errc::setting_invalid) naming what is wrong
/// (no pool, a pool or prefix component outside [A-Za-z0-9._-], "..", an empty component).
store_uri parse_store_uri(std::string_view text);

struct connect_options {
  std::string pool;
  /// ceph.conf to read; empty: $CEPH_CONF, else librados' default search (/etc/ceph/ceph.conf).
  std::string conf_path;
  /// Client name ("client.admin" by default, as the ceph CLI).
  std::string client_name = "client.admin";
  /// Bounds on reaching the monitors and each OSD operation, so a dead cluster is an error and
  /// not a hang. Applied as rados_mon_op_timeout / rados_osd_op_timeout.
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds op_timeout{30000};
};

class connection {
 public:
  /// Connects (blocking). Throws ftq::error(errc::store_unavailable) with the step, conf path
  /// and librados' error: "rados: connect to cluster (conf /tmp/c/ceph.conf): Connection timed out".
  static std::shared_ptr<connection> connect(const connect_options& options);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  const std::string& pool() const noexcept { return pool_; }
  /// This client's unique id in the cluster (client.N), as lockers and blocklists name it.
  std::uint64_t instance_id();
  librados::IoCtx& ioctx() noexcept { return ioctx_; }

  /// Sends a compound write and waits for it without blocking the thread. Returns librados'
  /// result: 0, or a negative errno (-ECANCELED from a failed cmpxattr, -EBUSY/-ENOENT from a
  /// lock class method, -ENOENT, -ETIMEDOUT ...). Never throws for a cluster error.
  boost::asio::awaitable<int> operate(std::string oid, librados::ObjectWriteOperation& op);
  /// Sends a compound read; outputs land where `op`'s steps were told (their buffers and rvals
  /// must outlive the call). Returns 0 or a negative errno.
  boost::asio::awaitable<int> operate(std::string oid, librados::ObjectReadOperation& op, librados::bufferlist* out);

  /// Object names of the pool starting with `prefix`, sorted. Lists the whole pool (RADOS has no
  /// prefix index) on a helper thread; meant for cleanup and tools, not hot paths.
  boost::asio::awaitable<std::vector<std::string>> list_objects(std::string prefix);

 private:
  connection() = default;
  std::string pool_;
  librados::Rados cluster_;
  librados::IoCtx ioctx_;
};

/// Encodings of the `lock` object class's inputs (ceph's cls/lock/cls_lock_ops.h, version 1),
/// so a lease can be taken, renewed, asserted and released inside one compound operation with
/// other steps (a compare-and-set of the manifest, a result commit).
namespace lock_ops {
constexpr std::uint8_t exclusive = 1;
constexpr std::uint8_t may_renew = 0x1;   // taking a lock this cookie already holds extends it
constexpr std::uint8_t must_renew = 0x2;  // fail with -ENOENT unless this cookie holds it now

/// `lock`: -EBUSY while another cookie holds an unexpired lease, -EEXIST when this cookie
/// holds it and neither renew flag is given, -ENOENT for must_renew without a lease.
void lock(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie,
          const std::string& description, std::chrono::milliseconds duration, std::uint8_t flags);
/// `assert_locked`: the step fails with -EBUSY unless this client holds the exclusive lease
/// `name` with `cookie`, unexpired.
void assert_locked(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie);
void unlock(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie);
}  // namespace lock_ops

/// "rados: <what>: <strerror(-r)>" as an ftq::io_error on `oid` with code -r.
[[noreturn]] void throw_rados_error(const std::string& oid, const std::string& what, int r);

}  // namespace ftq::rados
