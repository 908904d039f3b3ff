#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>

#include "io/file_store.hpp"
#include "io/uring_store.hpp"

namespace ftq::io {

namespace {

// Every opcode the io_uring store submits.
constexpr std::pair<int, const char*> used_opcodes[] = {
    {IORING_OP_OPENAT, "OPENAT"},
    {IORING_OP_WRITEV, "WRITEV"},
    {IORING_OP_FSYNC, "FSYNC"},
    {IORING_OP_CLOSE, "CLOSE"},
    {IORING_OP_RENAMEAT, "RENAMEAT"},
    {IORING_OP_READ, "READ"},
    {IORING_OP_STATX, "STATX"},
    {IORING_OP_UNLINKAT, "UNLINKAT"},
    {IORING_OP_MKDIRAT, "MKDIRAT"},
    {IORING_OP_NOP, "NOP"},
    {IORING_OP_SYNC_FILE_RANGE, "SYNC_FILE_RANGE"},
};

std::string failed(const char* what, int negative_errno) {
  return std::string(what) + ": " + std::strerror(-negative_errno);
}

std::string probe_ring(io_uring& ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    return "io_uring_get_probe: no probe (kernel older than 5.6)";
  }
  std::string why_not;
  for (const auto& [op, name] : used_opcodes) {
    if (!io_uring_opcode_supported(probe, op)) {
      why_not = std::string("opcode ") + name + " unsupported";
      break;
    }
  }
  io_uring_free_probe(probe);
  if (!why_not.empty()) {
    return why_not;
  }
  // A commit chain opens into a slot of a sparse fixed-file table (Linux 5.19).
  if (const int r = io_uring_register_files_sparse(&ring, 2); r < 0) {
    return failed("io_uring_register_files_sparse", r);
  }
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) {
    return failed("eventfd", -errno);
  }
  const int r = io_uring_register_eventfd(&ring, efd);
  ::close(efd);
  return r < 0 ? failed("io_uring_register_eventfd", r) : std::string();
}

}  // namespace

std::string probe_io_uring() {
  io_uring ring{};
  if (const int r = io_uring_queue_init(8, &ring, 0); r < 0) {
    return failed("io_uring_queue_init", r);
  }
  std::string why_not = probe_ring(ring);
  io_uring_queue_exit(&ring);
  return why_not;
}

std::string detail::probe_summary() {
  return "ring, sparse fixed-file table, eventfd and " + std::to_string(std::size(used_opcodes)) + " opcodes probed";
}

}  // namespace ftq::io
