#pragma once
/// Ownership of a query among processes sharing a RADOS checkpoint store: a lease, i.e. the
/// exclusive cls_lock "ftq.lease" on the query's manifest object (rados/layout.hpp), taken with
/// a duration and renewed on an Asio timer. RADOS decides who holds it, so two processes can
/// never both believe they own a query for longer than one renewal round trip, and fencing
/// covers that gap: every manifest change asserts the lease and the manifest version.
///
/// Taking the lease is ONE compound operation on the manifest: lock (fails with -EBUSY while
/// another holder's lease runs), compare the version read just before, set ftq.owner and
/// ftq.lease_until, bump the version (so a previous holder that wakes up is fenced by the version
/// check even before it notices its lease is gone) and append a history entry "h/<seq>"
/// {"at","from","to","why"}. The store then adopt()s the directory. Renewal is lock with
/// must_renew plus ftq.lease_until; a renewal refused (-ENOENT: lapsed, or -EBUSY: taken) or
/// failing for longer than the lease means the lease is lost: on_lost runs once, with why.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace ftq::io {
class rados_store;
}

namespace ftq::cluster {

struct lease_options {
  /// How long a lease runs without renewal: a dead owner's query waits this long at most before
  /// another worker may take it.
  std::chrono::milliseconds duration{3000};
  /// How often the holder renews (well under `duration`: a renewal may be slow or lost).
  std::chrono::milliseconds renew_every{1000};
};

/// One change of owner, as the manifest's history records it.
struct handover {
  std::chrono::system_clock::time_point at;
  std::string from;  // previous owner ("" for the first)
  std::string to;    // new owner ("" when released or finished)
  std::string why;   // "first owner", "took over: lease of W lapsed", "released", "succeeded", "failed: ..."
};

/// What the manifest says about a query's ownership (read without taking anything).
struct ownership {
  std::string state;  // "", "queued", "running", "succeeded", "failed"
  std::string owner;  // last holder ("" when never owned)
  std::chrono::system_clock::time_point lease_until{};
  std::uint64_t version = 0;
  std::vector<handover> history;  // oldest first
  bool lease_current(std::chrono::system_clock::time_point now) const noexcept {
    return !owner.empty() && now < lease_until;
  }
};

/// Reads a query directory's ownership. Throws io_error (ENOENT when there is no manifest).
boost::asio::awaitable<ownership> read_ownership(io::rados_store& store, std::string dir);

/// "2024-05-01T12:00:00.123Z": how history entries and job records write times (UTC, ms).
std::string iso_utc(std::chrono::system_clock::time_point t);
/// The inverse of iso_utc (seconds without ".mmm" accepted too); nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_iso_utc(std::string_view text);

class lease : public std::enable_shared_from_this<lease> {
 public:
  /// Tries once to take `dir`'s lease for `worker_id`. Null when another holder's lease is
  /// current, the query's state is terminal (succeeded or failed), or the manifest changed
  /// between the read and the take (try again later). The holder it replaced (a lapsed lease) is
  /// in previous_owner(). Throws io_error for cluster errors.
  static boost::asio::awaitable<std::shared_ptr<lease>> try_acquire(std::shared_ptr<io::rados_store> store,
                                                                    std::string dir, std::string worker_id,
                                                                    lease_options options);
  ~lease();

  /// Renews every options.renew_every until release() or loss, on the executor try_acquire() ran
  /// on (which must run one thread at a time: an io_context run by one thread); `on_lost(why)`
  /// runs once on that executor when the lease is lost. The lease may be released or destroyed
  /// at any time, a renewal in flight included.
  void start_renewing(std::function<void(std::string why)> on_lost);
  /// Stops renewing and unlocks (best effort: a lost lease needs no unlock), setting
  /// ftq.lease_until to now, so another worker may take the query at once and status shows the
  /// lease lapsed; the store disowns the directory. State and history are left to the caller
  /// (job_registry); the next owner's history entry reads "took over: lease of W lapsed".
  boost::asio::awaitable<void> release();

  bool held() const noexcept;
  const std::string& dir() const noexcept;
  const std::string& worker_id() const noexcept;
  /// The owner whose lapsed lease this one replaced ("" when the query had none or it was ours).
  const std::string& previous_owner() const noexcept;
  /// When the lease was taken, and when the previous one lapsed (for takeover timings).
  std::chrono::system_clock::time_point acquired_at() const noexcept;
  std::optional<std::chrono::system_clock::time_point> previous_lease_until() const noexcept;
  /// The store the lease was taken through (its manifest changes are fenced by this lease).
  io::rados_store& store() noexcept;

  struct state;

 private:
  explicit lease(std::shared_ptr<state> s);
  std::shared_ptr<state> state_;
};

}  // namespace ftq::cluster
