#include "io/thread_store.hpp"

#include <climits>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "io/commit_protocol.hpp"

namespace ftq::io::detail {
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

class thread_store final : public file_store {
 public:
  thread_store(std::shared_ptr<fault_injector> faults, std::string reason)
      : file_store(backend_info{backend_kind::threads, std::move(reason)}), faults_(std::move(faults)) {}

  ~thread_store() override { pool_.join(); }

  asio::awaitable<void> commit(const commit_request& request) override {
    fault_injector* faults = faults_.get();
    // co_spawn runs the body on the pool; its completion resumes us on our own executor.
    co_await asio::co_spawn(
        pool_,
        [&request, faults]() -> asio::awaitable<void> {
          commit_file(request, faults, IOV_MAX);
          co_return;
        },
        asio::use_awaitable);
  }

  asio::awaitable<std::vector<std::byte>> read(fs::path path) override {
    fault_injector* faults = faults_.get();
    co_return co_await asio::co_spawn(
        pool_, [&path, faults]() -> asio::awaitable<std::vector<std::byte>> { co_return read_file(path, faults); },
        asio::use_awaitable);
  }

  asio::awaitable<void> remove(std::vector<fs::path> paths) override {
    fault_injector* faults = faults_.get();
    co_await asio::co_spawn(
        pool_,
        [&paths, faults]() -> asio::awaitable<void> {
          remove_files(paths, faults);
          co_return;
        },
        asio::use_awaitable);
  }

  asio::awaitable<std::vector<std::string>> list(fs::path dir) override {
    fault_injector* faults = faults_.get();
    co_return co_await asio::co_spawn(
        pool_,
        [&dir, faults]() -> asio::awaitable<std::vector<std::string>> { co_return list_files(dir, faults, false); },
        asio::use_awaitable);
  }

  asio::awaitable<std::vector<std::string>> list_dirs(fs::path dir) override {
    fault_injector* faults = faults_.get();
    co_return co_await asio::co_spawn(
        pool_,
        [&dir, faults]() -> asio::awaitable<std::vector<std::string>> { co_return list_files(dir, faults, true); },
        asio::use_awaitable);
  }

  asio::awaitable<void> make_dirs(fs::path dir) override {
    fault_injector* faults = faults_.get();
    co_await asio::co_spawn(
        pool_,
        [&dir, faults]() -> asio::awaitable<void> {
          detail::make_dirs(dir, faults);
          co_return;
        },
        asio::use_awaitable);
  }

 private:
  std::shared_ptr<fault_injector> faults_;
  asio::thread_pool pool_{2};
};

}  // namespace

std::unique_ptr<file_store> make_thread_store(asio::any_io_executor /*executor*/,
                                              std::shared_ptr<fault_injector> faults, std::string reason) {
  // Completions go to each awaiting coroutine's own executor, so the store needs none of its own.
  return std::make_unique<thread_store>(std::move(faults), std::move(reason));
}

}  // namespace ftq::io::detail
