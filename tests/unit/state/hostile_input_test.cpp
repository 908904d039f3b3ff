#include "exec/state/state_section.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "exec/operators/memory_sink.hpp"
#include "unit/state/result_drain.hpp"
#include "unit/state/snapshot_harness.hpp"

// Sections that do not have the shape their state expects -- wrong tag, newer version, wrong
// kind, missing or extra fields, any value replaced by one of another type or size, truncated
// bytes, forged lengths -- end in checkpoint_error with the right code, never in a crash.

namespace {

using namespace ftq::test;
using namespace ftq::test::snap;
using ftq::agg_fn;

const bound_expr g_ref = column_ref(0, type_id::int64);
const bound_expr x_ref = column_ref(1, type_id::int64);
const bound_expr y_ref = column_ref(2, type_id::float64);
const bound_expr s_ref = column_ref(3, type_id::string);

// Packs `o`, except that its `target`-th node in pre-order is replaced by `with`.
void pack_replacing(ftq::exec::state_packer& pk, const msgpack::object& o, std::size_t& counter, std::size_t target,
                    const std::function<void(ftq::exec::state_packer&)>& with) {
  if (counter++ == target) {
    with(pk);
    return;
  }
  if (o.type == msgpack::type::ARRAY) {
    pk.pack_array(o.via.array.size);
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      pack_replacing(pk, o.via.array.ptr[i], counter, target, with);
    }
    return;
  }
  pk.pack(o);
}

std::size_t node_count(const msgpack::object& o) {
  std::size_t n = 1;
  if (o.type == msgpack::type::ARRAY) {
    for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
      n += node_count(o.via.array.ptr[i]);
    }
  }
  return n;
}

const std::vector<std::function<void(ftq::exec::state_packer&)>> replacements = {
    [](auto& pk) { pk.pack_nil(); },
    [](auto& pk) { pk.pack_true(); },
    [](auto& pk) { pk.pack_uint64(0); },
    [](auto& pk) { pk.pack_uint64(1); },
    [](auto& pk) { pk.pack_uint64(3); },
    [](auto& pk) { pk.pack_uint64((std::uint64_t{1} << 32) + 5); },
    [](auto& pk) { pk.pack_uint64(UINT64_MAX); },
    [](auto& pk) { pk.pack_int64(-1); },
    [](auto& pk) { pk.pack_double(1.5); },
    [](auto& pk) {
      pk.pack_str(1);
      pk.pack_str_body("x", 1);
    },
    [](auto& pk) {
      pk.pack_bin(3);
      pk.pack_bin_body("\x01\x02\x03", 3);
    },
    [](auto& pk) {
      pk.pack_bin(8);
      pk.pack_bin_body("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
    },
    [](auto& pk) { pk.pack_array(0); },
    [](auto& pk) {
      pk.pack_array(1);
      pk.pack_nil();
    },
};

// Loads `bytes` into a fresh state of operator `id`; a checkpoint_error(corrupt or version) is
// the only acceptable failure. Returns whether it loaded.
bool try_load(const operator_ptr& root, ftq::exec::execution_context& ctx, std::size_t id, const std::string& bytes,
              snapshot_kind kind, const snapshot* base) {
  root->init_states(ctx);
  if (base != nullptr) {
    load_state(*ctx.state_ptr(id), (*base)[id]);
  }
  try {
    load_state(*ctx.state_ptr(id), {bytes, kind});
    return true;
  } catch (const ftq::checkpoint_error& e) {
    const bool expected_code =
        e.code() == ftq::errc::checkpoint_corrupt || e.code() == ftq::errc::checkpoint_version_unsupported;
    CHECK_MESSAGE(expected_code, e.what());
    return false;
  }
}

struct campaign {
  std::size_t attempts = 0;
  std::size_t rejected = 0;
  std::size_t ran = 0;  // accepted sections the tree then ran to its end from
};

// A mutated section that loads must still leave a state that runs without undefined behaviour
// (a sanitizer build checks that); a typed exception is fine.
boost::asio::awaitable<void> run_to_end_or_throw(const operator_ptr& root, ftq::exec::execution_context& ctx,
                                                 campaign& c) {
  try {
    std::size_t batches = 0;
    while (co_await root->next(ctx)) {
      if (++batches > 100000) {
        break;
      }
    }
  } catch (const std::exception&) {
  }
  ++c.ran;
}

// Replaces every node of every section of `snap` by every replacement, and truncates and
// flips bytes; with `base`, the sections are deltas loaded on top of `base`.
void attack(const tree_factory& make, const snapshot& snap, const snapshot* base, campaign& c) {
  const operator_ptr root = make();
  run_coro([&](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 16, root->subtree_size(), nullptr);
    for (std::size_t id = 0; id < snap.size(); ++id) {
      const section& sec = snap[id];
      CAPTURE(id);
      REQUIRE(try_load(root, ctx, id, sec.bytes, sec.kind, base));  // the untouched section loads
      const msgpack::object_handle h = ftq::exec::unpack_section(sec.bytes.data(), sec.bytes.size());
      const std::size_t nodes = node_count(h.get());
      for (std::size_t target = 1; target < nodes; ++target) {
        for (const auto& with : replacements) {
          string_sink sink;
          ftq::exec::state_packer pk(sink);
          std::size_t counter = 0;
          pack_replacing(pk, h.get(), counter, target, with);
          ++c.attempts;
          if (try_load(root, ctx, id, sink.bytes, sec.kind, base)) {
            co_await run_to_end_or_throw(root, ctx, c);
          } else {
            ++c.rejected;
          }
        }
      }
      // Truncated at every length, and single bytes flipped.
      for (std::size_t len = 0; len < sec.bytes.size(); len += 1 + sec.bytes.size() / 64) {
        ++c.attempts;
        c.rejected += try_load(root, ctx, id, sec.bytes.substr(0, len), sec.kind, base) ? 0 : 1;
      }
      std::mt19937_64 rng(id);
      for (int k = 0; k < 64; ++k) {
        std::string flipped = sec.bytes;
        flipped[rng() % flipped.size()] ^= static_cast<char>(1 + rng() % 255);
        ++c.attempts;
        c.rejected += try_load(root, ctx, id, flipped, sec.kind, base) ? 0 : 1;
      }
    }
    co_return;
  });
}

// Snapshots a tree at a third and two thirds of its next() calls (full, then delta) and attacks both.
void attack_tree(const tree_factory& make, std::size_t batch_rows) {
  const run_log base = run_with(make, batch_rows, {});
  const std::size_t a = base.calls / 3;
  const std::size_t b = 2 * base.calls / 3;
  const run_log log = run_with(make, batch_rows, {{a, snapshot_kind::full, true}, {b, snapshot_kind::delta, true}});
  campaign c;
  attack(make, log.snaps[0].sections, nullptr, c);
  attack(make, log.snaps[1].sections, &log.snaps[0].sections, c);
  MESSAGE(c.attempts << " hostile sections, " << c.rejected << " rejected with checkpoint_error, " << c.ran
                     << " loaded and ran");
  CHECK(c.rejected > c.attempts / 2);
}

}  // namespace

TEST_CASE("every state rejects mutated, truncated and flipped sections with checkpoint_error") {
  const ftq::table_ptr t = make_table(mixed_schema(), mixed_rows(120, 30, 11), 9, true);
  const std::vector<agg_spec> aggs = {{agg_fn::sum, x_ref},
                                      {agg_fn::avg, y_ref},
                                      {agg_fn::min, s_ref},
                                      {agg_fn::max, y_ref},
                                      {agg_fn::count_distinct, x_ref},
                                      {agg_fn::count_distinct, s_ref}};
  attack_tree([=] { return aggregate(0, mixed_schema(), {0}, aggs, scan(t, 1)); }, 16);
  attack_tree([=] { return aggregate(0, mixed_schema(), {}, aggs, scan(t, 1)); }, 16);
  attack_tree([=] { return sort_op(0, mixed_schema(), {{y_ref, true}}, scan(t, 1)); }, 16);
  attack_tree([=] { return top_k_op(0, mixed_schema(), 7, {{x_ref, false}}, scan(t, 1)); }, 16);
  attack_tree([=] { return distinct_op(0, mixed_schema(), scan(t, 1)); }, 16);
  attack_tree([=] { return join_op(0, mixed_schema(), mixed_schema(), {0}, {0}, scan(t, 1), scan(t, 2)); }, 16);
  attack_tree([=] { return join_op(0, mixed_schema(), mixed_schema(), {3}, {3}, scan(t, 1), scan(t, 2)); }, 16);
  attack_tree(
      [=] {
        return operator_ptr(
            std::make_unique<result_drain>(2, std::make_unique<ftq::exec::memory_sink_operator>(0, scan(t, 1))));
      },
      16);
  attack_tree(
      [=] {
        return limit_op(0, mixed_schema(), 50, 3,
                        filter_op(1, mixed_schema(), expr_pred(ftq::expr_op::gt, {x_ref, lit_i(0)}),
                                  project_op(2, {g_ref, x_ref, y_ref, s_ref}, scan(t, 3))));
      },
      16);
}

TEST_CASE("a wrong tag or kind is corrupt, a newer version unsupported, an older known one loads") {
  const ftq::table_ptr t = make_table(mixed_schema(), mixed_rows(50, 5, 12), 9, false);
  const tree_factory make = [=] { return sort_op(0, mixed_schema(), {{x_ref, false}}, scan(t, 1)); };
  const run_log log = run_with(make, 16, {{3, snapshot_kind::full, true}});
  const section& sec = log.snaps[0].sections[0];
  const msgpack::object_handle h = ftq::exec::unpack_section(sec.bytes.data(), sec.bytes.size());
  const auto with_header = [&](std::size_t node, const std::function<void(ftq::exec::state_packer&)>& with) {
    string_sink sink;
    ftq::exec::state_packer pk(sink);
    std::size_t counter = 0;
    pack_replacing(pk, h.get(), counter, node, with);
    return sink.bytes;
  };
  const operator_ptr root = make();
  run_coro([&](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 16, root->subtree_size(), nullptr);
    root->init_states(ctx);
    const auto code_of = [&](const std::string& bytes, snapshot_kind kind) -> std::error_code {
      try {
        load_state(*ctx.state_ptr(0), {bytes, kind});
      } catch (const ftq::checkpoint_error& e) {
        return e.code();
      }
      return {};
    };
    const std::string wrong_tag = with_header(1, [](auto& pk) {
      pk.pack_str(5);
      pk.pack_str_body("top_k", 5);
    });
    CHECK((code_of(wrong_tag, snapshot_kind::full) == ftq::errc::checkpoint_corrupt));
    const std::string v2 = with_header(2, [](auto& pk) { pk.pack_uint32(2); });
    CHECK((code_of(v2, snapshot_kind::full) == ftq::errc::checkpoint_version_unsupported));
    const std::string v0 = with_header(2, [](auto& pk) { pk.pack_uint32(0); });
    CHECK((code_of(v0, snapshot_kind::full) == ftq::errc::checkpoint_corrupt));
    CHECK((code_of(sec.bytes, snapshot_kind::delta) == ftq::errc::checkpoint_corrupt));
    try {
      load_state(*ctx.state_ptr(0), {v2, snapshot_kind::full});
      FAIL("a newer version loaded");
    } catch (const ftq::checkpoint_error& e) {
      CHECK(std::string(e.what()).find("sort: state version 2") != std::string::npos);
    }
    const std::string truncated = with_header(0, [&](auto& pk) {
      pk.pack_array(h.get().via.array.size - 1);
      for (std::uint32_t i = 0; i + 1 < h.get().via.array.size; ++i) {
        pk.pack(h.get().via.array.ptr[i]);
      }
    });
    try {
      load_state(*ctx.state_ptr(0), {truncated, snapshot_kind::full});
      FAIL("a truncated array loaded");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_corrupt));
      CHECK(std::string(e.what()).find("expected array of 10") != std::string::npos);
    }
    const std::string nil_order = with_header(4 + 1 + 1, [](auto& pk) { pk.pack_str(0); });  // field 5 (rows)
    try {
      load_state(*ctx.state_ptr(0), {nil_order, snapshot_kind::full});
      FAIL("a string for the rows loaded");
    } catch (const ftq::checkpoint_error& e) {
      CHECK(std::string(e.what()).find("sort: field 5 (rows): expected array of 4, got str of 0 bytes") !=
            std::string::npos);
    }
    // The untouched section still loads after all that.
    root->init_states(ctx);
    load_state(*ctx.state_ptr(0), sec);
    co_return;
  });
}

TEST_CASE("forged lengths are rejected before anything is allocated for them") {
  const auto code_of = [](const std::string& bytes) -> std::error_code {
    try {
      (void)ftq::exec::unpack_section(bytes.data(), bytes.size());
    } catch (const ftq::checkpoint_error& e) {
      return e.code();
    }
    return {};
  };
  // An array declaring 2^32 - 1 elements, a bin declaring 4 GiB, each followed by 3 bytes.
  CHECK((code_of(std::string("\xdd\xff\xff\xff\xff\x01\x02\x03", 8)) == ftq::errc::checkpoint_corrupt));
  CHECK((code_of(std::string("\xc6\xff\xff\xff\xff\x01\x02\x03", 8)) == ftq::errc::checkpoint_corrupt));
  CHECK((code_of(std::string("\x92\x01", 2)) == ftq::errc::checkpoint_corrupt));  // truncated array
  CHECK((code_of(std::string("\x01\x02", 2)) == ftq::errc::checkpoint_corrupt));  // trailing bytes
  CHECK((code_of(std::string("\xc1", 1)) == ftq::errc::checkpoint_corrupt));      // never-used byte
  CHECK((code_of(std::string("\x91\x01", 2)) == std::error_code{}));              // [1] is fine
  // A column declaring more rows than its bins hold.
  const ftq::table_ptr t = make_table(mixed_schema(), mixed_rows(40, 5, 13), 40, false);
  const tree_factory make = [=] { return distinct_op(0, mixed_schema(), scan(t, 1)); };
  const run_log log = run_with(make, 64, {{2, snapshot_kind::full, true}});
  const msgpack::object_handle h =
      ftq::exec::unpack_section(log.snaps[0].sections[0].bytes.data(), log.snaps[0].sections[0].bytes.size());
  // [tag, v, kind, first id, [col0 = [type, rows, nulls, values], ...], done]: node 8 is col0 rows.
  string_sink sink;
  ftq::exec::state_packer pk(sink);
  std::size_t counter = 0;
  pack_replacing(pk, h.get(), counter, 8, [](auto& p) { p.pack_uint64(UINT32_MAX); });
  const operator_ptr root = make();
  run_coro([&](auto ex) -> boost::asio::awaitable<void> {
    ftq::exec::execution_context ctx(ex, 64, root->subtree_size(), nullptr);
    root->init_states(ctx);
    try {
      load_state(*ctx.state_ptr(0), {sink.bytes, snapshot_kind::full});
      FAIL("a forged row count loaded");
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_corrupt));
      CHECK(std::string(e.what()).find("expected bin of 4294967295 8-byte values") != std::string::npos);
    }
    co_return;
  });
}
