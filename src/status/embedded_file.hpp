#pragma once
/// Gives access to the status endpoint's files compiled into the library (the dashboard page),
/// generated at build time by scripts/embed_files.py, so a server needs nothing on disk.

#include <vector>

#include "core/embedded_file.hpp"

namespace ftq::status {

/// src/status/dashboard/*, in the order meson lists them.
const std::vector<embedded_file>& dashboard_files();

}  // namespace ftq::status
