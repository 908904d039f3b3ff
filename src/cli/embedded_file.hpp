#pragma once
/// Gives access to files compiled into the ftq binary (the example plans and the oracle's
/// expected answers), so `ftq demo` works from any directory.

#include <vector>

#include "core/embedded_file.hpp"

namespace ftq::cli {

const std::vector<embedded_file>& example_plans();
const std::vector<embedded_file>& expected_100k();

}  // namespace ftq::cli
