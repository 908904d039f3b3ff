#pragma once
// Builds requests for the status handler's tests and reads their JSON answers.

#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "status/status_handler.hpp"

namespace ftq::test {

namespace http = boost::beast::http;

inline status::request make_request(http::verb method, std::string_view target, unsigned version = 11) {
  status::request req{method, target, version};
  req.set(http::field::host, "127.0.0.1");
  return req;
}

inline status::request get(std::string_view target) { return make_request(http::verb::get, target); }

inline status::request post(std::string_view target, std::string_view token) {
  status::request req = make_request(http::verb::post, target);
  if (!token.empty()) {
    req.set(http::field::authorization, "Bearer " + std::string(token));
  }
  return req;
}

inline boost::json::value json_of(const status::response& res) { return boost::json::parse(res.body()); }

inline std::string header(const status::response& res, http::field f) {
  const auto it = res.find(f);
  return it == res.end() ? std::string("<absent>") : std::string(it->value());
}

}  // namespace ftq::test
