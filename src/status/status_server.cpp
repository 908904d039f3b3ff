// The status endpoint's server: an accept loop and one coroutine per connection, all on the
// executor it was given. A session reads one request under the limits, takes the snapshot the
// request needs, hands both to the pure handler (status_handler.hpp), carries out the action a
// POST asked for, and writes the response. Every wait has a deadline (beast::tcp_stream), so a
// slow or silent client costs one socket for a bounded time, and nothing here ever blocks the
// thread the queries run on.

#include <ftq/status_server.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <fstream>
#include <list>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <ftq/engine.hpp>
#include <ftq/error.hpp>
#include <ftq/status.hpp>

#include "status/status_handler.hpp"

namespace ftq {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

std::string trimmed(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

}  // namespace

std::string load_status_token(const std::filesystem::path& file, const char* env_var) {
  std::string token;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      throw error(make_error_code(errc::setting_invalid), "status token file " + file.string() + ": cannot be read");
    }
    std::getline(in, token);
    token = trimmed(std::move(token));
    if (token.empty()) {
      throw error(make_error_code(errc::setting_invalid),
                  "status token file " + file.string() + ": its first line is empty");
    }
  } else if (env_var != nullptr) {
    if (const char* v = std::getenv(env_var)) {
      token = trimmed(v);
    }
  }
  if (!token.empty() && token.size() < 16) {
    throw error(make_error_code(errc::setting_invalid),
                "status token: " + std::to_string(token.size()) + " characters; at least 16 are needed");
  }
  return token;
}

struct status_server::impl : std::enable_shared_from_this<impl> {
  impl(fault_tolerant_execution_engine& e, asio::any_io_executor ex, status_server_options o)
      : engine(e), executor(std::move(ex)), options(std::move(o)), acceptor(executor) {
    config.token = options.token;
    limits.max_header_bytes = options.max_header_bytes;
    limits.max_body_bytes = options.max_body_bytes;
  }

  fault_tolerant_execution_engine& engine;
  asio::any_io_executor executor;
  status_server_options options;
  status::handler_config config;
  status::request_limits limits;
  tcp::acceptor acceptor;
  std::atomic<bool> stopped{false};

  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> timeouts{0};

  // Open connections, so stop() can close them.
  std::mutex sessions_mutex;
  std::list<std::weak_ptr<beast::tcp_stream>> sessions;

  status_server_stats stats() const {
    status_server_stats s;
    s.connections_accepted = accepted.load(std::memory_order_relaxed);
    s.connections_refused = refused.load(std::memory_order_relaxed);
    s.connections_open = open.load(std::memory_order_relaxed);
    s.requests = requests.load(std::memory_order_relaxed);
    s.bad_requests = bad_requests.load(std::memory_order_relaxed);
    s.timeouts = timeouts.load(std::memory_order_relaxed);
    return s;
  }

  void bind(const std::string& host, std::uint16_t port) {
    boost::system::error_code ec;
    tcp::endpoint endpoint;
    const asio::ip::address address = asio::ip::make_address(host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, port);
    } else {
      // A name ("localhost"): resolved once, here, before anything runs.
      tcp::resolver resolver(executor);
      const auto results = resolver.resolve(host, std::to_string(port), ec);
      if (ec || results.empty()) {
        throw error(make_error_code(errc::setting_invalid),
                    "status endpoint: cannot resolve " + host + ": " + (ec ? ec.message() : "no address"));
      }
      endpoint = results.begin()->endpoint();
    }
    const std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) {
      acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    }
    if (!ec) {
      acceptor.bind(endpoint, ec);
    }
    if (!ec) {
      acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (!ec) {
      acceptor.non_blocking(true, ec);  // accept_loop's synchronous accepts of the backlog
    }
    if (ec) {
      throw io_error(where, std::error_code(ec.value(), std::system_category()), "status endpoint: listening");
    }
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
    while (!self->stopped.load()) {
      auto [ec, socket] = co_await self->acceptor.async_accept(as_tuple_awaitable);
      if (ec) {
        if (self->stopped.load() || ec == asio::error::operation_aborted) {
          co_return;
        }
        continue;  // EMFILE, ECONNABORTED...: the next accept may succeed
      }
      self->admit(std::move(socket));
      // Take every connection already waiting, not one per turn of the executor.
      for (int i = 0; i < 64 && !self->stopped.load(); ++i) {
        boost::system::error_code aec;
        tcp::socket more = self->acceptor.accept(aec);
        if (aec) {
          break;  // would_block: the backlog is empty
        }
        self->admit(std::move(more));
      }
    }
  }

  void admit(tcp::socket socket) {
    auto self = shared_from_this();
    if (open.load() >= options.max_connections) {
      refused.fetch_add(1, std::memory_order_relaxed);
      asio::co_spawn(executor, refuse(self, std::move(socket)), asio::detached);
      return;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
    asio::co_spawn(executor, session(self, std::move(socket)), asio::detached);
  }

  // Over the connection cap: a 503 and close, within the write timeout.
  static asio::awaitable<void> refuse(std::shared_ptr<impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    status::response res = status::error_response(http::status::service_unavailable,
                                                  "too many connections to the status endpoint", 11, false);
    res.set(http::field::retry_after, "1");
    stream.expires_after(self->options.write_timeout);
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple_awaitable);
    (void)n;
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    (void)ec;
  }

  void track(const std::shared_ptr<beast::tcp_stream>& s) {
    std::lock_guard lock(sessions_mutex);
    std::erase_if(sessions, [](const std::weak_ptr<beast::tcp_stream>& w) { return w.expired(); });
    sessions.push_back(s);
  }

  static status::response answer_parse_error(const boost::system::error_code& ec) {
    if (ec == http::error::body_limit) {
      return status::error_response(http::status::payload_too_large, "request body too large", 11, false);
    }
    if (ec == http::error::header_limit) {
      return status::error_response(http::status::request_header_fields_too_large, "request headers too large", 11,
                                    false);
    }
    return status::error_response(http::status::bad_request, "malformed request: " + ec.message(), 11, false);
  }

  // Carries out what a POST asked for; a query that ended since the snapshot gets 409.
  void carry_out(const status::action& act, status::response& res, const status::request& req) {
    if (act.kind == status::action_kind::none) {
      return;
    }
    const query_ptr q = engine.find_running(act.query_id);
    bool done = false;
    if (q) {
      switch (act.kind) {
        case status::action_kind::cancel:
          q->cancel();
          done = true;
          break;
        case status::action_kind::stop:
          q->stop();
          done = true;
          break;
        case status::action_kind::checkpoint:
          done = q->request_checkpoint();
          break;
        case status::action_kind::none:
          break;
      }
    }
    if (!done) {
      res = status::error_response(http::status::conflict,
                                   "query " + std::to_string(act.query_id) + " is no longer running", req.version(),
                                   req.keep_alive());
    }
  }

  // A lingering close: closing a socket with unread input makes the kernel send a reset, which
  // can destroy the response still in flight (a 413 or 431 sent before the client finished
  // sending). Read and discard a bounded amount until the client closes or `limit` passes.
  static asio::awaitable<void> drain(beast::tcp_stream& stream, std::chrono::milliseconds limit) {
    std::array<char, 4096> scratch;
    stream.expires_after(std::min<std::chrono::milliseconds>(limit, std::chrono::milliseconds(1000)));
    for (std::size_t total = 0; total < 256 * 1024;) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), as_tuple_awaitable);
      if (ec) {
        break;
      }
      total += n;
    }
  }

  // Reads one request into `parser`: first from what `buffer` already holds (a pipelined
  // request costs no wait), then from the socket. The deadline is the idle timeout until the
  // request's first byte and the read timeout from then on (slowloris). Parsing here, rather
  // than with http::async_read, saves the trip through the executor's queue that a composed
  // operation completing at once makes: on an executor shared with busy queries each trip
  // waits for a time slice.
  asio::awaitable<boost::system::error_code> read_request(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                          http::request_parser<http::string_body>& parser,
                                                          std::chrono::milliseconds before_first_byte) {
    bool started = buffer.size() > 0;
    stream.expires_after(started ? options.read_timeout : before_first_byte);
    for (;;) {
      if (buffer.size() > 0) {
        boost::system::error_code ec;
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec && ec != http::error::need_more) {
          co_return ec;
        }
        if (parser.is_done()) {
          co_return boost::system::error_code{};
        }
        if (used == 0 && buffer.size() == buffer.max_size()) {
          co_return http::error::header_limit;  // a header the buffer cannot hold whole
        }
      }
      const std::size_t room = std::min<std::size_t>(16384, buffer.max_size() - buffer.size());
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(room), as_tuple_awaitable);
      buffer.commit(n);
      if (ec == asio::error::eof) {
        if (!parser.got_some() && buffer.size() == 0) {
          co_return http::error::end_of_stream;  // a clean close between requests
        }
        co_return http::error::partial_message;
      }
      if (ec) {
        co_return ec;
      }
      if (!started) {
        started = true;
        stream.expires_after(options.read_timeout);
      }
    }
  }

  // Writes at once when the socket takes it (the usual case: a response fits the send buffer),
  // else finishes asynchronously under the write timeout.
  static asio::awaitable<boost::system::error_code> write_response(beast::tcp_stream& stream, status::response& res,
                                                                   std::chrono::milliseconds timeout) {
    http::serializer<false, http::string_body> sr{res};
    boost::system::error_code ec;
    while (!sr.is_done() && !ec) {
      http::write_some(stream.socket(), sr, ec);
    }
    if (!ec) {
      co_return ec;
    }
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
      co_return ec;
    }
    stream.expires_after(timeout);
    auto [wec, n] = co_await http::async_write(stream, sr, as_tuple_awaitable);
    (void)n;
    co_return wec;
  }

  static asio::awaitable<void> session(std::shared_ptr<impl> self, tcp::socket socket) {
    auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
    self->track(stream);
    boost::system::error_code ignored;
    stream->socket().non_blocking(true, ignored);  // for write_response's first, synchronous try
    stream->socket().set_option(tcp::no_delay(true), ignored);
    beast::flat_buffer buffer(self->options.max_header_bytes + self->options.max_body_bytes);
    bool first = true;
    while (!self->stopped.load()) {
      http::request_parser<http::string_body> parser;
      status::apply_limits(parser, self->limits);
      // A new connection must send its request within the read timeout; an idle keep-alive
      // connection may wait longer for its next one.
      const boost::system::error_code ec = co_await self->read_request(
          *stream, buffer, parser, first ? self->options.read_timeout : self->options.idle_timeout);
      first = false;
      if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || self->stopped.load()) {
        break;
      }
      if (ec == beast::error::timeout) {
        self->timeouts.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (ec == asio::error::connection_reset) {
        break;
      }
      // Queries on this executor shorten their time slices for a while, so the next requests
      // wait a fraction of a millisecond for a turn rather than a whole slice.
      self->engine.serve_interactively(std::chrono::milliseconds(20));
      self->requests.fetch_add(1, std::memory_order_relaxed);
      status::response res;
      bool keep_alive = false;
      if (ec) {
        self->bad_requests.fetch_add(1, std::memory_order_relaxed);
        res = answer_parse_error(ec);
      } else {
        const status::request& req = parser.get();
        const engine_snapshot snap = self->engine.snapshot(status::parts_for(req));
        status::reply r = status::handle(req, snap, self->config, self->stats());
        self->carry_out(r.act, r.res, req);
        res = std::move(r.res);
        keep_alive = res.keep_alive();
        if (res.result_int() >= 400) {
          self->bad_requests.fetch_add(1, std::memory_order_relaxed);
        }
      }
      const boost::system::error_code wec = co_await write_response(*stream, res, self->options.write_timeout);
      if (wec) {
        self->timeouts.fetch_add(wec == beast::error::timeout ? 1 : 0, std::memory_order_relaxed);
        break;
      }
      if (!keep_alive) {
        break;
      }
    }
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!self->stopped.load()) {
      co_await drain(*stream, self->options.read_timeout);
    }
    stream->close();
    self->open.fetch_sub(1, std::memory_order_relaxed);
  }
};

status_server::status_server(fault_tolerant_execution_engine& engine, asio::any_io_executor executor,
                             status_server_options options)
    : impl_(std::make_shared<impl>(engine, std::move(executor), std::move(options))) {
  impl_->bind(impl_->options.host, impl_->options.port);
}

// One strand for every session: on a thread pool, stop() and the sessions never race.
status_server::status_server(fault_tolerant_execution_engine& engine, status_server_options options)
    : status_server(engine, asio::make_strand(engine.executor()), std::move(options)) {}

status_server::~status_server() { stop(); }

void status_server::start() { asio::co_spawn(impl_->executor, impl::accept_loop(impl_), asio::detached); }

void status_server::stop() {
  if (impl_->stopped.exchange(true)) {
    return;
  }
  // On the executor: the acceptor and the streams are not thread-safe.
  asio::post(impl_->executor, [self = impl_] {
    boost::system::error_code ignored;
    self->acceptor.close(ignored);
    std::lock_guard lock(self->sessions_mutex);
    for (const auto& w : self->sessions) {
      if (const auto s = w.lock()) {
        s->cancel();
        s->socket().close(ignored);
      }
    }
    self->sessions.clear();
  });
}

tcp::endpoint status_server::local_endpoint() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec);
}

std::string status_server::url() const {
  const tcp::endpoint ep = local_endpoint();
  const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  return "http://" + host + ":" + std::to_string(ep.port()) + "/";
}

status_server_stats status_server::stats() const { return impl_->stats(); }

}  // namespace ftq
