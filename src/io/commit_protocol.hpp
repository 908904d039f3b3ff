#pragma once
/// Runs the file store's operations as plain blocking syscalls, each one announced to the fault
/// injector: the commit protocol (temp file, writes, fsync, close, rename, directory fsync) in one
/// function, plus read, remove, list and make_dirs. The threads backend runs these on its pool;
/// the io_uring backend shares the write plan and the temp naming, and uses list_files().

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "io/file_store.hpp"

namespace ftq::io::detail {

/// A commit's temp file name: "<name>.tmp-<pid>-<random>-<counter>", unique across processes.
std::string temp_name(const std::string& name);

/// One write syscall (pwritev or an io_uring WRITEV): at most `max_iov` buffers and 8 MiB, the
/// step after which the threads backend hints writeback (and well within a CQE's int result).
struct write_group {
  std::uint64_t offset = 0;
  std::size_t length = 0;
  std::vector<iovec> iov;
};
/// Splits a commit's buffers into write groups (empty buffers are skipped, huge ones split).
std::vector<write_group> plan_writes(std::span<const std::span<const std::byte>> buffers, std::size_t max_iov);
/// Drops the first `written` bytes of a group after a short write.
void advance(write_group& group, std::size_t written);

/// Throws the io_error of a failed step: "<path>: <op>: <strerror>", code() the errno itself.
[[noreturn]] void throw_step_error(const std::filesystem::path& path, op_kind op, int error);

/// The commit protocol (see file_store::commit). Blocks; throws ftq::io_error.
void commit_file(const commit_request& request, fault_injector* faults, std::size_t max_iov);
std::vector<std::byte> read_file(const std::filesystem::path& path, fault_injector* faults);
void remove_files(const std::vector<std::filesystem::path>& paths, fault_injector* faults);
/// Regular files of `dir`, or its subdirectories when `directories` ("." and ".." excluded).
std::vector<std::string> list_files(const std::filesystem::path& dir, fault_injector* faults, bool directories);
void make_dirs(const std::filesystem::path& dir, fault_injector* faults);

/// The components of `dir` to create in order, outermost first ("a", "a/b", "a/b/c").
std::vector<std::filesystem::path> dir_prefixes(const std::filesystem::path& dir);

}  // namespace ftq::io::detail
