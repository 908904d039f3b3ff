#pragma once
/// The status endpoint's request handling as a pure function: a parsed request and a snapshot
/// of the engine in, a response (and the action a POST asks for) out. No socket, no clock, no
/// engine: the server session (status_server.cpp) reads a request, takes the snapshot the
/// request needs, calls handle(), carries out the action, writes the response. Tests and the
/// fuzzer call it directly.

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <ftq/status.hpp>
#include <ftq/status_server.hpp>

namespace ftq::status {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct handler_config {
  std::string token;  // empty: the POST endpoints are off (403)
};

/// What a POST asks the server to do once the response is decided.
enum class action_kind : std::uint8_t { none, cancel, stop, checkpoint };
struct action {
  action_kind kind = action_kind::none;
  std::uint64_t query_id = 0;
};

struct reply {
  response res;
  action act;
};

/// The parts of the engine snapshot handle() needs for `req` (cheap: looks at method and path).
snapshot_parts parts_for(const request& req);

/// Routes and answers `req` from `snap`. Never throws for any request; sets keep-alive and
/// Content-Length from the request's.
reply handle(const request& req, const engine_snapshot& snap, const handler_config& config,
             const status_server_stats& server = {});

/// An error response with the JSON body {"error": message, "status": code}.
response error_response(http::status code, std::string_view message, unsigned http_version, bool keep_alive);

/// Limits a request must keep to (status_server_options' header and body limits).
struct request_limits {
  std::size_t max_header_bytes = 8192;
  std::size_t max_body_bytes = 4096;
};

/// Bytes in, serialized response out: parses `raw` as one request with the server's parser and
/// limits (an incomplete or malformed request gets 400, a body over the limit 413, headers
/// over it 431) and answers it with handle(). For the fuzzer and raw-byte tests: the same path
/// the server takes, without a socket.
std::string respond_to_bytes(std::string_view raw, const engine_snapshot& snap, const handler_config& config,
                             const request_limits& limits = {});

/// The same parser setup the server uses (limits, no body for GET).
void apply_limits(http::request_parser<http::string_body>& parser, const request_limits& limits);

/// Token check in constant time (for the token's length too): SHA-256 of both, CRYPTO_memcmp.
bool token_matches(std::string_view presented, std::string_view configured) noexcept;

}  // namespace ftq::status
