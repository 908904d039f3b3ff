#include <ftq/retry.hpp>

#include <cerrno>
#include <new>
#include <stdexcept>

#include <boost/system/system_error.hpp>

namespace ftq {

namespace {

// Indexed by error_class.
constexpr std::string_view class_names[] = {"transient", "resource",   "operator_fault", "stall",
                                            "bad_input", "checkpoint", "cancelled",      "internal"};

error_class classify_ftq(errc e) noexcept {
  switch (e) {
    case errc::query_cancelled:
    case errc::lease_lost:  // another process owns the query now: this one must stop, not retry
      return error_class::cancelled;
    case errc::transient_failure:
    case errc::io_failed:          // a data or result file step failed without a more precise errno
    case errc::store_unavailable:  // the cluster may be back by the next attempt
      return error_class::transient;
    case errc::operator_stalled:
      return error_class::stall;
    case errc::operator_failed:
      return error_class::operator_fault;
    case errc::plan_invalid:
    case errc::csv_malformed:
    case errc::io_backend_unavailable:  // the configuration asks for what this machine lacks
    case errc::setting_invalid:
    case errc::lease_held:  // trying again gives the same answer while the owner lives
      return error_class::bad_input;
    case errc::checkpoint_corrupt:
    case errc::checkpoint_tampered:
    case errc::checkpoint_wrong_key:
    case errc::checkpoint_key_missing:
    case errc::checkpoint_key_invalid:
    case errc::checkpoint_plan_mismatch:
    case errc::checkpoint_version_unsupported:
    case errc::checkpoint_not_found:
      return error_class::checkpoint;
    case errc::internal:
    case errc::retries_exhausted:
    case errc::retry_budget_exhausted:
    case errc::circuit_open:
    case errc::recovery_failed:
    case errc::recovery_policy_invalid:
    case errc::handler_timeout:
      return error_class::internal;
  }
  return error_class::internal;
}

error_class classify_errno(int e) noexcept {
  switch (e) {
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return error_class::resource;
    case ENOENT:
    case EACCES:
    case EPERM:
    case ENOTDIR:
    case EISDIR:
    case EINVAL:
    case EROFS:
      return error_class::bad_input;
    case ECANCELED:  // Asio's operation_aborted: a cancelled wait or read
      return error_class::cancelled;
    default:
      return error_class::transient;
  }
}

error_class classify_code(const std::error_code& ec) noexcept {
  if (ec.category() == ftq_category()) {
    return classify_ftq(static_cast<errc>(ec.value()));
  }
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return classify_errno(ec.value());
  }
  // Other categories that map onto errno values (through their generic condition).
  const std::error_condition cond = ec.default_error_condition();
  if (cond.category() == std::generic_category()) {
    return classify_errno(cond.value());
  }
  return error_class::transient;
}

}  // namespace

std::string_view error_class_name(error_class c) noexcept {
  const auto i = static_cast<std::size_t>(c);
  return i < std::size(class_names) ? class_names[i] : std::string_view("unknown");
}

std::optional<error_class> parse_error_class(std::string_view name) noexcept {
  for (std::size_t i = 0; i < std::size(class_names); ++i) {
    if (class_names[i] == name) {
      return static_cast<error_class>(i);
    }
  }
  return std::nullopt;
}

error_class classify(const std::exception_ptr& e) noexcept {
  if (!e) {
    return error_class::internal;
  }
  try {
    std::rethrow_exception(e);
  } catch (const error& x) {
    return classify_code(x.code());
  } catch (const std::system_error& x) {
    return classify_code(x.code());
  } catch (const boost::system::system_error& x) {
    return classify_code(std::error_code(x.code()));
  } catch (const std::bad_alloc&) {
    return error_class::resource;
  } catch (const std::overflow_error&) {
    return error_class::bad_input;
  } catch (const std::invalid_argument&) {
    return error_class::bad_input;
  } catch (const std::out_of_range&) {
    return error_class::bad_input;
  } catch (const std::domain_error&) {
    return error_class::bad_input;
  } catch (const std::length_error&) {
    return error_class::bad_input;
  } catch (const std::exception&) {
    return error_class::operator_fault;
  } catch (...) {
    return error_class::internal;
  }
}

bool never_retryable(error_class c) noexcept { return c == error_class::cancelled || c == error_class::bad_input; }

}  // namespace ftq
