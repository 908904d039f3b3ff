#include "status/dashboard_page.hpp"

#include <openssl/evp.h>

#include "status/embedded_file.hpp"

namespace ftq::status {

namespace {

dashboard_page load() {
  dashboard_page page;
  for (const embedded_file& f : dashboard_files()) {
    if (f.name == "index") {
      page.html = f.content;
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  page.etag = "\"";
  if (EVP_Digest(page.html.data(), page.html.size(), digest, &length, EVP_sha256(), nullptr) == 1) {
    // 64 bits of SHA-256 tell versions of one page apart; more would only lengthen the header.
    constexpr char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < 8 && i < length; ++i) {
      page.etag.push_back(hex[digest[i] >> 4]);
      page.etag.push_back(hex[digest[i] & 0xf]);
    }
  } else {
    // Without a digest the size still changes with most edits; a stale 304 is the worst case.
    page.etag += "len-" + std::to_string(page.html.size());
  }
  page.etag.push_back('"');
  return page;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

const dashboard_page& dashboard() {
  static const dashboard_page page = load();
  return page;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) noexcept {
  if (trim(if_none_match) == "*") {
    return true;
  }
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if_none_match = comma == std::string_view::npos ? std::string_view{} : if_none_match.substr(comma + 1);
    if (tag.starts_with("W/")) {
      tag.remove_prefix(2);
    }
    if (!tag.empty() && tag == etag) {
      return true;
    }
  }
  return false;
}

}  // namespace ftq::status
