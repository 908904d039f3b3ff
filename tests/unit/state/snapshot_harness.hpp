#pragma once
// Drives operator trees with a scripted checkpoint trigger that snapshots every state at chosen
// next() calls, restores the snapshots into a fresh tree, and compares the resumed output with
// an uninterrupted run; plus node builders for every operator over in-memory tables.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/awaitable.hpp>

#include <ftq/table.hpp>

#include "core/byte_sink.hpp"
#include "exec/execution_context.hpp"
#include "exec/operators/csv_scan.hpp"
#include "exec/operators/distinct.hpp"
#include "exec/operators/filter.hpp"
#include "exec/operators/hash_aggregate.hpp"
#include "exec/operators/hash_join.hpp"
#include "exec/operators/limit.hpp"
#include "exec/operators/project.hpp"
#include "exec/operators/sort.hpp"
#include "exec/operators/table_scan.hpp"
#include "exec/operators/top_k.hpp"
#include "exec/physical_operator.hpp"
#include "exec/state/state_section.hpp"
#include "support/aggregate_nodes.hpp"
#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"

namespace ftq::test::snap {

using exec::operator_ptr;
using exec::snapshot_kind;

/// Keeps every byte written.
class string_sink final : public byte_sink {
 public:
  void write(const char* data, std::size_t size) override { bytes.append(data, size); }
  std::string bytes;
};

/// Counts bytes without keeping them.
class counting_sink final : public byte_sink {
 public:
  void write(const char*, std::size_t size) override { bytes += size; }
  std::uint64_t bytes = 0;
};

struct section {
  std::string bytes;
  snapshot_kind kind = snapshot_kind::full;
};
/// One section per operator id.
using snapshot = std::vector<section>;

inline section save_state(const exec::operator_state& st, snapshot_kind requested) {
  string_sink sink;
  exec::state_packer pk(sink);
  section s;
  s.kind = st.save(pk, requested);
  s.bytes = std::move(sink.bytes);
  return s;
}

/// As the engine's checkpoints do: prepare_snapshot() on every state (on the executor), then save.
inline snapshot save_all(exec::execution_context& ctx, snapshot_kind requested) {
  snapshot out;
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->prepare_snapshot();
  }
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    out.push_back(save_state(*ctx.state_ptr(id), requested));
  }
  return out;
}

inline void commit_all(exec::execution_context& ctx) {
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->snapshot_committed();
  }
}

inline void load_state(exec::operator_state& st, const section& s) {
  const msgpack::object_handle h = exec::unpack_section(s.bytes.data(), s.bytes.size());
  st.load(h.get(), s.kind);
}

inline void load_all(exec::execution_context& ctx, const snapshot& snap) {
  REQUIRE(snap.size() == ctx.operator_count());
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    load_state(*ctx.state_ptr(id), snap[id]);
  }
}

/// A row rendered exactly: doubles by their bits, strings with their length.
inline std::string exact(const row& r) {
  std::string out;
  for (const cell& c : r) {
    if (std::holds_alternative<std::monostate>(c)) {
      out += "N|";
    } else if (const auto* i = std::get_if<std::int64_t>(&c)) {
      out += "i" + std::to_string(*i) + "|";
    } else if (const auto* d = std::get_if<double>(&c)) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "d%a|", *d);
      out += buf;
    } else {
      const std::string& s = std::get<std::string>(c);
      out += "s" + std::to_string(s.size()) + ":" + s + "|";
    }
  }
  return out;
}

/// When to snapshot: at the `call`-th checkpoint_trigger::due() (one per next() of any operator).
struct snap_point {
  std::size_t call;
  snapshot_kind kind = snapshot_kind::full;
  bool commit = true;
};

struct taken {
  snapshot sections;
  bool committed = true;
  std::size_t rows_before = 0;  // root rows already produced when it was taken
};

/// Takes the scripted snapshots; after the last one also a full (uncommitted) reference save.
class scripted_trigger final : public exec::checkpoint_trigger {
 public:
  scripted_trigger(std::vector<snap_point> points, const std::vector<std::string>* rows)
      : points_(std::move(points)), rows_(rows) {}

  bool due(const exec::execution_context&) noexcept override {
    const std::size_t call = calls_++;
    return next_ < points_.size() && points_[next_].call == call;
  }
  boost::asio::awaitable<void> take(exec::execution_context& ctx) override {
    const snap_point p = points_[next_++];
    taken t;
    t.sections = save_all(ctx, p.kind);
    t.committed = p.commit;
    t.rows_before = rows_->size();
    if (p.commit) {
      commit_all(ctx);
    }
    snaps.push_back(std::move(t));
    if (next_ == points_.size()) {
      reference = save_all(ctx, snapshot_kind::full);
    }
    co_return;
  }

  std::size_t calls() const noexcept { return calls_; }

  std::vector<taken> snaps;
  snapshot reference;

 private:
  std::vector<snap_point> points_;
  const std::vector<std::string>* rows_;
  std::size_t calls_ = 0;
  std::size_t next_ = 0;
};

using tree_factory = std::function<operator_ptr()>;

struct run_log {
  std::vector<std::string> rows;
  std::vector<taken> snaps;
  snapshot reference;
  std::size_t calls = 0;
};

/// Runs a fresh tree to its end, snapshotting at `points`.
inline run_log run_with(const tree_factory& make, std::size_t batch_rows, std::vector<snap_point> points) {
  const operator_ptr root = make();
  return run_coro([&](auto ex) -> boost::asio::awaitable<run_log> {
    run_log log;
    exec::execution_context ctx(ex, batch_rows, root->subtree_size(), nullptr);
    root->init_states(ctx);
    scripted_trigger trigger(std::move(points), &log.rows);
    ctx.set_checkpoint_trigger(&trigger);
    while (std::optional<batch> b = co_await root->next(ctx)) {
      for (std::size_t i = 0; i < b->live_rows(); ++i) {
        row r;
        for (const auto& c : b->columns) {
          r.push_back(cell_at(*c, b->row_at(i)));
        }
        log.rows.push_back(exact(r));
      }
    }
    log.snaps = std::move(trigger.snaps);
    log.reference = std::move(trigger.reference);
    log.calls = trigger.calls();
    co_return log;
  });
}

struct resumed {
  std::vector<std::string> rows;
  snapshot resaved;  // a full save of every state right after loading
};

/// Loads `chain` (a full snapshot, then deltas) into a fresh tree and runs it to its end.
inline resumed resume(const tree_factory& make, std::size_t batch_rows, const std::vector<const snapshot*>& chain) {
  const operator_ptr root = make();
  return run_coro([&](auto ex) -> boost::asio::awaitable<resumed> {
    resumed out;
    exec::execution_context ctx(ex, batch_rows, root->subtree_size(), nullptr);
    root->init_states(ctx);
    for (const snapshot* s : chain) {
      load_all(ctx, *s);
    }
    out.resaved = save_all(ctx, snapshot_kind::full);
    while (std::optional<batch> b = co_await root->next(ctx)) {
      for (std::size_t i = 0; i < b->live_rows(); ++i) {
        row r;
        for (const auto& c : b->columns) {
          r.push_back(cell_at(*c, b->row_at(i)));
        }
        out.rows.push_back(exact(r));
      }
    }
    co_return out;
  });
}

/// Loads `chain` into a fresh tree and returns a full save of every state, without running it.
inline snapshot reload(const tree_factory& make, std::size_t batch_rows, const std::vector<const snapshot*>& chain) {
  const operator_ptr root = make();
  return run_coro([&](auto ex) -> boost::asio::awaitable<snapshot> {
    exec::execution_context ctx(ex, batch_rows, root->subtree_size(), nullptr);
    root->init_states(ctx);
    for (const snapshot* s : chain) {
      load_all(ctx, *s);
    }
    co_return save_all(ctx, snapshot_kind::full);
  });
}

inline bool same_bytes(const snapshot& a, const snapshot& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].bytes != b[i].bytes) {
      if (std::getenv("FTQ_DEBUG_SNAP") != nullptr) {
        const auto ha = exec::unpack_section(a[i].bytes.data(), a[i].bytes.size());
        const auto hb = exec::unpack_section(b[i].bytes.data(), b[i].bytes.size());
        std::ostringstream sa, sb;
        sa << ha.get();
        sb << hb.get();
        MESSAGE("section " << i << " differs:\n" << sa.str() << "\n" << sb.str());
      }
      return false;
    }
  }
  return true;
}

struct round_trip_stats {
  std::size_t calls = 0;
  std::size_t restores = 0;
  std::size_t delta_sections = 0;  // sections packed as deltas (by states that support them)
};

/// Snapshots at `points`, restores the committed ones in order, and checks that the resumed rows
/// complete the uninterrupted run's and that the restored states re-save byte for byte.
inline void check_points(const tree_factory& make, std::size_t batch_rows, const std::vector<std::string>& expected,
                         const std::vector<snap_point>& points, round_trip_stats& stats) {
  const run_log log = run_with(make, batch_rows, points);
  CHECK(log.rows == expected);  // snapshots must not disturb the run
  REQUIRE(log.snaps.size() == points.size());
  std::vector<const snapshot*> chain;
  std::size_t rows_before = 0;
  for (const taken& t : log.snaps) {
    if (!t.committed) {
      continue;
    }
    chain.push_back(&t.sections);
    rows_before = t.rows_before;
    for (const section& s : t.sections) {
      stats.delta_sections += s.kind == snapshot_kind::delta ? 1 : 0;
    }
  }
  const resumed r = resume(make, batch_rows, chain);
  ++stats.restores;
  std::vector<std::string> whole(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(rows_before));
  whole.insert(whole.end(), r.rows.begin(), r.rows.end());
  CHECK(whole == expected);
  // The restored states hold exactly what the originals held at the last snapshot. Only
  // meaningful when the last snapshot was committed (else the originals moved on).
  if (log.snaps.back().committed) {
    CHECK(same_bytes(r.resaved, log.reference));
  }
}

/// Runs the tree once uninterrupted, then snapshots at every next() call (full), and along
/// random chains of a full snapshot and 1..3 deltas (one uncommitted save among them at times).
inline round_trip_stats check_round_trips(const tree_factory& make, std::size_t batch_rows, std::size_t chains = 12,
                                          std::size_t max_points = 160) {
  const run_log base = run_with(make, batch_rows, {});
  round_trip_stats stats;
  stats.calls = base.calls;
  REQUIRE(base.calls > 0);
  const std::size_t stride = base.calls > max_points ? (base.calls + max_points - 1) / max_points : 1;
  for (std::size_t p = 0; p < base.calls; p += stride) {
    CAPTURE(p);
    check_points(make, batch_rows, base.rows, {{p, snapshot_kind::full, true}}, stats);
  }
  check_points(make, batch_rows, base.rows, {{base.calls - 1, snapshot_kind::full, true}}, stats);
  std::mt19937_64 rng(base.calls * 7919 + batch_rows);
  for (std::size_t c = 0; c < chains; ++c) {
    const std::size_t n = 2 + rng() % 3;
    std::vector<std::size_t> calls;
    for (std::size_t i = 0; i < n; ++i) {
      calls.push_back(rng() % base.calls);
    }
    std::sort(calls.begin(), calls.end());
    calls.erase(std::unique(calls.begin(), calls.end()), calls.end());
    std::vector<snap_point> points;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const bool uncommitted = i > 0 && i + 1 < calls.size() && c % 3 == 1;
      points.push_back({calls[i], i == 0 ? snapshot_kind::full : snapshot_kind::delta, !uncommitted});
    }
    CAPTURE(c);
    check_points(make, batch_rows, base.rows, points, stats);
  }
  return stats;
}

// --- Trees -------------------------------------------------------------------------------------

inline table_ptr make_table(const schema& s, const std::vector<row>& rows, std::size_t per_batch, bool selected) {
  return std::make_shared<table>("t", s, make_batches(s, rows, per_batch, selected));
}

inline bound_node table_node(const table_ptr& t, std::size_t id) {
  bound_node n = table_scan_node(t, id);
  n.path = "scan";
  return n;
}

inline operator_ptr scan(const table_ptr& t, std::size_t id) {
  return std::make_unique<exec::table_scan_operator>(table_node(t, id));
}

inline bound_node node(ftq::node_kind kind, std::size_t id, schema out) {
  bound_node n;
  n.kind = kind;
  n.id = id;
  n.path = "plan";
  n.output = std::move(out);
  return n;
}

/// Groups the child's rows by input columns `group_cols` and computes `aggs`; id of the aggregate `id`.
inline operator_ptr aggregate(std::size_t id, const schema& in, const std::vector<std::size_t>& group_cols,
                              const std::vector<agg_spec>& aggs, operator_ptr child) {
  return std::make_unique<exec::hash_aggregate_operator>(aggregate_node(id, in, group_cols, aggs), std::move(child));
}

struct sort_key {
  bound_expr value;
  bool descending = false;
};

inline operator_ptr sort_op(std::size_t id, const schema& in, const std::vector<sort_key>& keys, operator_ptr child) {
  bound_node n = node(ftq::node_kind::sort, id, in);
  for (const auto& k : keys) {
    n.keys.push_back({k.value, k.descending});
  }
  return std::make_unique<exec::sort_operator>(n, std::move(child));
}

inline operator_ptr top_k_op(std::size_t id, const schema& in, std::int64_t k, const std::vector<sort_key>& keys,
                             operator_ptr child) {
  bound_node n = node(ftq::node_kind::top_k, id, in);
  n.limit = k;
  for (const auto& key : keys) {
    n.keys.push_back({key.value, key.descending});
  }
  return std::make_unique<exec::top_k_operator>(n, std::move(child));
}

inline operator_ptr join_op(std::size_t id, const schema& probe_s, const schema& build_s,
                            const std::vector<std::size_t>& probe_keys, const std::vector<std::size_t>& build_keys,
                            operator_ptr probe, operator_ptr build) {
  std::vector<field> out = probe_s.fields();
  for (const auto& f : build_s.fields()) {
    out.push_back({"b_" + f.name, f.type});
  }
  bound_node n = node(ftq::node_kind::hash_join, id, schema(out));
  for (std::size_t k : probe_keys) {
    n.probe_keys.push_back(column_ref(k, probe_s[k].type));
  }
  for (std::size_t k : build_keys) {
    n.build_keys.push_back(column_ref(k, build_s[k].type));
  }
  return std::make_unique<exec::hash_join_operator>(n, std::move(probe), std::move(build));
}

inline operator_ptr filter_op(std::size_t id, const schema& in, bound_expr predicate, operator_ptr child) {
  bound_node n = node(ftq::node_kind::filter, id, in);
  n.predicate = std::move(predicate);
  return std::make_unique<exec::filter_operator>(n, std::move(child));
}

inline operator_ptr project_op(std::size_t id, std::vector<bound_expr> exprs, operator_ptr child) {
  std::vector<field> out;
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    out.push_back({"p" + std::to_string(i), exprs[i].type});
  }
  bound_node n = node(ftq::node_kind::project, id, schema(out));
  n.exprs = std::move(exprs);
  return std::make_unique<exec::project_operator>(n, std::move(child));
}

inline operator_ptr limit_op(std::size_t id, const schema& in, std::int64_t limit, std::int64_t offset,
                             operator_ptr child) {
  bound_node n = node(ftq::node_kind::limit, id, in);
  n.limit = limit;
  n.offset = offset;
  return std::make_unique<exec::limit_operator>(n, std::move(child));
}

inline operator_ptr distinct_op(std::size_t id, const schema& in, operator_ptr child) {
  return std::make_unique<exec::distinct_operator>(node(ftq::node_kind::distinct, id, in), std::move(child));
}

// --- Data --------------------------------------------------------------------------------------

/// g (int64, few groups, NULLs), x (int64, NULLs), y (float64, NULLs), s (string, NULLs).
inline const schema& mixed_schema() {
  static const schema s(
      {{"g", type_id::int64}, {"x", type_id::int64}, {"y", type_id::float64}, {"s", type_id::string}});
  return s;
}

/// `n` rows of mixed_schema(): `groups` distinct g values, every 7th value of a column NULL.
inline std::vector<row> mixed_rows(std::size_t n, std::size_t groups, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    row r;
    r.push_back(rng() % 11 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % groups)));
    r.push_back(rng() % 7 == 0 ? null_cell : cell(static_cast<std::int64_t>(rng() % 1000) - 300));
    r.push_back(rng() % 7 == 0 ? null_cell : cell(static_cast<double>(rng() % 100000) / 64.0 - 500.0));
    static const char* words[] = {"",         "a",  "bb", "apple", "zebra crossing", "a longer string than sixteen",
                                  "quote\"d", "x,y"};
    r.push_back(rng() % 7 == 0 ? null_cell : cell(std::string(words[rng() % 8]) + std::to_string(rng() % 5)));
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace ftq::test::snap
