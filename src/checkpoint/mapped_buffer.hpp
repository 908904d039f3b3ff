#pragma once
/// Holds a growing byte buffer in anonymous memory that grows with mremap, so growth moves page
/// mappings instead of copying bytes: a file body of N bytes needs N bytes (rounded to pages), not
/// the 2N a vector needs while it reallocates. Writers reserve room at the end, write there, then
/// commit what they wrote.

#include <cstddef>
#include <span>

namespace ftq::checkpoint {

class mapped_buffer {
 public:
  mapped_buffer() = default;
  ~mapped_buffer();
  mapped_buffer(const mapped_buffer&) = delete;
  mapped_buffer& operator=(const mapped_buffer&) = delete;

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<std::byte> bytes() noexcept { return {data_, size_}; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }

  /// Makes room for at least `n` more bytes and returns where they go; throws std::bad_alloc.
  std::byte* reserve_tail(std::size_t n);
  /// Room at the end already mapped.
  std::size_t tail_room() const noexcept { return capacity_ - size_; }
  /// Counts `n` bytes written at the tail as part of the buffer (n <= tail_room()).
  void commit(std::size_t n) noexcept { size_ += n; }
  void append(const std::byte* p, std::size_t n);

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace ftq::checkpoint
