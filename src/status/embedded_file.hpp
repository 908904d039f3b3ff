#pragma once
/// Gives access to the status endpoint's files compiled into the library (the dashboard page),
/// generated at build time by scripts/embed_files.py, so a server needs nothing on disk.

#include <string_view>
#include <vector>

namespace ftq::status {

struct embedded_file {
  std::string_view name;  // base name without extension: "index"
  std::string_view content;
};

/// src/status/dashboard/*, in the order meson lists them.
const std::vector<embedded_file>& dashboard_files();

}  // namespace ftq::status
