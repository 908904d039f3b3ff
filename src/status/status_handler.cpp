#include "status/status_handler.hpp"

#include <algorithm>
#include <limits>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/write.hpp>

#include <ftq/engine.hpp>

#include "core/duration_text.hpp"
#include "status/dashboard_page.hpp"
#include "status/prometheus_text.hpp"
#include "status/request_target.hpp"
#include "status/status_json.hpp"

namespace ftq::status {

namespace {

using time_point = std::chrono::system_clock::time_point;

constexpr std::string_view json_type = "application/json";
constexpr std::string_view html_type = "text/html; charset=utf-8";
constexpr std::string_view server_name = "ftq/" FTQ_VERSION;
constexpr std::string_view get_methods = "GET, HEAD";
// The latest `since` the clock can hold: its nanoseconds end in 2262 (a fuzzer found the overflow).
constexpr std::uint64_t max_unix_ms = static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(time_point::max().time_since_epoch()).count());

enum class route_kind : std::uint8_t {
  dashboard,
  healthz,
  status,
  query,
  failures,
  checkpoints,
  metrics,
  cluster,
  cancel,
  checkpoint,
  unknown,
};

struct route {
  route_kind kind = route_kind::unknown;
  std::string_view id;  // {id} of /queries/{id}[/action], unchecked
};

// Paths match exactly as sent, undecoded: "/status/" (a trailing slash), "//status" and
// "/st%61tus" are 404, so every resource has one URL and caches and scrapers never see two.
route match(std::string_view path) {
  if (path == "/" || path == "/index.html") {
    return {route_kind::dashboard, {}};
  }
  if (path == "/healthz") {
    return {route_kind::healthz, {}};
  }
  if (path == "/status") {
    return {route_kind::status, {}};
  }
  if (path == "/failures") {
    return {route_kind::failures, {}};
  }
  if (path == "/checkpoints") {
    return {route_kind::checkpoints, {}};
  }
  if (path == "/metrics") {
    return {route_kind::metrics, {}};
  }
  if (path == "/cluster") {
    return {route_kind::cluster, {}};
  }
  constexpr std::string_view queries = "/queries/";
  if (!path.starts_with(queries)) {
    return {};
  }
  const std::string_view rest = path.substr(queries.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) {
    return {route_kind::query, rest};
  }
  const std::string_view action = rest.substr(slash + 1);
  if (action == "cancel") {
    return {route_kind::cancel, rest.substr(0, slash)};
  }
  if (action == "checkpoint") {
    return {route_kind::checkpoint, rest.substr(0, slash)};
  }
  return {};
}

bool is_post(route_kind k) { return k == route_kind::cancel || k == route_kind::checkpoint; }

std::string_view path_of(const request& req) {
  const std::string_view target(req.target().data(), req.target().size());
  return target.substr(0, target.find('?'));
}

// Quotes what a client sent in a message without letting a huge value swell the response.
std::string excerpt(std::string_view s) {
  constexpr std::size_t max = 64;
  std::string out = "'";
  out.append(s.substr(0, max));
  out.append(s.size() > max ? "...'" : "'");
  return out;
}

response make(http::status code, std::string body, std::string_view content_type,
              std::string_view cache_control = "no-store") {
  response res{code, 11};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, cache_control);
  res.body() = std::move(body);
  return res;
}

response fail(http::status code, std::string_view message) {
  return make(code, error_json(static_cast<unsigned>(code), message), json_type);
}

response method_not_allowed(std::string_view allow) {
  response res = fail(http::status::method_not_allowed, "method not allowed; use " + std::string(allow));
  res.set(http::field::allow, allow);
  return res;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
         });
}

// The token of "Authorization: Bearer <token>" (scheme case-insensitive, RFC 9110), or empty.
std::string_view bearer_token(std::string_view authorization) {
  const std::size_t space = authorization.find_first_of(" \t");
  if (space == std::string_view::npos || !iequals(authorization.substr(0, space), "Bearer")) {
    return {};
  }
  std::string_view token = authorization.substr(space);
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
    token.remove_prefix(1);
  }
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  return token;
}

std::optional<std::uint64_t> parse_query_id(std::string_view text) { return parse_count(text); }

response bad_query_id(std::string_view id) {
  return fail(http::status::bad_request, "query id must be a decimal number, got " + excerpt(id));
}

const query_status* find_query(const engine_snapshot& snap, std::uint64_t id) {
  for (const query_status& q : snap.queries) {
    if (q.id == id) {
      return &q;
    }
  }
  return nullptr;
}

// A query parameter as the user means it: the numeric id, the plan name or the checkpoint id.
bool names_query(const query_status& q, std::string_view who) {
  if (q.name == who || (!q.checkpoint_id.empty() && q.checkpoint_id == who)) {
    return true;
  }
  const auto id = parse_count(who);
  return id && *id == q.id;
}

// A parameter that is absent or empty ("?query=&limit=", as a form sends blank fields) does not filter.
const std::string* param(const request_target& t, std::string_view name) {
  const std::string* v = t.find(name);
  return v == nullptr || v->empty() ? nullptr : v;
}

response failures(const request_target& t, const engine_snapshot& snap) {
  // Records name a query by the id failures are filed under (its checkpoint id, else its plan
  // name); `query` may be any of a query's names, so collect the filing ids it stands for.
  std::vector<std::string_view> filed_as;
  const std::string* query = param(t, "query");
  if (query != nullptr) {
    filed_as.push_back(*query);
    for (const query_status& q : snap.queries) {
      if (names_query(q, *query)) {
        filed_as.push_back(q.checkpoint_id.empty() ? std::string_view(q.name) : std::string_view(q.checkpoint_id));
      }
    }
  }
  std::optional<std::uint32_t> operator_id;
  if (const std::string* v = param(t, "operator")) {
    const auto n = parse_count(*v);
    if (!n || *n > std::numeric_limits<std::uint32_t>::max()) {
      return fail(http::status::bad_request,
                  "operator must be an operator id (a number below 2^32), got " + excerpt(*v));
    }
    operator_id = static_cast<std::uint32_t>(*n);
  }
  std::optional<time_point> since;
  if (const std::string* v = param(t, "since")) {
    if (const auto ms = parse_count(*v)) {
      if (*ms > max_unix_ms) {
        return fail(http::status::bad_request, "since is past the year 2262 in unix ms: " + excerpt(*v));
      }
      since = time_point(std::chrono::milliseconds(*ms));
    } else if (const auto ago = parse_duration(*v)) {
      const auto now = snap.engine.now.time_since_epoch();
      since = *ago >= now ? time_point{} : snap.engine.now - *ago;
    } else {
      return fail(http::status::bad_request,
                  "since must be unix ms or a duration such as 30s, 5m or 2h, got " + excerpt(*v));
    }
  }
  std::optional<std::uint64_t> limit;
  if (const std::string* v = param(t, "limit")) {
    limit = parse_count(*v);
    if (!limit) {
      return fail(http::status::bad_request, "limit must be a whole number, got " + excerpt(*v));
    }
  }
  std::vector<const failure_record*> matches;
  for (const failure_record& r : snap.failures) {
    if ((query == nullptr || std::find(filed_as.begin(), filed_as.end(), r.query) != filed_as.end()) &&
        (!operator_id || r.operator_id == *operator_id) && (!since || r.time >= *since)) {
      matches.push_back(&r);
    }
  }
  const std::size_t total = matches.size();
  // limit=0 lists none (total still counts them); the newest `limit` are the last ones.
  const std::size_t shown = limit ? static_cast<std::size_t>(std::min<std::uint64_t>(*limit, total)) : total;
  const std::span<const failure_record* const> newest(matches.data() + (total - shown), shown);
  return make(http::status::ok, failures_json(newest, total), json_type);
}

// Queries that take checkpoints, narrowed to one by `query`.
response checkpoints(const request_target& t, const engine_snapshot& snap) {
  const std::string* query = param(t, "query");
  std::vector<const query_status*> listed;
  for (const query_status& q : snap.queries) {
    if (!q.checkpoint_id.empty() && (query == nullptr || names_query(q, *query))) {
      listed.push_back(&q);
    }
  }
  return make(http::status::ok, checkpoints_json(listed, snap.engine.now), json_type);
}

response dashboard_response(const request& req) {
  const dashboard_page& page = dashboard();
  const auto if_none_match = req.find(http::field::if_none_match);
  // The page changes only with the binary: revalidate every time (no-cache), usually for a 304.
  if (if_none_match != req.end() &&
      etag_matches(std::string_view(if_none_match->value().data(), if_none_match->value().size()), page.etag)) {
    response res{http::status::not_modified, 11};
    res.set(http::field::server, server_name);
    res.set(http::field::etag, page.etag);
    res.set(http::field::cache_control, "no-cache");
    return res;
  }
  response res = make(http::status::ok, std::string(page.html), html_type, "no-cache");
  res.set(http::field::etag, page.etag);
  return res;
}

reply act(const request& req, const request_target& t, route r, const engine_snapshot& snap,
          const handler_config& config) {
  if (config.token.empty()) {
    return {fail(http::status::forbidden, "POST endpoints are off: the server has no token configured"), {}};
  }
  const auto authorization = req.find(http::field::authorization);
  const std::string_view presented =
      authorization == req.end()
          ? std::string_view{}
          : bearer_token(std::string_view(authorization->value().data(), authorization->value().size()));
  if (presented.empty() || !token_matches(presented, config.token)) {
    response res = fail(http::status::unauthorized,
                        authorization == req.end() ? "this needs Authorization: Bearer <token>" : "wrong token");
    res.set(http::field::www_authenticate, "Bearer realm=\"ftq\"");
    return {std::move(res), {}};
  }
  const auto id = parse_query_id(r.id);
  if (!id) {
    return {bad_query_id(r.id), {}};
  }
  action_kind kind = action_kind::checkpoint;
  if (r.kind == route_kind::cancel) {
    kind = action_kind::cancel;
    if (const std::string* v = param(t, "checkpoint")) {
      if (*v == "true" || *v == "1") {
        kind = action_kind::stop;
      } else if (*v != "false" && *v != "0") {
        return {fail(http::status::bad_request, "checkpoint must be true or false, got " + excerpt(*v)), {}};
      }
    }
  }
  const query_status* q = find_query(snap, *id);
  if (q == nullptr) {
    return {fail(http::status::not_found, "no query with id " + std::to_string(*id)), {}};
  }
  if (q->state != query_state::running) {
    return {fail(http::status::conflict, "query " + std::to_string(*id) + " is not running (it is " +
                                             std::string(query_state_name(q->state)) + ")"),
            {}};
  }
  if (kind == action_kind::checkpoint && q->checkpoint_id.empty()) {
    return {fail(http::status::conflict, "query " + std::to_string(*id) + " takes no checkpoints"), {}};
  }
  const std::string_view name = kind == action_kind::cancel ? "cancel"
                                : kind == action_kind::stop ? "stop"
                                                            : "checkpoint";
  return {make(http::status::accepted, action_json(*id, name), json_type), {kind, *id}};
}

reply dispatch(const request& req, const engine_snapshot& snap, const handler_config& config,
               const status_server_stats& server) {
  const std::string_view target(req.target().data(), req.target().size());
  const request_target t = parse_target(target);
  const route r = match(t.path);
  if (r.kind == route_kind::unknown) {
    return {fail(http::status::not_found, "no such path: " + excerpt(t.path)), {}};
  }
  const http::verb method = req.method();
  if (is_post(r.kind)) {
    if (method != http::verb::post) {
      return {method_not_allowed("POST"), {}};
    }
  } else if (method != http::verb::get && method != http::verb::head) {
    return {method_not_allowed(get_methods), {}};
  }
  if (!t.error.empty()) {
    return {fail(http::status::bad_request, t.error), {}};
  }
  switch (r.kind) {
    case route_kind::dashboard:
      return {dashboard_response(req), {}};
    case route_kind::healthz:
      return {make(http::status::ok, healthz_json(snap.engine), json_type), {}};
    case route_kind::status:
      return {make(http::status::ok, status_json(snap), json_type), {}};
    case route_kind::query: {
      const auto id = parse_query_id(r.id);
      if (!id) {
        return {bad_query_id(r.id), {}};
      }
      const query_status* q = find_query(snap, *id);
      if (q == nullptr) {
        return {fail(http::status::not_found, "no query with id " + std::to_string(*id)), {}};
      }
      return {make(http::status::ok, query_json(*q, snap.engine.now), json_type), {}};
    }
    case route_kind::failures:
      return {failures(t, snap), {}};
    case route_kind::checkpoints:
      return {checkpoints(t, snap), {}};
    case route_kind::metrics:
      return {make(http::status::ok, prometheus_text(snap, server), prometheus_content_type), {}};
    case route_kind::cluster:
      if (!snap.cluster) {
        return {fail(http::status::not_found,
                     "no cluster view: this engine is not a worker sharing a checkpoint store (ftq worker)"),
                {}};
      }
      return {make(http::status::ok, cluster_json(*snap.cluster), json_type), {}};
    case route_kind::cancel:
    case route_kind::checkpoint:
      return act(req, t, r, snap, config);
    case route_kind::unknown:
      break;
  }
  return {fail(http::status::not_found, "no such path"), {}};
}

// Every response is HTTP/1.1 (RFC 9110 6.2: a server sends its own version); an HTTP/1.0
// client that asked to keep the connection is told so explicitly, as 1.0 requires.
void finish(response& res, const request& req) {
  res.version(11);
  res.keep_alive(req.keep_alive());
  if (req.keep_alive() && req.version() < 11) {
    res.set(http::field::connection, "keep-alive");
  }
  if (res.result() != http::status::not_modified) {
    // (A 304 carries no Content-Length: it would have to be the 200's, RFC 9110 8.6.)
    res.prepare_payload();
  }
  if (req.method() == http::verb::head) {
    // Content-Length stays the GET body's (RFC 9110 9.3.2); the body itself is not sent.
    res.body().clear();
  }
}

// The last resort when rendering threw: the fewest allocations that still make a valid reply.
reply internal_error(const request& req) noexcept {
  reply r;
  try {
    r.res = fail(http::status::internal_server_error, "internal error while answering the request");
    finish(r.res, req);
  } catch (...) {
    r.res = response{};
    r.res.result(http::status::internal_server_error);
  }
  return r;
}

}  // namespace

snapshot_parts parts_for(const request& req) {
  const route r = match(path_of(req));
  switch (r.kind) {
    case route_kind::status:
      return snapshot_parts::queries | snapshot_parts::operators | snapshot_parts::checkpoints |
             snapshot_parts::cluster;
    case route_kind::query:
      return snapshot_parts::queries | snapshot_parts::operators | snapshot_parts::checkpoints;
    case route_kind::failures:
      return snapshot_parts::queries | snapshot_parts::failures;
    case route_kind::checkpoints:
      return snapshot_parts::queries | snapshot_parts::checkpoints;
    case route_kind::metrics:
      return snapshot_parts::queries | snapshot_parts::metrics | snapshot_parts::cluster;
    case route_kind::cluster:
      return snapshot_parts::cluster;
    case route_kind::cancel:
    case route_kind::checkpoint:
      return req.method() == http::verb::post ? snapshot_parts::queries : snapshot_parts::engine;
    case route_kind::dashboard:
    case route_kind::healthz:
    case route_kind::unknown:
      break;
  }
  return snapshot_parts::engine;
}

reply handle(const request& req, const engine_snapshot& snap, const handler_config& config,
             const status_server_stats& server) {
  try {
    reply r = dispatch(req, snap, config, server);
    finish(r.res, req);
    return r;
  } catch (...) {
    return internal_error(req);
  }
}

response error_response(http::status code, std::string_view message, unsigned http_version, bool keep_alive) {
  response res = fail(code, message);
  res.version(http_version);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

void apply_limits(http::request_parser<http::string_body>& parser, const request_limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  parser.body_limit(static_cast<std::uint64_t>(limits.max_body_bytes));
}

std::string respond_to_bytes(std::string_view raw, const engine_snapshot& snap, const handler_config& config,
                             const request_limits& limits) {
  try {
    http::request_parser<http::string_body> parser;
    apply_limits(parser, limits);
    parser.eager(true);
    boost::system::error_code ec;
    std::size_t used = 0;
    while (!parser.is_done()) {
      const std::size_t n = parser.put(boost::asio::const_buffer(raw.data() + used, raw.size() - used), ec);
      used += n;
      if (ec == http::error::need_more && n > 0 && used < raw.size()) {
        ec = {};
        continue;
      }
      if (ec == http::error::need_more || (!ec && n == 0)) {
        // The parser has seen every byte and wants more: the request ends here.
        ec = {};
        if (parser.got_some()) {
          parser.put_eof(ec);
        }
        if (!ec && !parser.is_done()) {
          ec = http::error::partial_message;
        }
      }
      if (ec) {
        break;
      }
    }
    response res;
    if (!ec) {
      res = handle(parser.get(), snap, config).res;
    } else if (ec == http::error::header_limit) {
      res = error_response(http::status::request_header_fields_too_large,
                           "request line and headers over " + std::to_string(limits.max_header_bytes) + " bytes", 11,
                           false);
    } else if (ec == http::error::body_limit) {
      res = error_response(http::status::payload_too_large,
                           "request body over " + std::to_string(limits.max_body_bytes) + " bytes", 11, false);
    } else {
      res = error_response(http::status::bad_request, "malformed request: " + ec.message(), 11, false);
    }
    std::ostringstream out;
    out << res;
    return std::move(out).str();
  } catch (...) {
    return "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  }
}

bool token_matches(std::string_view presented, std::string_view configured) noexcept {
  if (configured.empty()) {
    return false;
  }
  // Comparing digests takes the same time whatever the lengths and contents: nothing about
  // the token leaks through how long a wrong guess took to reject.
  unsigned char a[EVP_MAX_MD_SIZE];
  unsigned char b[EVP_MAX_MD_SIZE];
  unsigned int a_len = 0;
  unsigned int b_len = 0;
  if (EVP_Digest(presented.data(), presented.size(), a, &a_len, EVP_sha256(), nullptr) != 1 ||
      EVP_Digest(configured.data(), configured.size(), b, &b_len, EVP_sha256(), nullptr) != 1 || a_len != b_len) {
    return false;
  }
  return CRYPTO_memcmp(a, b, a_len) == 0;
}

}  // namespace ftq::status
