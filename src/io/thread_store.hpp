#pragma once
/// Makes the portable file store: each operation runs the blocking syscalls of commit_protocol on
/// a private two-thread pool, and the awaiting coroutine resumes on its own executor.

#include <memory>
#include <string>

#include "io/file_store.hpp"

namespace ftq::io::detail {

std::unique_ptr<file_store> make_thread_store(boost::asio::any_io_executor executor,
                                              std::shared_ptr<fault_injector> faults, std::string reason);

}  // namespace ftq::io::detail
