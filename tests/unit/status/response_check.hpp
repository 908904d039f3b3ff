#pragma once
// Parses what respond_to_bytes() produced and says whether it is one complete, well-formed
// HTTP/1.1 response: status line, headers, a body delimited by Content-Length (none for a 304,
// an empty one for a HEAD request) and nothing after it. Shared by the tests and the fuzzer.

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace ftq::test {

struct checked_response {
  std::string problem;  // empty: well formed
  boost::beast::http::response<boost::beast::http::string_body> res;
};

inline checked_response check_response(std::string_view bytes, bool head_request) {
  namespace http = boost::beast::http;
  checked_response out;
  if (!bytes.starts_with("HTTP/1.1 ")) {
    out.problem = "does not start with HTTP/1.1";
    return out;
  }
  http::response_parser<http::string_body> parser;
  parser.header_limit(1 << 20);
  parser.body_limit(64 << 20);
  parser.eager(true);
  parser.skip(head_request);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!parser.is_done() && used < bytes.size()) {
    const std::size_t n = parser.put(boost::asio::const_buffer(bytes.data() + used, bytes.size() - used), ec);
    used += n;
    if (ec == http::error::need_more && n > 0) {
      ec = {};
      continue;
    }
    if (ec || n == 0) {
      break;
    }
  }
  if (ec && ec != http::error::need_more) {
    out.problem = "unparsable: " + ec.message();
    return out;
  }
  if (!parser.is_done()) {
    out.problem = "incomplete response";
    return out;
  }
  if (used != bytes.size()) {
    out.problem = "bytes after the response";
    return out;
  }
  out.res = parser.release();
  const unsigned status = out.res.result_int();
  if (status != 304 && out.res.find(http::field::content_length) == out.res.end()) {
    out.problem = "no Content-Length";
  } else if (status != 304 && !head_request &&
             out.res[http::field::content_length] != std::to_string(out.res.body().size())) {
    out.problem = "Content-Length differs from the body";
  }
  return out;
}

}  // namespace ftq::test
