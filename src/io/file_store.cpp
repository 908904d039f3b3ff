#include "io/file_store.hpp"

#include <cstdlib>
#include <string_view>

#include <ftq/error.hpp>

#include "io/thread_store.hpp"
#include "io/uring_store.hpp"

namespace ftq::io {

namespace {
constexpr std::string_view temp_marker = ".tmp-";
}

std::string_view backend_name(backend_kind k) noexcept {
  switch (k) {
    case backend_kind::io_uring:
      return "io_uring";
    case backend_kind::rados:
      return "rados";
    case backend_kind::threads:
      return "threads";
  }
  return "unknown";
}

std::string_view op_name(op_kind k) noexcept {
  switch (k) {
    case op_kind::open:
      return "open";
    case op_kind::write:
      return "write";
    case op_kind::fsync:
      return "fsync";
    case op_kind::close:
      return "close";
    case op_kind::rename:
      return "rename";
    case op_kind::fsync_dir:
      return "fsync_dir";
    case op_kind::read:
      return "read";
    case op_kind::unlink:
      return "unlink";
    case op_kind::mkdir:
      return "mkdir";
    case op_kind::list:
      return "list";
    case op_kind::stat:
      return "stat";
  }
  return "unknown";
}

std::filesystem::path committed_path(const std::filesystem::path& temp) {
  const std::string name = temp.filename().string();
  const std::size_t at = name.rfind(temp_marker);
  if (at == std::string::npos || at == 0) {
    return temp;
  }
  return temp.parent_path() / name.substr(0, at);
}

bool is_temp_name(std::string_view name) noexcept {
  const std::size_t at = name.rfind(temp_marker);
  return at != std::string_view::npos && at > 0;
}

backend_choice backend_choice_from_env() {
  const char* v = std::getenv("FTQ_IO_BACKEND");
  const std::string_view value = v != nullptr ? v : "";
  if (value.empty() || value == "auto") {
    return backend_choice::automatic;
  }
  if (value == "uring") {
    return backend_choice::io_uring;
  }
  if (value == "threads") {
    return backend_choice::threads;
  }
  throw ftq::error(ftq::errc::io_backend_unavailable,
                   "FTQ_IO_BACKEND='" + std::string(value) + "': expected one of auto, uring, threads");
}

std::unique_ptr<file_store> make_file_store(boost::asio::any_io_executor executor, backend_choice choice,
                                            std::shared_ptr<fault_injector> faults) {
  if (choice == backend_choice::threads) {
    return detail::make_thread_store(std::move(executor), std::move(faults), "threads: chosen explicitly");
  }
  const std::string why_not = probe_io_uring();
  if (why_not.empty()) {
    return detail::make_uring_store(std::move(executor), std::move(faults), detail::uring_options{},
                                    "io_uring: " + detail::probe_summary());
  }
  if (choice == backend_choice::io_uring) {
    throw ftq::error(ftq::errc::io_backend_unavailable, "io_uring backend unavailable: " + why_not);
  }
  return detail::make_thread_store(std::move(executor), std::move(faults), "threads: " + why_not);
}

boost::asio::awaitable<std::vector<std::string>> file_store::sweep(std::filesystem::path dir) {
  std::vector<std::string> stale;
  std::vector<std::filesystem::path> paths;
  for (auto& n : co_await list(dir)) {
    if (is_temp_name(n)) {
      paths.push_back(dir / n);
      stale.push_back(std::move(n));
    }
  }
  if (!paths.empty()) {
    co_await remove(std::move(paths));
  }
  co_return stale;
}

}  // namespace ftq::io
