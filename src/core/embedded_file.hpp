#pragma once
/// A file compiled into the binary by scripts/embed_files.py (example plans, expected answers,
/// the dashboard page), so ftq needs nothing on disk to use it.

#include <string_view>

namespace ftq {

struct embedded_file {
  std::string_view name;  // base name without extension: "q1", "index"
  std::string_view content;
};

}  // namespace ftq
