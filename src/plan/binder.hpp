#pragma once
/// Binds a plan against a catalog: resolves column names to indices, types every expression,
/// computes each node's output schema, finds files and tables, numbers the nodes in pre-order.
/// Returns the bound tree, or throws ftq::plan_error naming the plan path of the first problem.

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <ftq/plan.hpp>
#include <ftq/table.hpp>

#include "plan/bound_plan.hpp"

namespace ftq::plan_detail {

/// What a plan may refer to: files under a data directory and registered tables.
struct bind_context {
  /// Relative csv_scan paths resolve against it; empty means the working directory.
  std::filesystem::path data_dir;
  /// Returns the table called `name`, or nullptr if there is none (unset: no tables).
  std::function<table_ptr(std::string_view name)> find_table;
  /// Listed in "unknown table" messages, so a user sees what exists.
  std::vector<std::string> table_names;
};

/// Checks and types `p`; every field of every bound_node is filled. Throws ftq::plan_error.
std::unique_ptr<bound_node> bind(const plan& p, const bind_context& ctx);

}  // namespace ftq::plan_detail
