#include <ftq/error.hpp>

namespace ftq {

namespace {

class ftq_error_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ftq"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::plan_invalid:
        return "invalid plan";
      case errc::csv_malformed:
        return "malformed CSV";
      case errc::io_failed:
        return "I/O failed";
      case errc::query_cancelled:
        return "query cancelled";
      case errc::internal:
        return "internal error";
    }
    return "unknown ftq error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& ftq_category() noexcept {
  static const ftq_error_category category;
  return category;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), ftq_category()}; }

plan_error::plan_error(std::string path, std::string message)
    : error(errc::plan_invalid, path + ": " + message), path_(std::move(path)), message_(std::move(message)) {}

csv_error::csv_error(std::string file, std::uint64_t line, std::uint64_t column, std::string message)
    : error(errc::csv_malformed, file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

io_error::io_error(std::string path, std::error_code code, const std::string& doing)
    : error(code, path + ": " + doing + ": " + code.message()), path_(std::move(path)) {}

}  // namespace ftq
