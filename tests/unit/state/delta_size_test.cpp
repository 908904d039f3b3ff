#include "exec/state/change_tracker.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "unit/state/snapshot_harness.hpp"

// A large aggregate that changed little since its committed full snapshot packs a small delta,
// and full + delta restore exactly the state a full snapshot would have held.

namespace {

using namespace ftq::test;
using namespace ftq::test::snap;
using ftq::agg_fn;

std::size_t bytes_of(const snapshot& s) {
  std::size_t n = 0;
  for (const section& x : s) {
    n += x.bytes.size();
  }
  return n;
}

}  // namespace

TEST_CASE("an aggregate of 1M groups where 1% change packs a delta of at most 3% of its full snapshot") {
  constexpr std::size_t groups = 1'000'000;
  constexpr std::size_t touched = groups / 100;
  const schema s({{"g", type_id::int64}, {"x", type_id::int64}, {"y", type_id::float64}});
  std::vector<ftq::batch> batches;
  {
    std::vector<std::int64_t> g(groups);
    std::iota(g.begin(), g.end(), 0);
    std::vector<std::int64_t> x(groups);
    std::vector<double> y(groups);
    for (std::size_t i = 0; i < groups; ++i) {
      x[i] = static_cast<std::int64_t>(i % 1000);
      y[i] = static_cast<double>(i % 777) / 8.0;
    }
    batches.push_back(make_batch({ints(std::move(g)), ints(std::move(x)), doubles(std::move(y))}));
  }
  // Then 10 batches of 1,000 rows, each on a group of its own drawn at random: 1% of the groups.
  std::mt19937_64 rng(42);
  std::vector<std::int64_t> picked(groups);
  std::iota(picked.begin(), picked.end(), 0);
  std::shuffle(picked.begin(), picked.end(), rng);
  for (std::size_t b = 0; b < 10; ++b) {
    std::vector<std::int64_t> g(picked.begin() + static_cast<std::ptrdiff_t>(b * touched / 10),
                                picked.begin() + static_cast<std::ptrdiff_t>((b + 1) * touched / 10));
    std::vector<std::int64_t> x(g.size(), 5000);
    std::vector<double> y(g.size(), -1.0);
    batches.push_back(make_batch({ints(std::move(g)), ints(std::move(x)), doubles(std::move(y))}));
  }
  const ftq::table_ptr t = std::make_shared<ftq::table>("t", s, std::move(batches));
  const bound_expr x_ref = column_ref(1, type_id::int64);
  const bound_expr y_ref = column_ref(2, type_id::float64);
  const tree_factory make = [&] {
    return aggregate(0, s, {0},
                     {{agg_fn::sum, x_ref},
                      {agg_fn::avg, y_ref},
                      {agg_fn::min, y_ref},
                      {agg_fn::max, x_ref},
                      {agg_fn::count_star, std::nullopt}},
                     scan(t, 1));
  };
  // Due() calls: 0 the aggregate's next, 1 the scan's first next, 2 the second (the 1M-row batch
  // is folded), ..., 12 the scan's last (input exhausted).
  const run_log log = run_with(make, 4096, {{2, snapshot_kind::full, true}, {12, snapshot_kind::delta, true}});
  REQUIRE(log.snaps.size() == 2);
  const snapshot& full = log.snaps[0].sections;
  const snapshot& delta = log.snaps[1].sections;
  CHECK(delta[0].kind == snapshot_kind::delta);
  const std::size_t full_bytes = bytes_of(full);
  const std::size_t delta_bytes = bytes_of(delta);
  const std::size_t reference_bytes = bytes_of(log.reference);
  MESSAGE("1M groups, 1% changed: full " << full_bytes << " bytes, delta " << delta_bytes << " bytes ("
                                         << 100.0 * static_cast<double>(delta_bytes) / static_cast<double>(full_bytes)
                                         << "%), full at the delta's point " << reference_bytes << " bytes");
  CHECK(full_bytes > 30 * groups);
  CHECK(delta_bytes * 100 <= 3 * full_bytes);
  // Full + delta restore the state byte for byte.
  CHECK(same_bytes(reload(make, 4096, {&full, &delta}), log.reference));
}

TEST_CASE("change_tracker carries changes made between a save and its commit into the next delta") {
  ftq::exec::change_tracker t;
  CHECK_FALSE(t.on());
  t.saving(10);  // the first save turns recording on
  CHECK(t.on());
  CHECK_FALSE(t.delta_possible());
  const std::uint32_t a[] = {3, 7};
  t.mark(a, 2, 10);  // after the save, before its commit
  t.committed();
  CHECK(t.delta_possible());
  CHECK(t.committed_size() == 10);
  t.saving(12);  // a delta nobody commits
  std::vector<std::size_t> seen;
  t.for_each_changed([&](std::size_t s) { seen.push_back(s); });
  CHECK(seen == std::vector<std::size_t>{3, 7});
  const std::uint32_t b[] = {1, 11};
  t.mark(b, 2, 12);
  t.saving(12);  // the next delta still carries 3 and 7, plus 1 (11 is new: beyond the commit)
  seen.clear();
  t.for_each_changed([&](std::size_t s) { seen.push_back(s); });
  CHECK(seen == std::vector<std::size_t>{1, 3, 7});
  t.committed();
  CHECK(t.committed_size() == 12);
  CHECK(t.changed_count() == 0);
  t.mark_first(70);
  t.saving(80);
  CHECK(t.changed_count() == 12);  // marks beyond the committed 12 slots are new slots anyway
  t.mark_rewritten();
  CHECK_FALSE(t.delta_possible());
}
