#include "status/request_target.hpp"

#include <openssl/crypto.h>

namespace ftq::status {

namespace {

// OpenSSL's: -1 for anything but [0-9a-fA-F].
int hex_value(char c) noexcept { return OPENSSL_hexchar2int(static_cast<unsigned char>(c)); }

}  // namespace

const std::string* request_target::find(std::string_view name) const noexcept {
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    if (it->first == name) {
      return &it->second;
    }
  }
  return nullptr;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (text.size() - i < 3) {
        return std::nullopt;
      }
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

request_target parse_target(std::string_view target) {
  request_target t;
  const std::size_t question = target.find('?');
  t.path = target.substr(0, question);
  if (question == std::string_view::npos) {
    return t;
  }
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) {
      continue;  // "a=1&&b=2", a trailing '&'
    }
    const std::size_t eq = item.find('=');
    auto name = percent_decode(item.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
    if (!name || !value) {
      t.error = "malformed percent-encoding in the query string";
      t.params.clear();
      return t;
    }
    t.params.emplace_back(std::move(*name), std::move(*value));
  }
  return t;
}

}  // namespace ftq::status
