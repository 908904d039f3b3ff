#include "cluster/lease.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <ftq/error.hpp>

#include "cluster/manifest_fields.hpp"
#include "io/rados_store.hpp"
#include "rados/connection.hpp"
#include "rados/layout.hpp"

namespace ftq::cluster {

namespace asio = boost::asio;
namespace json = boost::json;
namespace layout = rados::layout;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace {

using detail::attr;
using detail::history_json;
using detail::history_key;
using detail::parse_handover;
librados::bufferlist bl_of(const std::string& text) { return detail::bytes_of(text); }

constexpr std::uint64_t omap_page = 1000;

std::string text_of(const librados::bufferlist& bl) { return bl.to_str(); }

std::int64_t unix_ms(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

template <class Int>
std::optional<Int> parse_int(std::string_view text) {
  Int v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

std::string iso_utc(system_clock::time_point t) {
  const std::int64_t ms = unix_ms(t);
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(frac));
  return buf;
}

std::optional<system_clock::time_point> parse_iso_utc(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z
  if (text.size() != 20 && text.size() != 24) {
    return std::nullopt;
  }
  auto field = [&](std::size_t at, std::size_t n) { return parse_int<int>(text.substr(at, n)); };
  if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text.back() != 'Z') {
    return std::nullopt;
  }
  auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2), mi = field(14, 2), s = field(17, 2);
  std::optional<int> ms = 0;
  if (text.size() == 24) {
    if (text[19] != '.') {
      return std::nullopt;
    }
    ms = field(20, 3);
  }
  if (!y || !mo || !d || !h || !mi || !s || !ms || *h > 23 || *mi > 59 || *s > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(*y), std::chrono::month(static_cast<unsigned>(*mo)),
                                        std::chrono::day(static_cast<unsigned>(*d))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  return system_clock::time_point(std::chrono::sys_days(ymd)) + std::chrono::hours(*h) + std::chrono::minutes(*mi) +
         std::chrono::seconds(*s) + std::chrono::milliseconds(*ms);
}

asio::awaitable<ownership> read_ownership(io::rados_store& store, std::string dir) {
  std::shared_ptr<rados::connection> conn = store.connection();
  const std::string oid = layout::manifest_oid(dir);
  std::map<std::string, librados::bufferlist> attrs;
  std::map<std::string, librados::bufferlist> entries;
  std::string after;
  bool first = true;
  bool more = true;
  while (more) {
    librados::ObjectReadOperation op;
    int attrs_r = 0;
    int omap_r = 0;
    std::map<std::string, librados::bufferlist> page;
    more = false;
    if (first) {
      op.getxattrs(&attrs, &attrs_r);
    }
    op.omap_get_vals2(after, std::string(layout::history_key_prefix), omap_page, &page, &more, &omap_r);
    const int r = co_await conn->operate(oid, op, nullptr);
    if (r < 0) {
      rados::throw_rados_error(oid, "read ownership", r);
    }
    if (attrs_r < 0 || omap_r < 0) {
      rados::throw_rados_error(oid, "read ownership", attrs_r < 0 ? attrs_r : omap_r);
    }
    if (!page.empty()) {
      after = page.rbegin()->first;
    } else {
      more = false;
    }
    entries.merge(page);
    first = false;
  }
  ownership o;
  o.state = attr(attrs, layout::state_attr);
  o.owner = attr(attrs, layout::owner_attr);
  o.version = parse_int<std::uint64_t>(attr(attrs, layout::version_attr)).value_or(0);
  if (auto ms = parse_int<std::int64_t>(attr(attrs, layout::lease_until_attr))) {
    o.lease_until = system_clock::time_point(std::chrono::milliseconds(*ms));
  }
  o.history.reserve(entries.size());
  for (const auto& [key, value] : entries) {
    o.history.push_back(parse_handover(text_of(value)));  // keys sort oldest first
  }
  co_return o;
}

/// Everything a lease and its renewal share. The renewal coroutines hold it weakly, so the
/// lease can be dropped at any time: they find it gone and stop.
struct lease::state {
  asio::any_io_executor executor;  // the caller's; run by one thread at a time (the timer is not thread-safe)
  std::shared_ptr<io::rados_store> store;
  std::shared_ptr<rados::connection> connection;
  std::string dir;
  std::string oid;
  std::string worker_id;
  std::string description;
  lease_options options;
  std::string previous_owner;
  std::optional<system_clock::time_point> previous_lease_until;
  system_clock::time_point acquired_at;
  std::shared_ptr<asio::steady_timer> timer;

  std::mutex mutex;                  // guards what follows
  bool ended = false;                // released or lost: no renewal, no on_lost
  bool renewing = false;             // start_renewing() was called
  bool in_flight = false;            // a renewal was sent and has not answered
  std::string last_error;            // the last renewal's cluster error ("" after a success)
  steady_clock::time_point expires;  // the lease's end as this process can vouch for it
  std::function<void(std::string)> on_lost;

  ~state() { cancel_timer(); }

  /// Wakes the renewal loop (it then finds the lease ended or gone): at once when called on the
  /// executor, else posted to it.
  void cancel_timer() {
    asio::dispatch(executor, [t = timer]() { t->cancel(); });
  }
};

namespace {

/// Ends the lease as lost (once): renewal stops, the store no longer asserts it, on_lost is
/// posted to the executor.
void lose(const std::shared_ptr<lease::state>& s, std::string why) {
  std::function<void(std::string)> callback;
  {
    std::lock_guard guard(s->mutex);
    if (s->ended) {
      return;
    }
    s->ended = true;
    callback = std::move(s->on_lost);
  }
  s->cancel_timer();
  s->store->disown(s->dir);
  if (callback) {
    asio::post(s->executor, [callback = std::move(callback), why = std::move(why)]() { callback(why); });
  }
}

asio::awaitable<void> renew_once(std::weak_ptr<lease::state> weak) {
  std::shared_ptr<rados::connection> conn;
  std::string oid;
  librados::ObjectWriteOperation op;
  std::chrono::milliseconds duration{};
  {
    auto s = weak.lock();
    if (!s) {
      co_return;
    }
    conn = s->connection;
    oid = s->oid;
    duration = s->options.duration;
    rados::lock_ops::lock(op, layout::lease_lock, s->worker_id, s->description, duration, rados::lock_ops::must_renew);
  }
  const steady_clock::time_point sent = steady_clock::now();
  op.setxattr(layout::lease_until_attr, bl_of(std::to_string(unix_ms(system_clock::now() + duration))));
  const int r = co_await conn->operate(oid, op);
  auto s = weak.lock();
  if (!s) {
    co_return;
  }
  {
    std::lock_guard guard(s->mutex);
    s->in_flight = false;
    if (s->ended) {
      co_return;
    }
    if (r == 0) {
      s->expires = sent + duration;
      s->last_error.clear();
      co_return;
    }
    if (r != -ENOENT && r != -EBUSY) {
      s->last_error = std::string("rados: renew lease: ") + std::strerror(-r);  // retried on the next tick
      co_return;
    }
  }
  lose(s, "lease renewal refused: lapsed or taken over by another worker");
}

asio::awaitable<void> renew_loop(std::weak_ptr<lease::state> weak, std::shared_ptr<asio::steady_timer> timer) {
  for (;;) {
    {
      auto s = weak.lock();
      if (!s) {
        co_return;
      }
      std::lock_guard guard(s->mutex);
      if (s->ended) {
        co_return;
      }
      // Wake for the next renewal, or at the lease's end if that comes first (to notice a
      // renewal that never answered).
      const auto now = steady_clock::now();
      auto next = now + s->options.renew_every;
      if (s->expires > now) {
        next = std::min(next, s->expires);
      }
      timer->expires_at(next);
    }
    // Cancelled by release() or the lease's end: the checks below see it.
    [[maybe_unused]] auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    auto s = weak.lock();
    if (!s) {
      co_return;
    }
    std::string lost_why;
    bool send = false;
    {
      std::lock_guard guard(s->mutex);
      if (s->ended) {
        co_return;
      }
      const bool expired = steady_clock::now() >= s->expires;
      if (expired && (s->in_flight || !s->last_error.empty())) {
        lost_why = "could not renew within the lease: " +
                   (s->last_error.empty() ? std::string("no answer from the cluster") : s->last_error);
      } else if (!s->in_flight) {
        // Also after a pause past the lease's end: the cluster's answer says whether it lapsed.
        s->in_flight = true;
        send = true;
      }
    }
    if (!lost_why.empty()) {
      lose(s, std::move(lost_why));
      co_return;
    }
    if (send) {
      asio::co_spawn(s->executor, renew_once(weak), asio::detached);
    }
  }
}

}  // namespace

lease::lease(std::shared_ptr<state> s) : state_(std::move(s)) {}

lease::~lease() {
  std::lock_guard guard(state_->mutex);
  state_->ended = true;  // the renewal coroutines see it (or the state gone) and stop
  state_->on_lost = nullptr;
}

asio::awaitable<std::shared_ptr<lease>> lease::try_acquire(std::shared_ptr<io::rados_store> store, std::string dir,
                                                           std::string worker_id, lease_options options) {
  std::shared_ptr<rados::connection> conn = store->connection();
  const std::string oid = layout::manifest_oid(dir);

  std::map<std::string, librados::bufferlist> attrs;
  {
    librados::ObjectReadOperation read;
    int attrs_r = 0;
    read.getxattrs(&attrs, &attrs_r);
    const int r = co_await conn->operate(oid, read, nullptr);
    if (r < 0 || attrs_r < 0) {
      rados::throw_rados_error(oid, "read manifest before taking its lease", r < 0 ? r : attrs_r);
    }
  }
  const std::string query_state = attr(attrs, layout::state_attr);
  if (query_state == "succeeded" || query_state == "failed") {
    co_return nullptr;
  }
  const std::string version_text = attr(attrs, layout::version_attr);
  const std::uint64_t version = parse_int<std::uint64_t>(version_text).value_or(0);
  const std::string owner = attr(attrs, layout::owner_attr);
  std::optional<system_clock::time_point> owner_until;
  if (auto ms = parse_int<std::int64_t>(attr(attrs, layout::lease_until_attr)); ms && !owner.empty()) {
    owner_until = system_clock::time_point(std::chrono::milliseconds(*ms));
  }
  const bool takeover = !owner.empty() && owner != worker_id;
  const bool released = !owner.empty() && attr(attrs, layout::released_attr) == owner;
  const std::string why = owner.empty()        ? std::string("first owner")
                          : owner == worker_id ? std::string("re-acquired by the same worker")
                          : released           ? "took over: " + owner + " released it"
                                               : "took over: lease of " + owner + " lapsed";
  const std::string description = "ftq worker " + worker_id;

  std::uint8_t flags = 0;
  steady_clock::time_point sent;
  system_clock::time_point taken;
  for (;;) {
    sent = steady_clock::now();
    taken = system_clock::now();
    librados::ObjectWriteOperation op;
    rados::lock_ops::lock(op, layout::lease_lock, worker_id, description, options.duration, flags);
    op.cmpxattr(layout::version_attr, LIBRADOS_CMPXATTR_OP_EQ, bl_of(version_text));
    op.setxattr(layout::owner_attr, bl_of(worker_id));
    op.setxattr(layout::released_attr, bl_of(""));
    op.setxattr(layout::lease_until_attr, bl_of(std::to_string(unix_ms(taken + options.duration))));
    op.setxattr(layout::version_attr, bl_of(std::to_string(version + 1)));
    std::map<std::string, librados::bufferlist> entry;
    entry[history_key(version + 1)] = bl_of(history_json(taken, owner, worker_id, why));
    op.omap_set(entry);
    const int r = co_await conn->operate(oid, op);
    if (r == 0) {
      break;
    }
    if (r == -EEXIST && flags == 0) {
      flags = rados::lock_ops::may_renew;  // this client holds it under this id already: take it again
      continue;
    }
    if (r == -EBUSY || r == -ECANCELED) {
      co_return nullptr;
    }
    rados::throw_rados_error(oid, "take lease", r);
  }
  store->adopt(dir, worker_id, version + 1);

  auto s = std::make_shared<state>();
  // A strand of the caller's executor: renewals, release and on_lost never run concurrently, even
  // when the caller's io_context runs on several threads.
  const asio::any_io_executor caller = co_await asio::this_coro::executor;
  s->executor = asio::make_strand(caller);
  s->store = std::move(store);
  s->connection = std::move(conn);
  s->dir = std::move(dir);
  s->oid = oid;
  s->worker_id = std::move(worker_id);
  s->description = description;
  s->options = options;
  if (takeover) {
    s->previous_owner = owner;
    s->previous_lease_until = owner_until;
  }
  s->acquired_at = taken;
  s->timer = std::make_shared<asio::steady_timer>(s->executor);
  s->expires = sent + options.duration;
  co_return std::shared_ptr<lease>(new lease(std::move(s)));
}

void lease::start_renewing(std::function<void(std::string why)> on_lost) {
  {
    std::lock_guard guard(state_->mutex);
    if (state_->ended || state_->renewing) {
      return;
    }
    state_->renewing = true;
    state_->on_lost = std::move(on_lost);
  }
  asio::co_spawn(state_->executor, renew_loop(state_, state_->timer), asio::detached);
}

asio::awaitable<void> lease::release() {
  std::shared_ptr<state> s = state_;
  bool was_held = false;
  {
    std::lock_guard guard(s->mutex);
    was_held = !s->ended;
    s->ended = true;
    s->on_lost = nullptr;
  }
  s->cancel_timer();
  if (was_held) {
    // Recorded in the history and fenced like any manifest change, so only the holder can say it
    // released; the next owner's handover then reads "released it" rather than "lapsed".
    const system_clock::time_point now = system_clock::now();
    bool recorded = false;
    if (const std::optional<std::uint64_t> version = s->store->expected_version(s->dir)) {
      const std::string entry = history_json(now, s->worker_id, "", "released");
      const std::string key = history_key(*version + 1);
      auto steps = [&](librados::ObjectWriteOperation& op) {
        rados::lock_ops::unlock(op, layout::lease_lock, s->worker_id);
        op.setxattr(layout::lease_until_attr, bl_of(std::to_string(unix_ms(now))));
        op.setxattr(layout::released_attr, bl_of(s->worker_id));
        std::map<std::string, librados::bufferlist> history;
        history[key] = bl_of(entry);
        op.omap_set(history);
      };
      try {
        co_await s->store->update_manifest(s->dir, steps);
        recorded = true;
      } catch (const std::exception&) {
        // Lost or unreachable: fall back to a bare unlock below.
      }
    }
    if (!recorded) {
      librados::ObjectWriteOperation op;
      rados::lock_ops::unlock(op, layout::lease_lock, s->worker_id);
      op.setxattr(layout::lease_until_attr, bl_of(std::to_string(unix_ms(now))));
      // Best effort: a lease that lapsed meanwhile needs no unlock, and one we cannot reach lapses.
      [[maybe_unused]] const int ignored = co_await s->connection->operate(s->oid, op);
    }
  }
  s->store->disown(s->dir);
}

bool lease::held() const noexcept {
  std::lock_guard guard(state_->mutex);
  return !state_->ended;
}
const std::string& lease::dir() const noexcept { return state_->dir; }
const std::string& lease::worker_id() const noexcept { return state_->worker_id; }
const std::string& lease::previous_owner() const noexcept { return state_->previous_owner; }
system_clock::time_point lease::acquired_at() const noexcept { return state_->acquired_at; }
std::optional<system_clock::time_point> lease::previous_lease_until() const noexcept {
  return state_->previous_lease_until;
}
io::rados_store& lease::store() noexcept { return *state_->store; }

}  // namespace ftq::cluster
