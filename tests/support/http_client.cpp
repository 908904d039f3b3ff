#include "support/http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace ftq::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

void set_socket_timeout(tcp::socket& s, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string read_until_closed(tcp::socket& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) {
      return out;
    }
  }
}

http_client::http_client(std::uint16_t port, std::chrono::milliseconds timeout)
    : port_(port), timeout_(timeout), socket_(io_) {}

void http_client::connect() {
  boost::system::error_code ignored;
  socket_.close(ignored);
  socket_ = tcp::socket(io_);
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  set_socket_timeout(socket_, timeout_);
  connected_ = true;
}

http_reply http_client::request(const std::string& method, const std::string& target, const std::string& bearer,
                                const std::string& body) {
  http_reply reply;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connected_) {
      connect();
    }
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    if (!bearer.empty()) {
      req.set(http::field::authorization, "Bearer " + bearer);
    }
    req.body() = body;
    req.prepare_payload();
    boost::system::error_code ec;
    http::write(socket_, req, ec);
    if (!ec) {
      boost::beast::flat_buffer buffer;
      http::read(socket_, buffer, reply.message, ec);
    }
    if (ec) {
      // A keep-alive connection the server closed meanwhile: once more on a new one.
      connected_ = false;
      reply = http_reply{};
      continue;
    }
    reply.status = reply.message.result_int();
    reply.body = reply.message.body();
    if (!reply.message.keep_alive()) {
      connected_ = false;
    }
    return reply;
  }
  return reply;
}

tcp::socket http_client::open_connection() {
  tcp::socket s(io_);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  set_socket_timeout(s, timeout_);
  return s;
}

std::string http_client::raw(const std::string& bytes, bool close_send) {
  tcp::socket s = open_connection();
  boost::system::error_code ec;
  asio::write(s, asio::buffer(bytes), ec);
  if (close_send) {
    s.shutdown(tcp::socket::shutdown_send, ec);
  }
  return read_until_closed(s);
}

}  // namespace ftq::test
