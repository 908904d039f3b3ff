#pragma once
// Lists the backends every store test runs on: threads always, io_uring when probe_io_uring()
// passes (FTQ_REQUIRE_URING=1 turns its absence into a failure), and helpers shared by the
// io tests.

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "io/file_store.hpp"

namespace ftq::test {

inline std::vector<ftq::io::backend_choice> store_backends() {
  std::vector<ftq::io::backend_choice> backends{ftq::io::backend_choice::threads};
  const std::string why_not = ftq::io::probe_io_uring();
  const char* require = std::getenv("FTQ_REQUIRE_URING");
  if (why_not.empty()) {
    backends.push_back(ftq::io::backend_choice::io_uring);
  } else if (require != nullptr && std::string(require) == "1") {
    FAIL("FTQ_REQUIRE_URING=1 but io_uring is unavailable: " << why_not);
  } else {
    MESSAGE("io_uring cases skipped: " << why_not);
  }
  return backends;
}

inline std::string choice_name(ftq::io::backend_choice c) {
  return c == ftq::io::backend_choice::threads ? "threads" : "io_uring";
}

/// Bytes with a pattern that differs per seed, so that a misplaced block shows.
inline std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<std::byte>(x >> 24);
  }
  return v;
}

inline std::string as_string(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

/// The names the store tests spell most; `using namespace ftq::test::store_names;` brings them.
namespace store_names {
namespace asio = boost::asio;
namespace fs = std::filesystem;
using ftq::io::backend_choice;
using ftq::io::commit_request;
using ftq::test::as_bytes;
using ftq::test::as_string;
}  // namespace store_names

/// Like run_coro, but the io_context is run by `threads` threads at once (the store must then
/// be safe to use from several threads of its executor).
template <class Body>
void run_coro_threaded(Body&& body, unsigned threads, std::chrono::seconds watchdog = std::chrono::seconds(60)) {
  boost::asio::io_context io(static_cast<int>(threads));
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  std::vector<std::thread> runners;
  for (unsigned i = 0; i < threads; ++i) {
    runners.emplace_back([&] { io.run_for(watchdog); });
  }
  for (auto& t : runners) {
    t.join();
  }
  if (error) {
    std::rethrow_exception(error);
  }
  REQUIRE_MESSAGE(done, "run_coro_threaded: watchdog expired");
}

/// Regular files in `dir` that are commit temp files.
inline std::vector<std::string> temp_files(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (ftq::io::is_temp_name(e.path().filename().string())) {
      found.push_back(e.path().filename().string());
    }
  }
  return found;
}

/// How many descriptors this process has open.
inline std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

}  // namespace ftq::test
