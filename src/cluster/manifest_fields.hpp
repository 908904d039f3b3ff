#pragma once
/// Reading and writing the manifest's fields (rados/layout.hpp) the same way everywhere: text
/// xattrs, and the ownership history's omap entries "h/<20-digit seq>" holding
/// {"at","from","to","why"}.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <rados/librados.hpp>

#include "cluster/lease.hpp"

namespace ftq::cluster::detail {

librados::bufferlist bytes_of(std::string_view text);
/// The xattr `name` of `attrs` as text; empty when absent.
std::string attr(const std::map<std::string, librados::bufferlist>& attrs, const char* name);
/// "h/00000000000000000007": history entries sort by the manifest version that wrote them.
std::string history_key(std::uint64_t seq);
std::string history_json(std::chrono::system_clock::time_point at, const std::string& from, const std::string& to,
                         const std::string& why);
/// An entry as history_json writes it; one that does not parse is kept with its text as `why`
/// (status must not fail on one odd entry).
handover parse_handover(const std::string& text);

}  // namespace ftq::cluster::detail
