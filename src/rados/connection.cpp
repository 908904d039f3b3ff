#include "rados/connection.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

namespace ftq::rados {

namespace asio = boost::asio;

namespace {

bool valid_component(std::string_view c) {
  return !c.empty() && c != "." && c != ".." && std::all_of(c.begin(), c.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
           ch == '-';
  });
}

[[noreturn]] void throw_unavailable(const std::string& step, const std::string& conf, int r) {
  throw error(errc::store_unavailable,
              "rados: " + step + " (conf " + (conf.empty() ? "default" : conf) + "): " + std::strerror(-r));
}

// The blocking calls librados offers no asynchronous form of (listing a pool) run here.
asio::thread_pool& blocking_pool() {
  static asio::thread_pool pool(1);
  return pool;
}

// Ceph's encoding: little-endian integers, strings as u32 length + bytes, and a struct as
// ENCODE_START(v, compat): u8 v, u8 compat, u32 length of what follows.
class encoder {
 public:
  void u8(std::uint8_t v) { out_.append(reinterpret_cast<const char*>(&v), 1); }
  void u32(std::uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) {
      b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    out_.append(b, 4);
  }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
  }
  /// Wraps what the encoder holds as a version-1 struct.
  librados::bufferlist finish() const {
    encoder e;
    e.u8(1);
    e.u8(1);
    e.u32(static_cast<std::uint32_t>(out_.size()));
    librados::bufferlist bl;
    bl.append(e.out_);
    bl.append(out_);
    return bl;
  }

 private:
  std::string out_;
};

// Holds a coroutine's completion handler while librados works; librados' finisher thread calls
// on_complete, which posts the result to the handler's executor.
template <class Handler>
struct pending_op {
  Handler handler;
  asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work;
  librados::AioCompletion* completion = nullptr;

  static void on_complete(librados::completion_t, void* arg) {
    auto* self = static_cast<pending_op*>(arg);
    const int r = self->completion->get_return_value();
    auto ex = self->work.get_executor();
    asio::post(ex, [self, r]() mutable {
      std::unique_ptr<pending_op> owned(self);
      owned->completion->release();
      Handler h = std::move(owned->handler);
      owned.reset();
      std::move(h)(r);
    });
  }
};

// Starts `submit(completion)` and suspends until librados completes it; returns its result.
template <class Submit>
asio::awaitable<int> await_completion(Submit submit) {
  auto ex = co_await asio::this_coro::executor;
  // The initiation is a named local, not a temporary inside the co_await expression: GCC 12
  // destroys such temporaries twice when the coroutine resumes on a strand.
  auto initiation = [&submit, ex](auto handler) {
    using handler_t = decltype(handler);
    auto handler_ex = asio::get_associated_executor(handler, ex);
    auto* op = new pending_op<handler_t>{std::move(handler), asio::make_work_guard(handler_ex), nullptr};
    op->completion = librados::Rados::aio_create_completion(op, &pending_op<handler_t>::on_complete);
    const int r = submit(op->completion);
    if (r < 0) {
      // Never queued: no callback will come.
      std::unique_ptr<pending_op<handler_t>> owned(op);
      owned->completion->release();
      auto h = std::move(owned->handler);
      auto post_ex = owned->work.get_executor();
      owned.reset();
      asio::post(post_ex, [h = std::move(h), r]() mutable { std::move(h)(r); });
    }
  };
  auto wait =
      asio::async_initiate<decltype(asio::use_awaitable), void(int)>(std::move(initiation), asio::use_awaitable);
  co_return co_await std::move(wait);
}

}  // namespace

std::string store_uri::text() const { return "rados://" + pool + (prefix.empty() ? "" : "/" + prefix); }

bool is_rados_uri(std::string_view text) noexcept { return text.starts_with("rados://"); }

store_uri parse_store_uri(std::string_view text) {
  const std::string what(text);
  if (!is_rados_uri(text)) {
    throw error(errc::setting_invalid, "checkpoint store '" + what + "': expected rados://POOL[/PREFIX]");
  }
  std::string_view rest = text.substr(8);
  store_uri uri;
  const std::size_t slash = rest.find('/');
  uri.pool = std::string(rest.substr(0, slash));
  if (!valid_component(uri.pool)) {
    throw error(errc::setting_invalid,
                "checkpoint store '" + what + "': the pool name must be 1 or more of A-Z a-z 0-9 . _ -");
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (prefix.ends_with('/')) {
      prefix.remove_suffix(1);
    }
    std::size_t at = 0;
    while (at <= prefix.size() && !prefix.empty()) {
      const std::size_t next = std::min(prefix.find('/', at), prefix.size());
      if (!valid_component(prefix.substr(at, next - at))) {
        throw error(errc::setting_invalid, "checkpoint store '" + what +
                                               "': each prefix component must be 1 or more of A-Z a-z 0-9 . _ - "
                                               "(and not . or ..)");
      }
      at = next + 1;
    }
    uri.prefix = std::string(prefix);
  }
  return uri;
}

std::shared_ptr<connection> connection::connect(const connect_options& options) {
  std::shared_ptr<connection> c(new connection());
  c->pool_ = options.pool;
  std::string conf = options.conf_path;
  if (conf.empty()) {
    if (const char* env = std::getenv("CEPH_CONF"); env != nullptr) {
      conf = env;
    }
  }
  int r = c->cluster_.init2(options.client_name.c_str(), "ceph", 0);
  if (r < 0) {
    throw_unavailable("init", conf, r);
  }
  r = c->cluster_.conf_read_file(conf.empty() ? nullptr : conf.c_str());
  if (r < 0) {
    throw_unavailable("read " + (conf.empty() ? std::string("the default ceph.conf") : conf), conf, r);
  }
  const std::string mon_timeout = std::to_string(std::max<long>(1, options.connect_timeout.count() / 1000));
  const std::string osd_timeout = std::to_string(std::max<long>(1, options.op_timeout.count() / 1000));
  c->cluster_.conf_set("rados_mon_op_timeout", mon_timeout.c_str());
  c->cluster_.conf_set("client_mount_timeout", mon_timeout.c_str());
  c->cluster_.conf_set("rados_osd_op_timeout", osd_timeout.c_str());
  r = c->cluster_.connect();
  if (r < 0) {
    throw_unavailable("connect to cluster", conf, r);
  }
  r = c->cluster_.ioctx_create(options.pool.c_str(), c->ioctx_);
  if (r < 0) {
    throw_unavailable("open pool '" + options.pool + "'", conf, r);
  }
  return c;
}

connection::~connection() {
  ioctx_.close();
  cluster_.shutdown();
}

std::uint64_t connection::instance_id() { return cluster_.get_instance_id(); }

asio::awaitable<int> connection::operate(std::string oid, librados::ObjectWriteOperation& op) {
  co_return co_await await_completion([&](librados::AioCompletion* c) { return ioctx_.aio_operate(oid, c, &op); });
}

asio::awaitable<int> connection::operate(std::string oid, librados::ObjectReadOperation& op,
                                         librados::bufferlist* out) {
  co_return co_await await_completion([&](librados::AioCompletion* c) { return ioctx_.aio_operate(oid, c, &op, out); });
}

asio::awaitable<std::vector<std::string>> connection::list_objects(std::string prefix) {
  std::vector<std::string> names;
  int failure = 0;
  co_await asio::co_spawn(
      blocking_pool(),
      [&]() -> asio::awaitable<void> {
        try {
          for (auto it = ioctx_.nobjects_begin(); it != ioctx_.nobjects_end(); ++it) {
            if (it->get_oid().starts_with(prefix)) {
              names.push_back(it->get_oid());
            }
          }
        } catch (const std::exception&) {
          failure = -EIO;  // librados throws from the iterator when listing fails
        }
        co_return;
      },
      asio::use_awaitable);
  if (failure < 0) {
    throw_rados_error(prefix + "*", "list objects", failure);
  }
  std::sort(names.begin(), names.end());
  co_return names;
}

namespace lock_ops {

void lock(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie,
          const std::string& description, std::chrono::milliseconds duration, std::uint8_t flags) {
  encoder e;
  e.str(name);
  e.u8(exclusive);
  e.str(cookie);
  e.str("");  // tag
  e.str(description);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(duration);
  e.u32(static_cast<std::uint32_t>(secs.count()));  // utime_t: seconds, nanoseconds
  e.u32(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(duration - secs).count()));
  e.u8(flags);
  librados::bufferlist in = e.finish();
  op.exec("lock", "lock", in);
}

void assert_locked(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie) {
  encoder e;
  e.str(name);
  e.u8(exclusive);
  e.str(cookie);
  e.str("");  // tag
  librados::bufferlist in = e.finish();
  op.exec("lock", "assert_locked", in);
}

void unlock(librados::ObjectWriteOperation& op, const std::string& name, const std::string& cookie) {
  encoder e;
  e.str(name);
  e.str(cookie);
  librados::bufferlist in = e.finish();
  op.exec("lock", "unlock", in);
}

}  // namespace lock_ops

void throw_rados_error(const std::string& oid, const std::string& what, int r) {
  throw io_error(oid, std::error_code(-r, std::system_category()), "rados: " + what);
}

}  // namespace ftq::rados
