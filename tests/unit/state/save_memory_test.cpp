#include "exec/state/column_codec.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <numeric>
#include <string>
#include <vector>

#include "unit/state/snapshot_harness.hpp"

// save() streams from the state's own vectors into the sink: it allocates only a few small
// buffers, whatever the state's size. Global operator new/delete are replaced in this file
// (and so for the whole unit-state binary) to count the bytes allocated while save() runs.

namespace {

std::atomic<bool> counting{false};
std::atomic<std::uint64_t> allocated{0};
std::atomic<std::uint64_t> allocations{0};

void* counted_alloc(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) {
    allocated.fetch_add(size, std::memory_order_relaxed);
    allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) { return counted_alloc(size); }
void* operator new[](std::size_t size) { return counted_alloc(size); }
// The nothrow forms too, so that every plain delete below frees what malloc gave.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace ftq::test;
using namespace ftq::test::snap;
using ftq::agg_fn;

struct measured {
  std::uint64_t sink_bytes = 0;
  std::uint64_t alloc_bytes = 0;
  std::uint64_t alloc_count = 0;
  std::uint64_t hint = 0;
};

// Saves every state of `ctx` into a counting sink, counting allocations meanwhile.
measured measure_save(ftq::exec::execution_context& ctx, snapshot_kind kind) {
  measured m;
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->prepare_snapshot();  // as a checkpoint does, before it saves
  }
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    counting_sink sink;
    ftq::exec::state_packer pk(sink);
    const std::uint64_t a0 = allocated.load();
    const std::uint64_t c0 = allocations.load();
    counting.store(true);
    ctx.state_ptr(id)->save(pk, kind);
    counting.store(false);
    m.alloc_bytes += allocated.load() - a0;
    m.alloc_count += allocations.load() - c0;
    m.sink_bytes += sink.bytes;
    m.hint += ctx.state_ptr(id)->snapshot_size_hint();
  }
  return m;
}

// Runs `root` until its `call`-th next() and measures a full save of every state there.
class measuring_trigger final : public ftq::exec::checkpoint_trigger {
 public:
  explicit measuring_trigger(std::size_t call) : call_(call) {}
  bool due(const ftq::exec::execution_context&) noexcept override { return calls_++ == call_; }
  boost::asio::awaitable<void> take(ftq::exec::execution_context& ctx) override {
    result = measure_save(ctx, snapshot_kind::full);
    commit_all(ctx);
    co_return;
  }
  measured result;

 private:
  std::size_t call_;
  std::size_t calls_ = 0;
};

measured measure_at(const tree_factory& make, std::size_t call) {
  const operator_ptr root = make();
  return run_coro([&](auto ex) -> boost::asio::awaitable<measured> {
    ftq::exec::execution_context ctx(ex, 4096, root->subtree_size(), nullptr);
    root->init_states(ctx);
    measuring_trigger trigger(call);
    ctx.set_checkpoint_trigger(&trigger);
    while (co_await root->next(ctx)) {
    }
    co_return trigger.result;
  });
}

// A table of `rows` rows: k (int64, `keys` distinct), v (float64), s (string of 6..20 bytes).
ftq::table_ptr big_table(std::size_t rows, std::size_t keys) {
  const schema sch({{"k", type_id::int64}, {"v", type_id::float64}, {"s", type_id::string}});
  auto arena = std::make_shared<ftq::string_arena>();
  std::vector<ftq::batch> batches;
  for (std::size_t start = 0; start < rows; start += 65536) {
    const std::size_t n = std::min<std::size_t>(65536, rows - start);
    auto k = std::make_shared<column>(type_id::int64);
    auto v = std::make_shared<column>(type_id::float64);
    auto s = std::make_shared<column>(type_id::string);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t r = start + i;
      k->ints.push_back(static_cast<std::int64_t>((r * 7919) % keys));
      v->doubles.push_back(static_cast<double>(r % 1000) * 0.5);
      s->strings.push_back(arena->add("str-" + std::to_string(r % 100003) + std::string(r % 15, 'x')));
    }
    s->keep_alive(arena);
    batches.push_back(make_batch({k, v, s}));
  }
  return std::make_shared<ftq::table>("big", sch, std::move(batches));
}

void check_small(const measured& m, const char* what) {
  MESSAGE(std::string(what) << ": save packed " << m.sink_bytes << " bytes (hint " << m.hint << "), allocating "
                            << m.alloc_bytes << " bytes in " << m.alloc_count << " allocations");
  CHECK(m.sink_bytes > 4'000'000);
  CHECK(m.alloc_bytes < 64 * 1024);
  CHECK(m.alloc_bytes * 100 < m.sink_bytes);
  // The hint is a rough size of the same thing.
  CHECK(m.hint * 2 > m.sink_bytes);
  CHECK(m.hint < m.sink_bytes * 2);
}

}  // namespace

TEST_CASE("saving a large state allocates a few small buffers only, whatever the state's size") {
  const ftq::table_ptr t = big_table(300'000, 200'000);
  const schema& sch = t->schema();
  const bound_expr v = column_ref(1, type_id::float64);
  const bound_expr s = column_ref(2, type_id::string);
  // Due() calls: 0 root, 1..5 the scan's five batches, 6 the scan's end: all input buffered.
  const std::size_t end_of_input = 1 + (300'000 + 65535) / 65536;
  check_small(measure_at(
                  [&] {
                    return aggregate(0, sch, {0},
                                     {{agg_fn::sum, v},
                                      {agg_fn::min, s},
                                      {agg_fn::max, v},
                                      {agg_fn::count_distinct, s},
                                      {agg_fn::count_star, std::nullopt}},
                                     scan(t, 1));
                  },
                  end_of_input),
              "hash_aggregate, 200k groups");
  check_small(measure_at([&] { return sort_op(0, sch, {{v, false}}, scan(t, 1)); }, end_of_input), "sort, 300k rows");
  check_small(measure_at([&] { return distinct_op(0, sch, scan(t, 1)); }, end_of_input), "distinct, 300k rows");
  // The join builds from its second child: ids 0 join, 1 probe scan, 2 build scan; the build
  // side's last next() comes right after the join's own.
  check_small(measure_at([&] { return join_op(0, sch, sch, {0}, {0}, scan(t, 1), scan(t, 2)); }, end_of_input),
              "hash_join build side, 300k rows");
}

TEST_CASE("pack_values writes the vector's bytes as they are, and the counter sees allocations") {
  counting_sink sink;
  ftq::exec::state_packer pk(sink);
  std::vector<double> v(100'000);
  std::iota(v.begin(), v.end(), 0.5);
  const std::uint64_t a0 = allocated.load();
  counting.store(true);
  ftq::exec::pack_values(pk, v);
  counting.store(false);
  CHECK(allocated.load() == a0);
  CHECK(sink.bytes == 5 + 8 * v.size());  // bin 32 header + the raw doubles
  counting.store(true);
  auto* probe = new std::vector<int>(1000);
  counting.store(false);
  delete probe;
  CHECK(allocated.load() - a0 >= 4000);  // the counter itself works
}
