#pragma once
/// Where serialized bytes go: the msgpack-cxx Stream concept (a write(data, size) member) as an
/// interface, so operator states can pack themselves without knowing whether the bytes are
/// compressed, encrypted, checksummed or kept in memory.

#include <cstddef>

namespace ftq {

class byte_sink {
 public:
  virtual ~byte_sink() = default;
  virtual void write(const char* data, std::size_t size) = 0;
};

}  // namespace ftq
