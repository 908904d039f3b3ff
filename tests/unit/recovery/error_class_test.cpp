#include <ftq/retry.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <system_error>

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

namespace {

template <class E>
ftq::error_class class_of(E e) {
  return ftq::classify(std::make_exception_ptr(std::move(e)));
}

ftq::error_class class_of_ftq(ftq::errc c) { return class_of(ftq::error(c, "x")); }

ftq::error_class class_of_errno(int e) {
  return class_of(ftq::io_error("/data/x", std::error_code(e, std::system_category()), "reading"));
}

}  // namespace

TEST_CASE("error class names round-trip, and unknown names do not parse") {
  using ftq::error_class;
  const error_class all[] = {error_class::transient, error_class::resource,  error_class::operator_fault,
                             error_class::stall,     error_class::bad_input, error_class::checkpoint,
                             error_class::cancelled, error_class::internal};
  for (const error_class c : all) {
    CAPTURE(ftq::error_class_name(c));
    CHECK(ftq::parse_error_class(ftq::error_class_name(c)) == c);
  }
  CHECK(ftq::error_class_name(error_class::operator_fault) == "operator_fault");
  CHECK(ftq::error_class_name(error_class::bad_input) == "bad_input");
  CHECK_FALSE(ftq::parse_error_class("Transient").has_value());
  CHECK_FALSE(ftq::parse_error_class("").has_value());
}

TEST_CASE("classify: ftq::error by code") {
  using ftq::errc;
  using ftq::error_class;
  CHECK(class_of_ftq(errc::query_cancelled) == error_class::cancelled);
  CHECK(class_of_ftq(errc::transient_failure) == error_class::transient);
  CHECK(class_of_ftq(errc::operator_stalled) == error_class::stall);
  CHECK(class_of_ftq(errc::operator_failed) == error_class::operator_fault);
  CHECK(class_of_ftq(errc::plan_invalid) == error_class::bad_input);
  CHECK(class_of_ftq(errc::csv_malformed) == error_class::bad_input);
  // Scale-out: a lost lease stops the query (never retried); a cluster away may come back; a
  // query another live process owns will be owned by it on the next attempt too.
  CHECK(class_of_ftq(errc::lease_lost) == error_class::cancelled);
  CHECK(class_of_ftq(errc::store_unavailable) == error_class::transient);
  CHECK(class_of_ftq(errc::lease_held) == error_class::bad_input);
  CHECK(class_of(ftq::plan_error("plan.input", "unknown column")) == error_class::bad_input);
  CHECK(class_of(ftq::csv_error("a.csv", 3, 4, "not a number")) == error_class::bad_input);
  for (const errc c : {errc::checkpoint_corrupt, errc::checkpoint_tampered, errc::checkpoint_wrong_key,
                       errc::checkpoint_key_missing, errc::checkpoint_key_invalid, errc::checkpoint_plan_mismatch,
                       errc::checkpoint_version_unsupported, errc::checkpoint_not_found}) {
    CAPTURE(static_cast<int>(c));
    CHECK(class_of_ftq(c) == error_class::checkpoint);
  }
  CHECK(class_of(ftq::checkpoint_error(errc::checkpoint_corrupt, "ck/q/1", "bad crc", 1, 2, 3)) ==
        error_class::checkpoint);
  CHECK(class_of_ftq(errc::internal) == error_class::internal);
  // Recovery already gave up on these: retrying them would retry the retries.
  for (const errc c : {errc::retries_exhausted, errc::retry_budget_exhausted, errc::circuit_open, errc::recovery_failed,
                       errc::handler_timeout, errc::recovery_policy_invalid}) {
    CAPTURE(static_cast<int>(c));
    CHECK(class_of_ftq(c) == error_class::internal);
  }
  CHECK(class_of(ftq::operator_error(errc::retries_exhausted, 3, "hash_join", "5 of 5")) == error_class::internal);
  CHECK(class_of_ftq(errc::io_failed) == error_class::transient);
  CHECK(class_of_ftq(errc::io_backend_unavailable) == error_class::bad_input);
}

TEST_CASE("classify: io_error and std::system_error by errno") {
  using ftq::error_class;
  for (const int e : {ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE}) {
    CAPTURE(e);
    CHECK(class_of_errno(e) == error_class::resource);
  }
  for (const int e : {ENOENT, EACCES, EPERM, ENOTDIR, EISDIR, EINVAL, EROFS}) {
    CAPTURE(e);
    CHECK(class_of_errno(e) == error_class::bad_input);
  }
  for (const int e : {EIO, EAGAIN, EINTR, ETIMEDOUT, ECONNRESET, EBUSY}) {
    CAPTURE(e);
    CHECK(class_of_errno(e) == error_class::transient);
  }
  CHECK(class_of(std::system_error(std::error_code(ENOSPC, std::generic_category()))) == error_class::resource);
  CHECK(class_of(std::system_error(std::error_code(EACCES, std::system_category()), "open")) == error_class::bad_input);
  CHECK(class_of(std::system_error(std::error_code(EIO, std::system_category()))) == error_class::transient);
  // An aborted Asio operation is a cancellation, not a transient failure to retry.
  CHECK(class_of(boost::system::system_error(boost::asio::error::operation_aborted)) == error_class::cancelled);
  CHECK(class_of(boost::system::system_error(boost::asio::error::connection_reset)) == error_class::transient);
}

TEST_CASE("classify: standard exceptions, foreign throws and the null pointer") {
  using ftq::error_class;
  CHECK(class_of(std::bad_alloc()) == error_class::resource);
  CHECK(class_of(std::overflow_error("sum")) == error_class::bad_input);
  CHECK(class_of(std::invalid_argument("x")) == error_class::bad_input);
  CHECK(class_of(std::out_of_range("x")) == error_class::bad_input);
  CHECK(class_of(std::domain_error("x")) == error_class::bad_input);
  CHECK(class_of(std::length_error("x")) == error_class::bad_input);
  CHECK(class_of(std::runtime_error("udf broke")) == error_class::operator_fault);
  CHECK(class_of(std::logic_error("x")) == error_class::operator_fault);
  CHECK(class_of(42) == error_class::internal);
  CHECK(ftq::classify(nullptr) == error_class::internal);
}

TEST_CASE("never_retryable: exactly cancelled and bad_input") {
  using ftq::error_class;
  CHECK(ftq::never_retryable(error_class::cancelled));
  CHECK(ftq::never_retryable(error_class::bad_input));
  for (const error_class c : {error_class::transient, error_class::resource, error_class::operator_fault,
                              error_class::stall, error_class::checkpoint, error_class::internal}) {
    CAPTURE(ftq::error_class_name(c));
    CHECK_FALSE(ftq::never_retryable(c));
  }
}
