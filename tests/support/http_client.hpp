#pragma once
// A blocking HTTP/1.1 client for tests of the status endpoint: one request per call, or raw
// bytes on a fresh connection. Every socket has a receive timeout, so a server that never
// answers fails the test instead of hanging it.

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ftq::test {

struct http_reply {
  unsigned status = 0;  // 0: no response (connection closed or timed out)
  std::string body;
  boost::beast::http::response<boost::beast::http::string_body> message;
};

class http_client {
 public:
  explicit http_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// One request on this client's keep-alive connection (reconnects when the server closed it).
  http_reply request(const std::string& method, const std::string& target, const std::string& bearer = "",
                     const std::string& body = "");
  http_reply get(const std::string& target) { return request("GET", target); }
  http_reply post(const std::string& target, const std::string& bearer = "") { return request("POST", target, bearer); }

  /// Sends `bytes` on a new connection (shutting down the sending side when `close_send`) and
  /// returns everything the server sent until it closed or `timeout` passed.
  std::string raw(const std::string& bytes, bool close_send = true);
  /// A connection that stays open, for connection-cap and slowloris tests.
  boost::asio::ip::tcp::socket open_connection();

 private:
  void connect();

  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  bool connected_ = false;
};

/// Reads from `s` until the server closes it or the socket's timeout passes; what it got.
std::string read_until_closed(boost::asio::ip::tcp::socket& s);
/// Sets a receive and send timeout on a blocking socket.
void set_socket_timeout(boost::asio::ip::tcp::socket& s, std::chrono::milliseconds t);

}  // namespace ftq::test
