// Feeds arbitrary bytes to the status endpoint's request path (respond_to_bytes: the server's
// parser and limits, then the pure handler) against a fixed, realistic engine snapshot, and
// checks what comes out: exactly one complete HTTP/1.1 response with a status the endpoint may
// send, a Content-Length that matches, and a JSON body that parses (with {"error", "status"}
// for every error). A crash, a sanitizer report, a 500 (the handler threw) or a failed check
// (abort) is a finding.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "status/status_handler.hpp"
#include "unit/status/response_check.hpp"
#include "unit/status/sample_snapshot.hpp"

namespace {

[[noreturn]] void finding(const std::string& what, std::string_view in, std::string_view out) {
  std::fprintf(stderr, "status_fuzz: %s\n--- request (%zu bytes)\n%.*s\n--- response\n%.*s\n", what.c_str(), in.size(),
               static_cast<int>(in.size()), in.data(), static_cast<int>(out.size()), out.data());
  std::abort();
}

bool allowed(unsigned status) {
  switch (status) {
    case 200:
    case 202:
    case 304:
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 409:
    case 413:
    case 431:
      return true;
    default:
      return false;  // 500 included: handle() caught an exception
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ftq::engine_snapshot snap = [] {
    ftq::engine_snapshot s = ftq::test::sample_snapshot();
    s.cluster = ftq::test::sample_cluster();  // so /cluster and the cluster metrics are reached too
    return s;
  }();
  static const ftq::status::handler_config config{.token = "s3cret-token-0123456789"};
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string out = ftq::status::respond_to_bytes(in, snap, config, {});

  // A HEAD request the parser accepted gets headers only; one it rejected, a whole 400.
  const bool head = in.starts_with("HEAD ");
  ftq::test::checked_response c = ftq::test::check_response(out, head);
  if (!c.problem.empty() && head) {
    c = ftq::test::check_response(out, false);
  }
  if (!c.problem.empty()) {
    finding("malformed response: " + c.problem, in, out);
  }
  const unsigned status = c.res.result_int();
  if (!allowed(status)) {
    finding("unexpected status " + std::to_string(status), in, out);
  }
  const std::string_view type = c.res[boost::beast::http::field::content_type];
  if (type != "application/json" || c.res.body().empty()) {
    return 0;
  }
  boost::system::error_code ec;
  const boost::json::value body = boost::json::parse(c.res.body(), ec);
  if (ec) {
    finding("body is not JSON: " + ec.message(), in, out);
  }
  if (status >= 400) {
    const auto* obj = body.if_object();
    const auto* st = obj != nullptr ? obj->if_contains("status") : nullptr;
    if (obj == nullptr || !obj->contains("error") || st == nullptr || !st->is_number() ||
        st->to_number<unsigned>() != status) {
      finding("error body is not {\"error\", \"status\"}", in, out);
    }
  }
  return 0;
}
