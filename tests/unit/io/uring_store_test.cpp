#include "io/uring_store.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ftq/error.hpp>

#include "support/fault_schedule.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"
#include "unit/io/backends.hpp"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using ftq::io::commit_request;
using ftq::io::op_kind;
using ftq::io::detail::uring_options;

namespace {

// io_uring cases need the ring; without it they say why and pass (FTQ_REQUIRE_URING=1 fails).
bool have_uring() { return ftq::test::store_backends().size() == 2; }

// 40 buffers of 1000 bytes: with 2 iovecs per WRITEV, 20 write SQEs.
struct many_buffers {
  std::vector<std::byte> bytes = ftq::test::pattern(40000, 5);
  std::vector<std::span<const std::byte>> buffers;
  many_buffers() {
    for (std::size_t i = 0; i < 40; ++i) {
      buffers.emplace_back(bytes.data() + i * 1000, 1000);
    }
  }
};

}  // namespace

TEST_CASE("io_uring: a chain longer than the ring goes in pieces, and a fault in a later piece still breaks it") {
  if (!have_uring()) {
    return;
  }
  const many_buffers data;
  uring_options small;
  small.ring_entries = 8;
  small.max_iov = 2;
  // A fault-free run: 27 steps (open, 20 writes, fsync, close, rename, open, fsync_dir, close).
  for (const std::size_t fail_at : {std::size_t{0}, std::size_t{22}, std::size_t{24}}) {
    CAPTURE(fail_at);
    ftq::test::temp_dir tmp("ftq-uring");
    ftq::test::write_file(tmp / "f", "old");
    auto faults = std::make_shared<ftq::test::fault_schedule>(fail_at, ENOSPC);
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::detail::make_uring_store(ex, faults, small, "test");
      commit_request req{tmp.path(), "f", data.buffers};
      try {
        co_await store->commit(req);
        CHECK(fail_at == 0);
      } catch (const ftq::io_error& e) {
        CHECK((e.code() == std::errc::no_space_on_device));
        const std::string step = fail_at == 22 ? ": fsync: " : ": rename: ";
        CHECK(std::string(e.what()).find(step) != std::string::npos);
      }
    });
    INFO("ops: " << faults->trace());
    CHECK(faults->count_of(op_kind::write) == 20);
    CHECK(ftq::test::read_file(tmp / "f") == (fail_at == 0 ? ftq::test::as_string(data.bytes) : "old"));
    CHECK(ftq::test::temp_files(tmp.path()).empty());
  }
}

TEST_CASE("io_uring: a chain cut at a submit boundary resumes where the kernel stopped taking SQEs") {
  if (!have_uring()) {
    return;
  }
  const many_buffers data;
  for (const unsigned limit : {1u, 2u, 3u, 5u, 13u}) {
    CAPTURE(limit);
    uring_options cut;
    cut.max_iov = 4;  // 10 write SQEs, 17 in all
    cut.submit_limit = limit;
    ftq::test::temp_dir tmp("ftq-uring");
    auto faults = std::make_shared<ftq::test::fault_schedule>(0, 0);
    ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
      const auto store = ftq::io::detail::make_uring_store(ex, faults, cut, "test");
      commit_request req{tmp.path(), "f", data.buffers};
      co_await store->commit(req);
    });
    INFO("ops: " << faults->trace());
    CHECK(ftq::test::read_file(tmp / "f") == ftq::test::as_string(data.bytes));
    // Each operation ran once, in order, however many submits it took.
    const auto ops = faults->ops();
    REQUIRE(ops.size() == 17);
    CHECK(ops[0].op == op_kind::open);
    CHECK(ops[11].op == op_kind::fsync);
    CHECK(ops[13].op == op_kind::rename);
    CHECK(ops[15].op == op_kind::fsync_dir);
    for (const auto& r : ops) {
      CHECK(r.result == 0);
    }
  }
}

TEST_CASE("io_uring: commits wait for a free fixed-file slot") {
  if (!have_uring()) {
    return;
  }
  uring_options one_slot;
  one_slot.fixed_files = 1;
  ftq::test::temp_dir tmp("ftq-uring");
  ftq::test::run_coro([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    const auto store = ftq::io::detail::make_uring_store(ex, nullptr, one_slot, "test");
    std::atomic<int> done{0};
    std::atomic<int> failed{0};
    for (int i = 0; i < 8; ++i) {
      asio::co_spawn(
          ex,
          [&store, &tmp, &done, &failed, i]() -> asio::awaitable<void> {
            const std::string content = "content " + std::to_string(i);
            commit_request req{tmp.path(), "f" + std::to_string(i), {ftq::test::as_bytes(content)}};
            try {
              co_await store->commit(req);
            } catch (const ftq::io_error&) {
              ++failed;
            }
            ++done;
          },
          asio::detached);
    }
    asio::steady_timer timer(ex);
    while (done.load() < 8) {
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(asio::use_awaitable);
    }
    CHECK(failed.load() == 0);
  });
  for (int i = 0; i < 8; ++i) {
    CHECK(ftq::test::read_file(tmp / ("f" + std::to_string(i))) == "content " + std::to_string(i));
  }
}

TEST_CASE("io_uring: a ring that cannot be set up is io_backend_unavailable") {
  if (!have_uring()) {
    return;
  }
  uring_options bad;
  bad.ring_entries = 1u << 20;  // above IORING_MAX_ENTRIES
  asio::io_context io;
  try {
    ftq::io::detail::make_uring_store(io.get_executor(), nullptr, bad, "test");
    FAIL("an impossible ring was set up");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::io_backend_unavailable));
    CHECK(std::string(e.what()).starts_with("io_uring_queue_init: "));
  }
}
