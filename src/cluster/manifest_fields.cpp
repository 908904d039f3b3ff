#include "cluster/manifest_fields.hpp"

#include <cinttypes>
#include <cstdio>

#include <boost/json.hpp>

namespace ftq::cluster::detail {

namespace json = boost::json;
using std::chrono::system_clock;

librados::bufferlist bytes_of(std::string_view text) {
  librados::bufferlist bl;
  bl.append(text.data(), static_cast<unsigned>(text.size()));
  return bl;
}

std::string attr(const std::map<std::string, librados::bufferlist>& attrs, const char* name) {
  auto it = attrs.find(name);
  return it == attrs.end() ? std::string() : it->second.to_str();
}

std::string history_key(std::uint64_t seq) {
  char key[32];
  std::snprintf(key, sizeof key, "h/%020" PRIu64, seq);
  return key;
}

std::string history_json(system_clock::time_point at, const std::string& from, const std::string& to,
                         const std::string& why) {
  json::object o;
  o["at"] = iso_utc(at);
  o["from"] = from;
  o["to"] = to;
  o["why"] = why;
  return json::serialize(o);
}

handover parse_handover(const std::string& text) {
  handover h;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    h.why = text;
    return h;
  }
  const json::object& o = v.as_object();
  auto str = [&](const char* key) -> std::string {
    const json::value* f = o.if_contains(key);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  h.at = parse_iso_utc(str("at")).value_or(system_clock::time_point{});
  h.from = str("from");
  h.to = str("to");
  h.why = str("why");
  return h;
}

}  // namespace ftq::cluster::detail
