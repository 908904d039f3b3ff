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
      case errc::checkpoint_corrupt:
        return "checkpoint corrupt";
      case errc::checkpoint_tampered:
        return "checkpoint failed authentication (altered)";
      case errc::checkpoint_wrong_key:
        return "checkpoint encrypted with another key";
      case errc::checkpoint_key_missing:
        return "checkpoint is encrypted and no key was given";
      case errc::checkpoint_key_invalid:
        return "invalid checkpoint key";
      case errc::checkpoint_plan_mismatch:
        return "checkpoint belongs to another plan";
      case errc::checkpoint_version_unsupported:
        return "unsupported checkpoint format version";
      case errc::checkpoint_not_found:
        return "no checkpoint found";
      case errc::io_backend_unavailable:
        return "I/O backend unavailable";
      case errc::operator_failed:
        return "operator failed";
      case errc::transient_failure:
        return "transient failure";
      case errc::operator_stalled:
        return "operator stalled";
      case errc::retries_exhausted:
        return "retries exhausted";
      case errc::retry_budget_exhausted:
        return "retry budget exhausted";
      case errc::circuit_open:
        return "operator held open by the failure detector";
      case errc::recovery_failed:
        return "recovery failed";
      case errc::recovery_policy_invalid:
        return "invalid recovery policy";
      case errc::handler_timeout:
        return "recovery handler timed out";
      case errc::setting_invalid:
        return "invalid setting";
      case errc::store_unavailable:
        return "checkpoint store unavailable";
      case errc::lease_held:
        return "query owned by another process";
      case errc::lease_lost:
        return "ownership of the query lost (lease lapsed or taken over)";
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

namespace {

std::string checkpoint_what(const std::string& path, const std::string& message, std::uint64_t epoch,
                            std::uint64_t operator_id, std::uint64_t offset) {
  std::string w = path.empty() ? std::string("checkpoint") : path;
  if (epoch != checkpoint_error::unknown) {
    w += ": epoch " + std::to_string(epoch);
  }
  if (operator_id != checkpoint_error::unknown) {
    w += ": operator " + std::to_string(operator_id);
  }
  if (offset != checkpoint_error::unknown) {
    w += ": offset " + std::to_string(offset);
  }
  return w + ": " + message;
}

}  // namespace

checkpoint_error::checkpoint_error(std::error_code code, std::string path, std::string message, std::uint64_t epoch,
                                   std::uint64_t operator_id, std::uint64_t offset)
    : error(code, checkpoint_what(path, message, epoch, operator_id, offset)),
      path_(std::move(path)),
      message_(std::move(message)),
      epoch_(epoch),
      operator_id_(operator_id),
      offset_(offset) {}

operator_error::operator_error(std::error_code code, std::uint64_t operator_id, std::string operator_name,
                               std::string message, std::uint32_t attempts)
    : error(code, "operator " + std::to_string(operator_id) + " (" + operator_name + "): " + message),
      operator_id_(operator_id),
      operator_name_(std::move(operator_name)),
      message_(std::move(message)),
      attempts_(attempts) {}

}  // namespace ftq
