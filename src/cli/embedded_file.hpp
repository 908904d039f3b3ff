#pragma once
/// Gives access to files compiled into the ftq binary (the example plans and the oracle's
/// expected answers), so `ftq demo` works from any directory.

#include <string_view>
#include <vector>

namespace ftq::cli {

struct embedded_file {
  std::string_view name;  // base name without extension: "q1"
  std::string_view content;
};

const std::vector<embedded_file>& example_plans();
const std::vector<embedded_file>& expected_100k();

}  // namespace ftq::cli
