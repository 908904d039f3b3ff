#include "recovery_runner.hpp"

#include <bit>
#include <cstring>

#include <boost/asio/co_spawn.hpp>

#include <ftq/error.hpp>

namespace ftq::bench {

namespace {

constexpr std::uint64_t fnv_offset = 1469598103934665603ull;
constexpr std::uint64_t fnv_prime = 1099511628211ull;

std::uint64_t fnv(std::uint64_t h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h = (h ^ p[i]) * fnv_prime;
  }
  return h;
}

// splitmix64's finalizer: a row hash summed into the unordered digest must be well mixed, or
// different multisets of rows could sum alike.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void add_batch(result_digest& d, const batch& b) {
  for (std::size_t i = 0; i < b.live_rows(); ++i) {
    const std::uint32_t row = b.row_at(i);
    std::uint64_t h = fnv_offset;
    for (const auto& c : b.columns) {
      const std::uint8_t null = c->is_null(row) ? 1 : 0;
      h = fnv(h, &null, 1);
      if (null != 0) {
        continue;
      }
      if (c->type == type_id::int64) {
        h = fnv(h, &c->ints[row], sizeof(std::int64_t));
      } else if (c->type == type_id::float64) {
        const auto bits = std::bit_cast<std::uint64_t>(c->doubles[row]);
        h = fnv(h, &bits, sizeof bits);
      } else {
        const std::uint64_t n = c->strings[row].size();
        h = fnv(h, &n, sizeof n);
        h = fnv(h, c->strings[row].data(), c->strings[row].size());
      }
    }
    d.ordered = mix(d.ordered ^ h) + d.rows;
    d.unordered += mix(h);
    ++d.rows;
  }
}

}  // namespace

recovery_runner::recovery_runner(engine_options base, const std::filesystem::path& checkpoint_dir)
    : base_(std::move(base)) {
  std::filesystem::remove_all(checkpoint_dir);
  checkpoint_options co;
  co.dir = checkpoint_dir;
  co.key_env.clear();  // a key in the environment would add encryption to what is measured
  manager_ = std::make_shared<checkpoint_manager>(io_.get_executor(), co);
}

recovery_runner::~recovery_runner() = default;

run_result recovery_runner::run(const run_spec& spec) {
  engine_options options = base_;
  options.fault_tolerance.faults = spec.faults;
  if (spec.prior_mtbf) {
    options.fault_tolerance.checkpoint_interval.prior_mtbf = *spec.prior_mtbf;
  }
  if (spec.recovery) {
    options.fault_tolerance.recovery = *spec.recovery;
  }
  plan p = *spec.query;
  if (!spec.name.empty()) {
    p.name = spec.name;
  }
  query_options qo;
  if (spec.checkpoints) {
    qo.checkpoints.manager = manager_;
    qo.checkpoints.query_id = p.name + "-run" + std::to_string(++runs_);
    qo.checkpoints.every_rows = spec.every_rows;
    qo.checkpoints.fresh = true;
  }

  run_result r;
  std::exception_ptr failure;
  std::optional<query_result> result;
  {
    engine eng(io_.get_executor(), options);
    const auto started = std::chrono::steady_clock::now();
    query_ptr q = eng.prepare(p, qo);
    boost::asio::co_spawn(io_, eng.run(q), [&](std::exception_ptr e, query_result out) {
      failure = e;
      if (!e) {
        result = std::move(out);
      }
    });
    io_.restart();
    io_.run();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    r.ft = q->fault_tolerance();
    r.checkpoints = q->checkpoints();
    const interval_choice ic = q->checkpoint_interval();
    r.interval = ic.interval;
    r.interval_formula = std::string(ic.formula);
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const error& e) {
      r.code = e.code();
      r.error = e.what();
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  }
  r.ok = true;
  for (const batch& b : result->batches) {
    add_batch(r.digest, b);
  }
  return r;
}

}  // namespace ftq::bench
