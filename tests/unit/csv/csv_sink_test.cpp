#include "exec/operators/csv_sink.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "core/byte_sink.hpp"
#include "exec/state/state_section.hpp"
#include "support/operator_harness.hpp"
#include "support/run_coro.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using boost::asio::awaitable;
using ftq::batch;
using ftq::schema;
using ftq::type_id;
using ftq::exec::csv_sink_operator;
using ftq::exec::csv_sink_state;
using ftq::exec::execution_context;

namespace {

using namespace ftq::test;

const schema result_schema({{"flag", type_id::string}, {"sum_qty", type_id::float64}, {"n", type_id::int64}});

std::vector<batch> result_batches() {
  auto flag = std::make_shared<ftq::column>(type_id::string);
  auto qty = std::make_shared<ftq::column>(type_id::float64);
  auto n = std::make_shared<ftq::column>(type_id::int64);
  flag->strings = {"A", "N", "R"};
  qty->doubles = {625120, 17127.5, 0.1 + 0.2};
  n->ints = {24491, 645, 48845};
  batch b;
  b.rows = 3;
  b.columns = {flag, qty, n};
  batch tail = b;
  tail.has_selection = true;
  tail.selection = {2};
  return {b, tail};
}

/// Runs `sink` to its end; returns what the first produce() call gave back.
std::optional<batch> run_sink(const csv_sink_operator& sink, std::function<void(execution_context&)> after = {}) {
  return ftq::test::run_coro([&](auto ex) -> awaitable<std::optional<batch>> {
    execution_context ctx(ex, 1024, sink.subtree_size(), nullptr);
    sink.init_states(ctx);
    auto out = co_await sink.next(ctx);
    if (after) {
      after(ctx);
    }
    co_return out;
  });
}

}  // namespace

TEST_CASE("csv_sink writes every live row of its child, then puts the file in place") {
  temp_dir dir;
  const fs::path out = dir.path() / "q1.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  CHECK(sink.name() == "csv_sink");
  CHECK(sink.output_schema().size() == 0);
  CHECK(sink.subtree_size() == 2);
  bool checked = false;
  const auto first = run_sink(sink, [&](execution_context& ctx) {
    const auto& st = ctx.state<csv_sink_state>(1);
    CHECK(st.finished);
    CHECK(st.rows_written == 4);
    CHECK(st.bytes_written == fs::file_size(out));
    CHECK(ctx.progress().rows_out.load() == 4);
    checked = true;
  });
  CHECK_FALSE(first);
  CHECK(checked);
  CHECK(read_file(out) ==
        "flag,sum_qty,n\n"
        "A,625120,24491\n"
        "N,17127.5,645\n"
        "R,0.30000000000000004,48845\n"
        "R,0.30000000000000004,48845\n");
  CHECK(dir.entries() == 1);
}

TEST_CASE("csv_sink returns nullopt on every call after it finished, without rewriting") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 1024, 2, nullptr);
    sink.init_states(ctx);
    CHECK_FALSE(co_await sink.next(ctx));
    fs::remove(out);
    CHECK_FALSE(co_await sink.next(ctx));
    CHECK_FALSE(fs::exists(out));
  });
}

TEST_CASE("a failing child leaves neither the result nor a temp file") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  std::vector<batch> many;
  for (int i = 0; i < 5; ++i) {
    for (auto& b : result_batches()) {
      many.push_back(b);
    }
  }
  const csv_sink_operator sink(1, out, std::make_unique<batch_source>(0, result_schema, many, 7, "plan"));
  CHECK_THROWS_WITH(run_sink(sink), "injected failure");
  CHECK_FALSE(fs::exists(out));
  CHECK(dir.entries() == 0);
}

TEST_CASE("a cancelled query leaves no result file") {
  temp_dir dir;
  const fs::path out = dir.path() / "r.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, result_batches(), std::nullopt, "plan"));
  try {
    ftq::test::run_coro([&](auto ex) -> awaitable<void> {
      execution_context ctx(ex, 1024, 2, nullptr);
      sink.init_states(ctx);
      ctx.cancel();
      co_await sink.next(ctx);
    });
    FAIL("not cancelled");
  } catch (const ftq::error& e) {
    CHECK(e.code() == ftq::errc::query_cancelled);
  }
  CHECK(dir.entries() == 0);
}

TEST_CASE("an empty child still produces a file with the header") {
  temp_dir dir;
  const fs::path out = dir.path() / "empty.csv";
  const csv_sink_operator sink(
      1, out, std::make_unique<batch_source>(0, result_schema, std::vector<batch>{}, std::nullopt, "plan"));
  run_sink(sink);
  CHECK(read_file(out) == "flag,sum_qty,n\n");
}

// --- Resumable sinks --------------------------------------------------------------------------

namespace {

using ftq::exec::snapshot_kind;

class string_sink final : public ftq::byte_sink {
 public:
  void write(const char* data, std::size_t size) override { bytes.append(data, size); }
  std::string bytes;
};

/// Every state of `ctx`, packed full, in operator-id order.
using snapshot = std::vector<std::string>;

std::string save_one(const ftq::exec::operator_state& st) {
  string_sink sink;
  ftq::exec::state_packer pk(sink);
  st.save(pk, snapshot_kind::full);
  return std::move(sink.bytes);
}

void load_one(ftq::exec::operator_state& st, const std::string& bytes) {
  const msgpack::object_handle h = ftq::exec::unpack_section(bytes.data(), bytes.size());
  st.load(h.get(), snapshot_kind::full);
}

void load_all(execution_context& ctx, const snapshot& snap) {
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    load_one(*ctx.state_ptr(id), snap[id]);
  }
}

/// A checkpoint as the engine takes one: prepare every state, save, sync, commit.
snapshot checkpoint(execution_context& ctx) {
  snapshot out;
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->prepare_snapshot();
  }
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    out.push_back(save_one(*ctx.state_ptr(id)));
  }
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->sync_snapshot();
  }
  for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
    ctx.state_ptr(id)->snapshot_committed();
  }
  return out;
}

/// What the process does at a checkpoint_trigger::due() call (one per next() of any operator).
enum class action {
  checkpoint,  // a committed checkpoint
  flush_only,  // a checkpoint that never commits: its bytes reach the file all the same
  crash,       // the process dies (an exception nobody catches; the sink keeps its partial file)
  rollback,    // in-process recovery: every state goes back to the last checkpoint
};

struct killed {};

class scripted_trigger final : public ftq::exec::checkpoint_trigger {
 public:
  explicit scripted_trigger(std::map<std::size_t, action> plan) : plan_(std::move(plan)) {}

  bool due(const execution_context&) noexcept override {
    call_ = calls_++;
    if (observe) {
      observe(call_);
    }
    return plan_.count(call_) > 0;
  }
  awaitable<void> take(execution_context& ctx) override {
    switch (plan_.at(call_)) {
      case action::checkpoint:
        saved = checkpoint(ctx);
        break;
      case action::flush_only:
        for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
          ctx.state_ptr(id)->prepare_snapshot();
        }
        break;
      case action::crash:
        throw killed{};
      case action::rollback:
        for (std::size_t id = 0; id < ctx.operator_count(); ++id) {
          ctx.state_ptr(id)->prepare_snapshot();  // so that the rollback cuts the file, not just the buffer
        }
        load_all(ctx, saved);
        ++rollbacks;
        break;
    }
    co_return;
  }

  std::size_t calls() const noexcept { return calls_; }

  snapshot saved;  // the last committed checkpoint
  std::size_t rollbacks = 0;
  std::function<void(std::size_t)> observe;

 private:
  std::map<std::size_t, action> plan_;
  std::size_t calls_ = 0;
  std::size_t call_ = 0;
};

const schema wide_schema({{"k", type_id::int64}, {"s", type_id::string}, {"y", type_id::float64}});

const std::vector<batch>& wide_batches() {
  static const std::vector<batch> batches = [] {
    std::vector<row> rows;
    for (std::int64_t i = 0; i < 600; ++i) {
      rows.push_back({i % 13 == 0 ? null_cell : cell(i * 7919 - 1000),
                      i % 11 == 0 ? null_cell : cell("text, \"" + std::to_string(i) + "\""),
                      cell(static_cast<double>(i) / 3.0)});
    }
    return make_batches(wide_schema, rows, 20, true);
  }();
  return batches;
}

std::unique_ptr<csv_sink_operator> make_sink(const fs::path& out, std::string name,
                                             std::optional<std::size_t> fail_at = std::nullopt) {
  return std::make_unique<csv_sink_operator>(
      1, out, std::make_unique<batch_source>(0, wide_schema, wide_batches(), fail_at, "plan"), std::move(name));
}

/// Runs `sink` to its end, from `from` when given, checkpointing as `trigger` says.
void run_tree(const csv_sink_operator& sink, scripted_trigger* trigger, const snapshot* from) {
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 1024, sink.subtree_size(), nullptr);
    sink.init_states(ctx);
    if (from != nullptr) {
      load_all(ctx, *from);
    }
    ctx.set_checkpoint_trigger(trigger);
    while (std::optional<batch> b = co_await sink.next(ctx)) {
    }
  });
}

/// The file an uninterrupted run writes, and how many due() calls the run makes.
struct reference_run {
  std::string file;
  std::size_t calls = 0;
};

reference_run uninterrupted() {
  temp_dir dir;
  const auto sink = make_sink(dir / "r.csv", "");
  scripted_trigger counter({});
  run_tree(*sink, &counter, nullptr);
  return {read_file_or_fail(dir / "r.csv"), counter.calls()};
}

}  // namespace

TEST_CASE("partial_path names the resumable temp file; a name with a slash is refused") {
  CHECK(csv_sink_operator::partial_path("/d/r.csv", "q1-0123abcd") == fs::path("/d/r.csv.partial-q1-0123abcd"));
  CHECK_THROWS_AS(csv_sink_operator::partial_path("/d/r.csv", "../x"), ftq::error);
  CHECK_THROWS_AS(make_sink("/d/r.csv", "a/b"), ftq::error);
  const auto sink = make_sink("/d/r.csv", "q");
  CHECK(sink->partial() == fs::path("/d/r.csv.partial-q"));
  CHECK(make_sink("/d/r.csv", "")->partial().empty());
}

TEST_CASE("a resumable sink killed anywhere resumes from its last checkpoint to a byte-identical file") {
  const reference_run ref = uninterrupted();
  REQUIRE(ref.calls > 20);
  std::size_t resumed = 0;
  for (std::size_t ckpt = 0; ckpt + 1 < ref.calls; ckpt += 2) {
    for (const std::size_t crash : {ckpt + 1, ckpt + 4, ref.calls - 1}) {
      if (crash <= ckpt || crash >= ref.calls) {
        continue;
      }
      CAPTURE(ckpt);
      CAPTURE(crash);
      temp_dir dir;
      const fs::path out = dir / "r.csv";
      std::map<std::size_t, action> plan = {{ckpt, action::checkpoint}, {crash, action::crash}};
      if (crash > ckpt + 2) {
        plan[ckpt + 2] = action::flush_only;  // bytes after the checkpoint reach the file
      }
      scripted_trigger first(plan);
      CHECK_THROWS_AS(run_tree(*make_sink(out, "q"), &first, nullptr), killed);
      CHECK_FALSE(fs::exists(out));
      REQUIRE(first.saved.size() == 2);
      // The process is gone; a new one loads the checkpoint and finishes.
      const auto sink = make_sink(out, "q");
      run_tree(*sink, nullptr, &first.saved);
      CHECK(read_file_or_fail(out) == ref.file);
      CHECK_FALSE(fs::exists(sink->partial()));
      CHECK(dir.entries() == 1);
      ++resumed;
    }
  }
  CHECK(resumed > ref.calls);
}

TEST_CASE("a partial file that is missing or shorter than the checkpoint recorded is checkpoint_corrupt, naming it") {
  const reference_run ref = uninterrupted();
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  const fs::path partial = csv_sink_operator::partial_path(out, "q");
  scripted_trigger first({{ref.calls / 2, action::checkpoint}, {ref.calls / 2 + 3, action::crash}});
  CHECK_THROWS_AS(run_tree(*make_sink(out, "q"), &first, nullptr), killed);
  const msgpack::object_handle h = ftq::exec::unpack_section(first.saved[1].data(), first.saved[1].size());
  const std::uint64_t bytes = h.get().via.array.ptr[4].as<std::uint64_t>();
  REQUIRE(fs::file_size(partial) >= bytes);
  const auto load_error = [&](const std::string& name) -> std::string {
    try {
      run_tree(*make_sink(out, name), nullptr, &first.saved);
    } catch (const ftq::checkpoint_error& e) {
      CHECK((e.code() == ftq::errc::checkpoint_corrupt));
      return e.what();
    }
    FAIL("the checkpoint loaded");
    return {};
  };
  fs::resize_file(partial, bytes - 1);
  const std::string short_file = load_error("q");
  CHECK(short_file.find("the partial output " + partial.string() + " has " + std::to_string(bytes - 1) + " of " +
                        std::to_string(bytes) + " bytes") != std::string::npos);
  CHECK(fs::file_size(partial) == bytes - 1);  // left for an older checkpoint to use
  fs::remove(partial);
  CHECK(load_error("q").find("the partial output " + partial.string() + " is missing") != std::string::npos);
  // A sink without a resume name has no file to continue.
  CHECK(load_error("").find("no resume name") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("a resumable sink starting afresh truncates a partial file an earlier run left") {
  const reference_run ref = uninterrupted();
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  write_file(csv_sink_operator::partial_path(out, "q"), std::string(100000, 'x'));
  run_tree(*make_sink(out, "q"), nullptr, nullptr);
  CHECK(read_file_or_fail(out) == ref.file);
  CHECK(dir.entries() == 1);
}

TEST_CASE("no reader sees the result before the sink finishes: the old result stays until the rename") {
  const reference_run ref = uninterrupted();
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  write_file(out, "an older result\n");
  scripted_trigger watch({{3, action::checkpoint}, {9, action::flush_only}, {ref.calls / 2, action::crash}});
  std::size_t observed = 0;
  watch.observe = [&](std::size_t) { observed += read_file(out) == "an older result\n" ? 1 : 0; };
  CHECK_THROWS_AS(run_tree(*make_sink(out, "q"), &watch, nullptr), killed);
  scripted_trigger resumed_watch({});
  resumed_watch.observe = watch.observe;
  run_tree(*make_sink(out, "q"), &resumed_watch, &watch.saved);
  CHECK(observed == watch.calls() + resumed_watch.calls());  // no next() call comes after the rename
  CHECK(read_file_or_fail(out) == ref.file);
}

TEST_CASE("a failed or cancelled resumable sink keeps its partial file; a plain one removes its temp file") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  CHECK_THROWS_WITH(run_tree(*make_sink(out, "q", 5), nullptr, nullptr), "injected failure");
  CHECK(fs::exists(csv_sink_operator::partial_path(out, "q")));
  CHECK_FALSE(fs::exists(out));
  CHECK_THROWS_WITH(run_tree(*make_sink(out, "", 5), nullptr, nullptr), "injected failure");
  CHECK(dir.entries() == 1);  // the partial file of the first run only
  fs::remove(csv_sink_operator::partial_path(out, "q"));
  const auto sink = make_sink(out, "q");
  try {
    ftq::test::run_coro([&](auto ex) -> awaitable<void> {
      execution_context ctx(ex, 1024, 2, nullptr);
      sink->init_states(ctx);
      scripted_trigger cancel_at({});
      cancel_at.observe = [&](std::size_t call) {
        if (call == 4) {
          ctx.cancel();
        }
      };
      ctx.set_checkpoint_trigger(&cancel_at);
      while (std::optional<batch> b = co_await sink->next(ctx)) {
      }
    });
    FAIL("not cancelled");
  } catch (const ftq::error& e) {
    CHECK((e.code() == ftq::errc::query_cancelled));
  }
  CHECK(fs::exists(sink->partial()));
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("an in-process rollback rewinds the open writer, resumable or not") {
  const reference_run ref = uninterrupted();
  for (const std::string name : {"q", ""}) {
    for (std::size_t ckpt = 0; ckpt + 2 < ref.calls; ckpt += 3) {
      CAPTURE(name);
      CAPTURE(ckpt);
      temp_dir dir;
      const fs::path out = dir / "r.csv";
      scripted_trigger rollback({{ckpt, action::checkpoint}, {ckpt + 2, action::rollback}});
      run_tree(*make_sink(out, name), &rollback, nullptr);
      CHECK(rollback.rollbacks == 1);
      CHECK(read_file_or_fail(out) == ref.file);
      CHECK(dir.entries() == 1);
    }
  }
}

TEST_CASE("a sink restored as finished writes nothing more") {
  temp_dir dir;
  const fs::path out = dir / "r.csv";
  csv_sink_state done(out, {}, wide_schema);
  done.rows_written = 600;
  done.bytes_written = 30000;
  done.finished = true;
  const std::string section = save_one(done);
  const auto sink = make_sink(out, "q");
  ftq::test::run_coro([&](auto ex) -> awaitable<void> {
    execution_context ctx(ex, 1024, 2, nullptr);
    sink->init_states(ctx);
    load_one(ctx.state<csv_sink_state>(1), section);
    CHECK(ctx.state<csv_sink_state>(1).finished);
    CHECK(ctx.state<csv_sink_state>(1).rows_written == 600);
    CHECK_FALSE(co_await sink->next(ctx));
  });
  CHECK(dir.entries() == 0);
}

TEST_CASE("csv_sink sections: v1 loads, rows beyond the bytes are corrupt, a newer version unsupported") {
  temp_dir dir;
  const auto pack = [](std::uint32_t version, std::uint64_t rows, std::uint64_t bytes, bool finished) {
    string_sink sink;
    ftq::exec::state_packer pk(sink);
    ftq::exec::pack_header(pk, "csv_sink", version, snapshot_kind::full, 3);
    pk.pack_uint64(rows);
    pk.pack_uint64(bytes);
    pk.pack(finished);
    return sink.bytes;
  };
  const auto code_of = [&](const std::string& bytes) -> std::error_code {
    csv_sink_state st(dir / "r.csv", dir / "r.csv.partial-q", wide_schema);
    try {
      load_one(st, bytes);
    } catch (const ftq::checkpoint_error& e) {
      return e.code();
    }
    return {};
  };
  CHECK((code_of(pack(1, 600, 30000, true)) == std::error_code{}));
  CHECK((code_of(pack(2, 0, 0, false)) == std::error_code{}));  // not started: nothing to reopen
  CHECK((code_of(pack(2, 7, 6, false)) == ftq::errc::checkpoint_corrupt));
  CHECK((code_of(pack(1, 2, 100, false)) == ftq::errc::checkpoint_corrupt));  // no partial file
  CHECK((code_of(pack(3, 2, 100, false)) == ftq::errc::checkpoint_version_unsupported));
  write_file(dir / "r.csv.partial-q", std::string(100, 'x'));
  CHECK((code_of(pack(1, 2, 100, false)) == std::error_code{}));
  CHECK(dir.entries() == 1);
}
