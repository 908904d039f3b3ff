#pragma once
// Provides a fresh directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction, and whole-file reads and writes for tests.

#include <cstddef>
#include <filesystem>
#include <string>

namespace ftq::test {

class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "ftq-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  /// Writes `text` to the file `name` in this directory, replacing it; returns its path.
  std::filesystem::path write(const std::string& name, const std::string& text) const;
  /// How many files and directories this directory holds directly.
  std::size_t entries() const;

 private:
  std::filesystem::path path_;
};

/// Reads a whole file; empty string if it cannot be read.
std::string read_file(const std::filesystem::path& p);
/// Reads a whole file; throws std::runtime_error if it cannot be opened, so a missing
/// output fails the test instead of comparing as empty.
std::string read_file_or_fail(const std::filesystem::path& p);
/// Writes `content` to `p`, replacing it.
void write_file(const std::filesystem::path& p, const std::string& content);
/// $FTQ_TEST_DATA (tests/data), set by meson for every test.
std::filesystem::path test_data_dir();

}  // namespace ftq::test
