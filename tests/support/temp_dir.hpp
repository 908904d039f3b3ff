#pragma once
// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.

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

 private:
  std::filesystem::path path_;
};

/// Reads a whole file; empty string if it cannot be read.
std::string read_file(const std::filesystem::path& p);
/// Writes `content` to `p`, replacing it.
void write_file(const std::filesystem::path& p, const std::string& content);
/// $FTQ_TEST_DATA (tests/data), set by meson for every test.
std::filesystem::path test_data_dir();

}  // namespace ftq::test
