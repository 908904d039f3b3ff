#include "io/uring_store.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <mutex>
#include <span>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ftq/error.hpp>

#include "io/commit_protocol.hpp"

namespace ftq::io::detail {
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_read_bytes = std::size_t{1} << 30;  // a CQE result is an int

enum class sqe_kind : std::uint8_t {
  open_direct,   // openat into a fixed-file slot
  open,          // openat into the process's descriptor table
  write,         // writev on a fixed file
  writeback,     // sync_file_range(WRITE) hint on a fixed file: hard-linked, its result ignored
  fsync,         // fsync of a fixed file
  close_direct,  // close of a fixed-file slot
  close,         // close of a descriptor
  rename,
  statx,  // of `fd` (AT_EMPTY_PATH), or of `path` when fd is AT_FDCWD
  read,
  unlink,
  mkdir,
};

struct chain_base;

// One SQE of a chain, and the operation it stands for.
struct step {
  op_kind op = op_kind::open;
  fs::path path;  // what the operation acts on: given to the injector and named in errors
  sqe_kind kind = sqe_kind::open;
  fs::path to;             // rename: the destination
  unsigned slot = 0;       // fixed-file slot
  int fd = AT_FDCWD;       // descriptor (open, statx, read, close)
  int flags = 0;           // open flags
  mode_t mode = 0;         // open, mkdir
  write_group io;          // write: bytes still to write; read: offset and length
  void* buffer = nullptr;  // read, statx
  bool silent = false;     // releases a descriptor or checks a type: not an operation to inject into
  // Set by the ring.
  int injected = 0;  // the injector's verdict, fixed when the step is first prepared
  bool decided = false;
  int res = 0;  // the CQE result
  chain_base* owner = nullptr;
};

step make_step(op_kind op, fs::path path, sqe_kind kind) {
  step s;
  s.op = op;
  s.path = std::move(path);
  s.kind = kind;
  return s;
}

// How a chain ended: failed == npos, or the index of the first step that failed and its errno.
struct chain_outcome {
  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();
  std::size_t failed = npos;
  int error = 0;
  bool ok() const noexcept { return failed == npos; }
};

// A chain in flight: its steps [next, piece_end) are in the kernel, `pending` CQEs still due.
struct chain_base {
  std::span<step> steps;
  std::size_t next = 0;
  std::size_t piece_end = 0;
  std::size_t pending = 0;
  virtual ~chain_base() = default;
  // Hands the outcome to the awaiting coroutine's executor and deletes this chain.
  virtual void complete(chain_outcome outcome) = 0;
};

template <class Handler>
struct chain_op final : chain_base {
  chain_op(Handler h, const asio::any_io_executor& fallback)
      : handler(std::move(h)),
        work(asio::prefer(asio::get_associated_executor(handler, fallback),
                          asio::execution::outstanding_work.tracked)) {}
  void complete(chain_outcome outcome) override {
    Handler h = std::move(handler);
    asio::any_io_executor ex = std::move(work);
    delete this;
    asio::post(ex, [h = std::move(h), outcome]() mutable { std::move(h)(outcome); });
  }
  Handler handler;
  asio::any_io_executor work;  // keeps the awaiting executor's run() alive while we are in flight
};

// The ring and everything that touches it. Shared with the eventfd wait, which may outlive the
// store by one cancelled handler.
class ring_core : public std::enable_shared_from_this<ring_core> {
 public:
  ring_core(asio::any_io_executor ex, std::shared_ptr<fault_injector> faults, uring_options options)
      : ex_(std::move(ex)), faults_(std::move(faults)), options_(options), events_(ex_) {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    params.cq_entries = std::max(4096u, 4 * options_.ring_entries);
    int r = io_uring_queue_init_params(options_.ring_entries, &ring_, &params);
    if (r == -EINVAL) {  // before Linux 5.18 (SUBMIT_ALL)
      params = io_uring_params{};
      params.flags = IORING_SETUP_CQSIZE;
      params.cq_entries = std::max(4096u, 4 * options_.ring_entries);
      r = io_uring_queue_init_params(options_.ring_entries, &ring_, &params);
    }
    if (r < 0) {
      unavailable("io_uring_queue_init", r);
    }
    if (r = io_uring_register_files_sparse(&ring_, options_.fixed_files); r < 0) {
      io_uring_queue_exit(&ring_);
      unavailable("io_uring_register_files_sparse", r);
    }
    const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0 || (r = io_uring_register_eventfd(&ring_, efd)) < 0) {
      const int e = efd < 0 ? -errno : r;
      if (efd >= 0) {
        ::close(efd);
      }
      io_uring_queue_exit(&ring_);
      unavailable(efd < 0 ? "eventfd" : "io_uring_register_eventfd", e);
    }
    events_.assign(efd);
    for (unsigned i = options_.fixed_files; i > 0; --i) {
      free_slots_.push_back(i - 1);
    }
  }

  ~ring_core() { io_uring_queue_exit(&ring_); }

  ring_core(const ring_core&) = delete;
  ring_core& operator=(const ring_core&) = delete;

  const uring_options& options() const noexcept { return options_; }
  fault_injector* faults() const noexcept { return faults_.get(); }

  /// Submits `steps` as linked chains (pieces of at most ring_entries SQEs) and completes with
  /// the outcome once every step ran or the first failure ended the chain.
  template <class Token>
  auto async_run(std::span<step> steps, Token&& token) {
    return asio::async_initiate<Token, void(chain_outcome)>(
        [self = shared_from_this()](auto handler, std::span<step> s) {
          auto* c = new chain_op<std::decay_t<decltype(handler)>>(std::move(handler), self->ex_);
          c->steps = s;
          self->start(c);
        },
        token, steps);
  }

  /// Completes with a free fixed-file slot (waiting for one if all are taken).
  template <class Token>
  auto async_acquire_slot(Token&& token) {
    return asio::async_initiate<Token, void(unsigned)>(
        [self = shared_from_this()](auto handler) {
          std::unique_lock lock(self->slot_mu_);
          if (self->free_slots_.empty()) {
            asio::any_io_executor ex = asio::prefer(asio::get_associated_executor(handler, self->ex_),
                                                    asio::execution::outstanding_work.tracked);
            self->slot_waiters_.push_back(slot_waiter{std::move(ex), std::move(handler)});
            return;
          }
          const unsigned slot = self->free_slots_.back();
          self->free_slots_.pop_back();
          lock.unlock();
          auto ex = asio::get_associated_executor(handler, self->ex_);
          asio::post(ex, [h = std::move(handler), slot]() mutable { std::move(h)(slot); });
        },
        token);
  }

  void release_slot(unsigned slot) {
    std::unique_lock lock(slot_mu_);
    if (slot_waiters_.empty()) {
      free_slots_.push_back(slot);
      return;
    }
    slot_waiter w = std::move(slot_waiters_.front());
    slot_waiters_.pop_front();
    lock.unlock();
    asio::post(w.executor, [h = std::move(w.handler), slot]() mutable { std::move(h)(slot); });
  }

  /// Stops waiting on the eventfd and collects every CQE the kernel still owes, so that it never
  /// writes into memory freed after the store. Operations still awaited then never complete.
  void shutdown() {
    std::lock_guard lock(mu_);
    boost::system::error_code ignored;
    events_.close(ignored);
    while (pieces_in_flight_ > 0) {
      io_uring_cqe* cqe = nullptr;
      const int r = io_uring_wait_cqe(&ring_, &cqe);
      if (r == -EINTR) {
        continue;
      }
      if (r < 0) {
        break;
      }
      if (auto* s = static_cast<step*>(io_uring_cqe_get_data(cqe)); s != nullptr && --s->owner->pending == 0) {
        --pieces_in_flight_;
      }
      io_uring_cqe_seen(&ring_, cqe);
    }
  }

 private:
  [[noreturn]] static void unavailable(const char* what, int negative_errno) {
    throw ftq::error(ftq::errc::io_backend_unavailable, std::string(what) + ": " + std::strerror(-negative_errno));
  }

  void report(const step& s, int error) {
    if (!s.silent && faults_ != nullptr) {
      faults_->after(s.op, s.path, error);
    }
  }

  void start(chain_base* c) {
    for (step& s : c->steps) {
      s.owner = c;
    }
    if (c->steps.empty()) {
      c->complete(chain_outcome{});
      return;
    }
    submit_or_fail(c);
  }

  void submit_or_fail(chain_base* c) {
    int error = 0;
    bool submitted = false;
    {
      std::lock_guard lock(mu_);
      submitted = submit_piece(c, error);
    }
    if (!submitted) {
      fail_chain(c, c->next, error);
    }
  }

  void prepare(io_uring_sqe* sqe, const step& s) {
    switch (s.kind) {
      case sqe_kind::open_direct:
        io_uring_prep_openat_direct(sqe, AT_FDCWD, s.path.c_str(), s.flags, s.mode, s.slot);
        break;
      case sqe_kind::open:
        io_uring_prep_openat(sqe, AT_FDCWD, s.path.c_str(), s.flags, s.mode);
        break;
      case sqe_kind::write:
        io_uring_prep_writev(sqe, static_cast<int>(s.slot), s.io.iov.data(), static_cast<unsigned>(s.io.iov.size()),
                             s.io.offset);
        sqe->flags |= IOSQE_FIXED_FILE;
        break;
      case sqe_kind::writeback:
        io_uring_prep_sync_file_range(sqe, static_cast<int>(s.slot), static_cast<unsigned>(s.io.length), s.io.offset,
                                      SYNC_FILE_RANGE_WRITE);
        sqe->flags |= IOSQE_FIXED_FILE;
        break;
      case sqe_kind::fsync:
        io_uring_prep_fsync(sqe, static_cast<int>(s.slot), 0);
        sqe->flags |= IOSQE_FIXED_FILE;
        break;
      case sqe_kind::close_direct:
        io_uring_prep_close_direct(sqe, s.slot);
        break;
      case sqe_kind::close:
        io_uring_prep_close(sqe, s.fd);
        break;
      case sqe_kind::rename:
        io_uring_prep_renameat(sqe, AT_FDCWD, s.path.c_str(), AT_FDCWD, s.to.c_str(), 0);
        break;
      case sqe_kind::statx:
        io_uring_prep_statx(sqe, s.fd, s.fd == AT_FDCWD ? s.path.c_str() : "", s.fd == AT_FDCWD ? 0 : AT_EMPTY_PATH,
                            STATX_TYPE | STATX_SIZE, static_cast<struct statx*>(s.buffer));
        break;
      case sqe_kind::read:
        io_uring_prep_read(sqe, s.fd, s.buffer, static_cast<unsigned>(s.io.length), s.io.offset);
        break;
      case sqe_kind::unlink:
        io_uring_prep_unlinkat(sqe, AT_FDCWD, s.path.c_str(), 0);
        break;
      case sqe_kind::mkdir:
        io_uring_prep_mkdirat(sqe, AT_FDCWD, s.path.c_str(), s.mode);
        break;
    }
  }

  // SQEs published to the kernel but not consumed by it yet.
  unsigned unconsumed() const { return *ring_.sq.ktail - io_uring_smp_load_acquire(ring_.sq.khead); }

  // The kernel stopped consuming SQEs before the end of the piece: the consumed ones run as a
  // chain that ends there, the others would run later as a chain of their own (a rename with no
  // fsync before it). They are still ours to rewrite (no SQPOLL): turn them into NOPs without
  // user data; the chain resumes from the first of them once the consumed part completed.
  void neutralize_unconsumed() {
    const unsigned tail = *ring_.sq.ktail;
    for (unsigned i = io_uring_smp_load_acquire(ring_.sq.khead); i != tail; ++i) {
      io_uring_sqe* sqe = &ring_.sq.sqes[ring_.sq.array[i & ring_.sq.ring_mask]];
      io_uring_prep_nop(sqe);
      io_uring_sqe_set_data(sqe, nullptr);
    }
  }

  // Lets the kernel consume the published SQEs: all of them, or at most submit_limit (tests).
  int enter(bool first_attempt, unsigned prepared) {
    if (first_attempt && options_.submit_limit > 0 && options_.submit_limit < prepared) {
      // io_uring_submit's flush, then an enter that asks for fewer than were published.
      io_uring_smp_store_release(ring_.sq.ktail, ring_.sq.sqe_tail);
      ring_.sq.sqe_head = ring_.sq.sqe_tail;
      const int r = io_uring_enter(static_cast<unsigned>(ring_.ring_fd), options_.submit_limit, 0, 0, nullptr);
      return r < 0 ? r : 0;
    }
    int r = 0;
    do {
      r = io_uring_submit(&ring_);
    } while (r == -EINTR);
    return r < 0 ? r : 0;
  }

  // Prepares and submits the next piece of `c` as one linked chain. Requires mu_. Returns false
  // (with an errno) if the kernel would take none of it.
  bool submit_piece(chain_base* c, int& error) {
    error = EAGAIN;
    for (unsigned attempt = 0; attempt < 64; ++attempt) {
      const auto n =
          static_cast<unsigned>(std::min<std::size_t>(c->steps.size() - c->next, io_uring_sq_space_left(&ring_)));
      if (n == 0) {  // the SQ ring is full of neutralized NOPs: push them out
        io_uring_submit(&ring_);
        continue;
      }
      for (unsigned i = 0; i < n; ++i) {
        step& s = c->steps[c->next + i];
        if (!s.decided) {
          s.injected = (!s.silent && faults_ != nullptr) ? faults_->before(s.op, s.path) : 0;
          s.decided = true;
        }
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (s.injected != 0) {
          io_uring_prep_close(sqe, -1);  // fails (EBADF), so the chain breaks exactly here
        } else {
          prepare(sqe, s);
        }
        // Executed by io-wq workers: the submitting executor thread never copies or waits.
        sqe->flags |= IOSQE_ASYNC;
        if (i + 1 < n) {
          // A hint's failure must not cancel the durable steps after it.
          sqe->flags |= s.kind == sqe_kind::writeback ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
        }
        io_uring_sqe_set_data(sqe, &s);
      }
      const int r = enter(attempt == 0, n);
      const unsigned left = std::min(unconsumed(), n);
      if (left > 0) {
        neutralize_unconsumed();
        io_uring_submit(&ring_);  // best effort: NOPs still queued go in with the next submit
      }
      const unsigned taken = n - left;
      if (taken > 0) {
        c->piece_end = c->next + taken;
        c->pending = taken;
        ++pieces_in_flight_;
        arm();
        return true;
      }
      if (r < 0) {
        error = -r;
      }
    }
    return false;
  }

  // Waits for the eventfd once more, unless a wait is outstanding. Requires mu_.
  void arm() {
    if (armed_) {
      return;
    }
    armed_ = true;
    events_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) { self->on_ready(ec); });
  }

  void on_ready(const boost::system::error_code& ec) {
    if (ec) {  // closed by shutdown()
      std::lock_guard lock(mu_);
      armed_ = false;
      return;
    }
    // Reset the counter before reaping, so that a CQE posted after the reap signals again.
    std::uint64_t count = 0;
    [[maybe_unused]] const auto n_read = ::read(events_.native_handle(), &count, sizeof count);
    std::vector<std::pair<step*, int>> results;
    {
      std::lock_guard lock(mu_);
      io_uring_cqe* cqes[64];
      // peek_batch flushes CQEs the kernel kept aside on CQ overflow once the ring is empty.
      while (const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64)) {
        for (unsigned i = 0; i < n; ++i) {
          results.emplace_back(static_cast<step*>(io_uring_cqe_get_data(cqes[i])), cqes[i]->res);
        }
        io_uring_cq_advance(&ring_, n);
      }
    }
    std::vector<chain_base*> finished;
    for (auto [s, res] : results) {
      if (s == nullptr) {
        continue;  // a neutralized SQE
      }
      s->res = res;
      if (--s->owner->pending == 0) {
        finished.push_back(s->owner);
      }
    }
    for (chain_base* c : finished) {
      finish_piece(c);
    }
    std::lock_guard lock(mu_);
    pieces_in_flight_ -= finished.size();
    armed_ = false;
    if (pieces_in_flight_ > 0) {
      arm();
    }
  }

  // Every CQE of the piece arrived: report each step, then go on, resume after a short write or
  // a submit boundary, or end the chain at its first failure.
  void finish_piece(chain_base* c) {
    for (std::size_t i = c->next; i < c->piece_end; ++i) {
      step& s = c->steps[i];
      if (s.kind == sqe_kind::writeback) {
        continue;  // a hint: whatever it met, the fsync after it decides
      }
      int error = s.injected != 0 ? s.injected : (s.res < 0 ? -s.res : 0);
      if (error == 0 && s.kind == sqe_kind::write && static_cast<std::size_t>(s.res) < s.io.length) {
        if (s.res == 0) {
          error = EIO;  // no progress: a continuation would loop
        } else {
          // The kernel failed the link on the short write and cancelled the rest of the piece:
          // write the remainder, then resubmit everything after it.
          report(s, 0);
          advance(s.io, static_cast<std::size_t>(s.res));
          s.decided = false;  // the continuation is another write operation
          c->next = i;
          submit_or_fail(c);
          return;
        }
      }
      if (error != 0) {
        fail_chain(c, i, error);
        return;
      }
      report(s, 0);
    }
    c->next = c->piece_end;
    if (c->next == c->steps.size()) {
      c->complete(chain_outcome{});
      return;
    }
    submit_or_fail(c);
  }

  void fail_chain(chain_base* c, std::size_t at, int error) {
    report(c->steps[at], error);
    for (std::size_t j = at + 1; j < c->steps.size(); ++j) {
      if (c->steps[j].decided) {
        report(c->steps[j], ECANCELED);
      }
    }
    c->complete(chain_outcome{at, error});
  }

  asio::any_io_executor ex_;
  std::shared_ptr<fault_injector> faults_;
  uring_options options_;
  std::mutex mu_;  // the ring, armed_, pieces_in_flight_
  io_uring ring_{};
  asio::posix::stream_descriptor events_;
  bool armed_ = false;
  std::size_t pieces_in_flight_ = 0;
  std::mutex slot_mu_;
  std::vector<unsigned> free_slots_;
  struct slot_waiter {
    asio::any_io_executor executor;  // the waiter's, with outstanding work tracked
    asio::any_completion_handler<void(unsigned)> handler;
  };
  std::deque<slot_waiter> slot_waiters_;
};

// Holds a fixed-file slot for one coroutine; the slot must be closed before it is released.
class slot_lease {
 public:
  slot_lease(std::shared_ptr<ring_core> core, unsigned slot) : core_(std::move(core)), slot_(slot) {}
  ~slot_lease() { core_->release_slot(slot_); }
  slot_lease(const slot_lease&) = delete;
  slot_lease& operator=(const slot_lease&) = delete;

 private:
  std::shared_ptr<ring_core> core_;
  unsigned slot_;
};

step open_direct(fs::path path, unsigned slot, int flags, mode_t mode) {
  step s = make_step(op_kind::open, std::move(path), sqe_kind::open_direct);
  s.slot = slot;
  s.flags = flags;
  s.mode = mode;
  return s;
}

step fsync_fixed(op_kind op, fs::path path, unsigned slot) {
  step s = make_step(op, std::move(path), sqe_kind::fsync);
  s.slot = slot;
  return s;
}

step close_direct(fs::path path, unsigned slot) {
  step s = make_step(op_kind::close, std::move(path), sqe_kind::close_direct);
  s.slot = slot;
  return s;
}

class uring_store final : public file_store {
 public:
  uring_store(asio::any_io_executor ex, std::shared_ptr<fault_injector> faults, uring_options options,
              std::string reason)
      : file_store(backend_info{backend_kind::io_uring, std::move(reason)}),
        core_(std::make_shared<ring_core>(std::move(ex), std::move(faults), options)) {}

  ~uring_store() override {
    core_->shutdown();
    list_pool_.join();
  }

  asio::awaitable<void> commit(const commit_request& request) override {
    const unsigned slot = co_await core_->async_acquire_slot(asio::use_awaitable);
    const slot_lease lease(core_, slot);
    const fs::path target = request.dir / request.name;
    const fs::path temp = request.dir / temp_name(request.name);

    // One slot serves the temp file, then the directory: the chain closes one before opening
    // the other. Direct descriptors live outside the fd table, so O_CLOEXEC does not apply (and
    // the kernel rejects it).
    std::vector<step> steps;
    steps.push_back(open_direct(temp, slot, O_WRONLY | O_CREAT | O_EXCL, 0600));
    std::vector<write_group> writes = plan_writes(request.buffers, core_->options().max_iov);
    const bool hint_writeback = writes.size() > 1;  // a large file: overlap copying with writeback
    for (write_group& g : writes) {
      step w = make_step(op_kind::write, temp, sqe_kind::write);
      w.slot = slot;
      w.io = std::move(g);
      if (hint_writeback) {
        step hint = make_step(op_kind::write, temp, sqe_kind::writeback);
        hint.slot = slot;
        hint.io.offset = w.io.offset;
        hint.io.length = w.io.length;
        hint.silent = true;
        steps.push_back(std::move(w));
        steps.push_back(std::move(hint));
      } else {
        steps.push_back(std::move(w));
      }
    }
    steps.push_back(fsync_fixed(op_kind::fsync, temp, slot));
    const std::size_t closed = steps.size();
    steps.push_back(close_direct(temp, slot));
    const std::size_t renamed = steps.size();
    step rename = make_step(op_kind::rename, temp, sqe_kind::rename);
    rename.to = target;
    steps.push_back(std::move(rename));
    const std::size_t dir_opened = steps.size();
    steps.push_back(open_direct(request.dir, slot, O_RDONLY | O_DIRECTORY, 0));
    steps.push_back(fsync_fixed(op_kind::fsync_dir, request.dir, slot));
    steps.push_back(close_direct(request.dir, slot));

    const chain_outcome outcome = co_await run(steps);
    if (outcome.ok()) {
      co_return;
    }
    const std::size_t at = outcome.failed;
    // A slot whose close did not run still holds the file (a failed close_direct may too).
    if ((at > 0 && at <= closed) || (at > dir_opened)) {
      co_await release(slot);
    }
    if (at > 0 && at <= renamed) {
      std::vector<step> unlink{make_step(op_kind::unlink, temp, sqe_kind::unlink)};
      co_await run(unlink);
    }
    throw_step_error(at == renamed ? target : steps[at].path, steps[at].op, outcome.error);
  }

  asio::awaitable<std::vector<std::byte>> read(fs::path path) override {
    // Each step needs the previous one's result (the fd, then the size), so no chain here.
    std::vector<step> open{make_step(op_kind::open, path, sqe_kind::open)};
    open[0].flags = O_RDONLY | O_CLOEXEC;
    if (const chain_outcome o = co_await run(open); !o.ok()) {
      throw_step_error(path, op_kind::open, o.error);
    }
    const int fd = open[0].res;
    struct statx stx {};
    std::vector<step> stat{make_step(op_kind::stat, path, sqe_kind::statx)};
    stat[0].fd = fd;
    stat[0].buffer = &stx;
    if (const chain_outcome o = co_await run(stat); !o.ok()) {
      co_await close_quietly(fd);
      throw_step_error(path, op_kind::stat, o.error);
    }
    std::vector<std::byte> data(static_cast<std::size_t>(stx.stx_size));
    std::size_t done = 0;
    while (done < data.size()) {
      std::vector<step> rd{make_step(op_kind::read, path, sqe_kind::read)};
      rd[0].fd = fd;
      rd[0].buffer = data.data() + done;
      rd[0].io.offset = done;
      rd[0].io.length = std::min(data.size() - done, max_read_bytes);
      if (const chain_outcome o = co_await run(rd); !o.ok()) {
        co_await close_quietly(fd);
        throw_step_error(path, op_kind::read, o.error);
      }
      if (rd[0].res == 0) {
        break;  // the file shrank since statx
      }
      done += static_cast<std::size_t>(rd[0].res);
    }
    data.resize(done);
    std::vector<step> close{make_step(op_kind::close, path, sqe_kind::close)};
    close[0].fd = fd;
    if (const chain_outcome o = co_await run(close); !o.ok()) {
      if (close[0].injected != 0) {
        co_await close_quietly(fd);  // a failed close(2) releases the descriptor; so must we
      }
      throw_step_error(path, op_kind::close, o.error);
    }
    co_return data;
  }

  asio::awaitable<void> remove(std::vector<fs::path> paths) override {
    std::vector<fs::path> dirs;
    for (const fs::path& p : paths) {
      std::vector<step> unlink{make_step(op_kind::unlink, p, sqe_kind::unlink)};
      const chain_outcome o = co_await run(unlink);
      if (!o.ok() && o.error != ENOENT) {
        throw_step_error(p, op_kind::unlink, o.error);
      }
      fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
      if (o.ok() && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
        dirs.push_back(std::move(dir));
      }
    }
    for (const fs::path& d : dirs) {
      co_await sync_dir(d);
    }
  }

  asio::awaitable<std::vector<std::string>> list(fs::path dir) override {
    fault_injector* faults = core_->faults();
    co_return co_await asio::co_spawn(
        list_pool_,
        [&dir, faults]() -> asio::awaitable<std::vector<std::string>> { co_return list_files(dir, faults, false); },
        asio::use_awaitable);
  }

  asio::awaitable<std::vector<std::string>> list_dirs(fs::path dir) override {
    fault_injector* faults = core_->faults();
    co_return co_await asio::co_spawn(
        list_pool_,
        [&dir, faults]() -> asio::awaitable<std::vector<std::string>> { co_return list_files(dir, faults, true); },
        asio::use_awaitable);
  }

  asio::awaitable<void> make_dirs(fs::path dir) override {
    std::vector<fs::path> parents;
    for (const fs::path& p : dir_prefixes(dir)) {
      std::vector<step> mkdir{make_step(op_kind::mkdir, p, sqe_kind::mkdir)};
      mkdir[0].mode = 0700;
      const chain_outcome o = co_await run(mkdir);
      if (!o.ok() && o.error == EEXIST) {
        continue;
      }
      if (!o.ok()) {
        throw_step_error(p, op_kind::mkdir, o.error);
      }
      fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
      if (std::find(parents.begin(), parents.end(), parent) == parents.end()) {
        parents.push_back(std::move(parent));
      }
    }
    // The last component may exist as something else (a parent that is a file fails mkdir).
    struct statx stx {};
    std::vector<step> check{make_step(op_kind::stat, dir, sqe_kind::statx)};
    check[0].buffer = &stx;
    check[0].silent = true;
    const chain_outcome o = co_await run(check);
    if (!o.ok() || !S_ISDIR(stx.stx_mode)) {
      throw_step_error(dir, op_kind::mkdir, o.ok() ? ENOTDIR : o.error);
    }
    for (const fs::path& parent : parents) {
      co_await sync_dir(parent);
    }
  }

 private:
  asio::awaitable<chain_outcome> run(std::vector<step>& steps) {
    const std::span<step> s(steps);
    co_return co_await core_->async_run(s, asio::use_awaitable);
  }

  // Empties a fixed-file slot whose chain stopped before its close.
  asio::awaitable<void> release(unsigned slot) {
    std::vector<step> close{close_direct(fs::path(), slot)};
    close[0].silent = true;
    co_await run(close);
  }

  asio::awaitable<void> close_quietly(int fd) {
    std::vector<step> close{make_step(op_kind::close, fs::path(), sqe_kind::close)};
    close[0].fd = fd;
    close[0].silent = true;
    co_await run(close);
  }

  asio::awaitable<void> sync_dir(fs::path dir) {
    const unsigned slot = co_await core_->async_acquire_slot(asio::use_awaitable);
    const slot_lease lease(core_, slot);
    std::vector<step> steps;
    steps.push_back(open_direct(dir, slot, O_RDONLY | O_DIRECTORY, 0));
    steps.push_back(fsync_fixed(op_kind::fsync_dir, dir, slot));
    steps.push_back(close_direct(dir, slot));
    const chain_outcome o = co_await run(steps);
    if (o.ok()) {
      co_return;
    }
    if (o.failed > 0) {
      co_await release(slot);
    }
    throw_step_error(dir, steps[o.failed].op, o.error);
  }

  std::shared_ptr<ring_core> core_;
  asio::thread_pool list_pool_{1};  // list(): io_uring has no getdents
};

}  // namespace

std::unique_ptr<file_store> make_uring_store(asio::any_io_executor executor, std::shared_ptr<fault_injector> faults,
                                             uring_options options, std::string reason) {
  return std::make_unique<uring_store>(std::move(executor), std::move(faults), options, std::move(reason));
}

}  // namespace ftq::io::detail
