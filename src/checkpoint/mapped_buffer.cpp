#include "checkpoint/mapped_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

namespace ftq::checkpoint {

namespace {

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

constexpr std::size_t huge_page = std::size_t{2} << 20;

}  // namespace

mapped_buffer::~mapped_buffer() {
  if (data_ != nullptr) {
    ::munmap(data_, capacity_);
  }
}

std::byte* mapped_buffer::reserve_tail(std::size_t n) {
  if (n <= capacity_ - size_) {
    return data_ + size_;
  }
  if (n > SIZE_MAX / 2 - size_) {
    throw std::bad_alloc();
  }
  // Doubling keeps the number of mremap calls logarithmic; the first mapping is 64 KiB.
  const std::size_t page = page_size();
  std::size_t want = std::max({size_ + n, capacity_ * 2, std::size_t{64} << 10});
  want = (want + page - 1) / page * page;
  void* p = data_ == nullptr ? ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                             : ::mremap(data_, capacity_, want, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) {
    throw std::bad_alloc();
  }
  data_ = static_cast<std::byte*>(p);
  capacity_ = want;
  if (want >= huge_page) {
    // Faulting in 4 KiB pages costs more than compressing into them on some VMs (about 4 us a
    // page, measured): ask for transparent huge pages. Advice only; failure changes nothing.
    ::madvise(data_, capacity_, MADV_HUGEPAGE);
  }
  return data_ + size_;
}

void mapped_buffer::append(const std::byte* p, std::size_t n) {
  if (n == 0) {
    return;
  }
  std::memcpy(reserve_tail(n), p, n);
  size_ += n;
}

}  // namespace ftq::checkpoint
