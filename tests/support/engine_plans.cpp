#include "support/engine_plans.hpp"

#include <iterator>
#include <map>
#include <mutex>
#include <optional>

#include "rados/connection.hpp"
#include "support/checkpoint_store_fixture.hpp"
#include "support/kvs_table.hpp"

namespace ftq::test {

table_ptr make_engine_table(std::size_t rows, std::int64_t groups) {
  return make_kvs_table(
      {.rows = rows, .groups = groups, .batch_rows = 1000, .key_multiplier = 7919, .value_scale = 0.5});
}

std::vector<plan> blocking_plans() {
  std::vector<plan> plans;
  plans.push_back(plan_builder::table_scan("t")
                      .aggregate({col("k")}, {sum(col("v"), "sv"), count_star("n"), min(col("s"), "ms"),
                                              count_distinct(col("s"), "ds")})
                      .sort({asc(col("k"))})
                      .build("grouped"));
  plans.push_back(plan_builder::table_scan("t").top_k({desc(col("v")), asc(col("k"))}, 25).build("topk"));
  plans.push_back(plan_builder::table_scan("t")
                      .hash_join(plan_builder::table_scan("t")
                                     .filter(col("k") < lit(std::int64_t{20}))
                                     .project({named_expr{col("k"), "bk"}, named_expr{col("s"), "bs"}}),
                                 {col("k")}, {col("bk")})
                      .aggregate({col("bs")}, {count_star("n"), sum(col("v"), "sv")})
                      .sort({asc(col("bs"))})
                      .build("joined"));
  plans.push_back(plan_builder::table_scan("t")
                      .filter(col("k") < lit(std::int64_t{50}))
                      .sort({asc(col("s")), desc(col("v"))})
                      .limit(300)
                      .build("sorted"));
  return plans;
}

plan streaming_plan() {
  return plan_builder::table_scan("t")
      .filter(col("k") < lit(std::int64_t{400}))
      .project({named_expr{col("k"), "k"}, named_expr{col("v") * lit(2.0), "v2"}, named_expr{col("s"), "s"}})
      .build("streaming");
}

std::string render(const query_result& r) {
  std::string out;
  for (const auto& b : r.batches) {
    const batch c = b.has_selection ? b.compacted() : b;
    for (std::size_t row = 0; row < c.rows; ++row) {
      for (const auto& col : c.columns) {
        if (col->is_null(row)) {
          out += "NULL";
        } else if (col->type == type_id::int64) {
          out += std::to_string(col->ints[row]);
        } else if (col->type == type_id::float64) {
          out += std::to_string(col->doubles[row]);
        } else {
          out += std::string(col->strings[row]);
        }
        out += ',';
      }
      out += '\n';
    }
  }
  return out;
}

namespace {

/// The RADOS prefixes checkpoint_options_for() gave out, by the directory they stand for.
struct rados_dirs {
  std::mutex mu;
  std::map<std::filesystem::path, std::string> prefixes;
};

rados_dirs& rados_dirs_given() {
  static rados_dirs d;
  return d;
}

/// The RADOS prefix standing for `path`: that of a directory given out, or of one above it with
/// the rest of `path` appended. Nullopt for a path no RADOS prefix stands for.
std::optional<std::string> rados_prefix_of(const std::filesystem::path& path) {
  auto& d = rados_dirs_given();
  std::lock_guard lock(d.mu);
  const std::filesystem::path p = path.lexically_normal();
  std::optional<std::string> found;
  std::size_t depth = 0;  // of the nearest directory given out above `path`
  for (const auto& [dir, prefix] : d.prefixes) {
    const std::filesystem::path rest = p.lexically_relative(dir);
    const std::size_t dir_depth = static_cast<std::size_t>(std::distance(dir.begin(), dir.end()));
    if (!rest.empty() && *rest.begin() != ".." && (!found || dir_depth > depth)) {
      found = rest == "." ? prefix : prefix + "/" + rest.generic_string();
      depth = dir_depth;
    }
  }
  return found;
}

}  // namespace

checkpoint_options checkpoint_options_for(const std::filesystem::path& dir) {
  checkpoint_options o;
  o.dir = dir;
  o.key_env.clear();
  o.io_backend = "auto";
  if (rados_test_uri()) {
    auto& d = rados_dirs_given();
    std::lock_guard lock(d.mu);
    const std::filesystem::path key = dir.lexically_normal();
    auto it = d.prefixes.find(key);
    if (it == d.prefixes.end()) {
      const std::string store =
          unique_rados_store(dir.parent_path().filename().string() + "-" + dir.filename().string());
      it = d.prefixes.emplace(key, rados::parse_store_uri(store).prefix).first;
    }
    o.store = rados::store_uri{rados_test_uri()->pool, it->second}.text();
    o.rados = rados_test_connection();
  }
  return o;
}

std::size_t files_in(const std::filesystem::path& dir) {
  if (const auto prefix = rados_prefix_of(dir)) {
    return rados_files(*prefix);
  }
  std::size_t n = 0;
  if (std::filesystem::exists(dir)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
      n += e.is_regular_file() ? 1 : 0;
    }
  }
  return n;
}

}  // namespace ftq::test
