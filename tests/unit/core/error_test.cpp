#include <ftq/error.hpp>

#include <doctest/doctest.h>

#include <cerrno>
#include <vector>

TEST_CASE("every ftq::errc value has its own message in the ftq category") {
  const ftq::errc all[] = {ftq::errc::plan_invalid,
                           ftq::errc::csv_malformed,
                           ftq::errc::io_failed,
                           ftq::errc::query_cancelled,
                           ftq::errc::internal,
                           ftq::errc::checkpoint_corrupt,
                           ftq::errc::checkpoint_tampered,
                           ftq::errc::checkpoint_wrong_key,
                           ftq::errc::checkpoint_key_missing,
                           ftq::errc::checkpoint_key_invalid,
                           ftq::errc::checkpoint_plan_mismatch,
                           ftq::errc::checkpoint_version_unsupported,
                           ftq::errc::checkpoint_not_found,
                           ftq::errc::io_backend_unavailable,
                           ftq::errc::setting_invalid,
                           ftq::errc::store_unavailable,
                           ftq::errc::lease_held,
                           ftq::errc::lease_lost};
  std::vector<std::string> seen;
  for (auto e : all) {
    std::error_code ec = e;  // is_error_code_enum makes the conversion implicit
    CHECK(&ec.category() == &ftq::ftq_category());
    CHECK(std::string(ec.category().name()) == "ftq");
    CHECK(ec.message().find("unknown") == std::string::npos);
    for (const auto& s : seen)
      CHECK(s != ec.message());
    seen.push_back(ec.message());
  }
  CHECK(ftq::make_error_code(ftq::errc::plan_invalid).message() == "invalid plan");
  CHECK(ftq::make_error_code(ftq::errc::csv_malformed).message() == "malformed CSV");
  CHECK(ftq::make_error_code(ftq::errc::io_failed).message() == "I/O failed");
  CHECK(ftq::make_error_code(ftq::errc::query_cancelled).message() == "query cancelled");
  CHECK(ftq::make_error_code(ftq::errc::internal).message() == "internal error");
}

TEST_CASE("plan_error prints path: message") {
  ftq::plan_error e("plan.input.predicate.args[1]", "unknown column 'x' (columns: a, b)");
  CHECK(std::string(e.what()) == "plan.input.predicate.args[1]: unknown column 'x' (columns: a, b)");
  CHECK((e.code() == ftq::errc::plan_invalid));
  CHECK(e.path() == "plan.input.predicate.args[1]");
}

TEST_CASE("csv_error prints file:line:column: message") {
  ftq::csv_error e("data/x.csv", 17, 23, "column 'q' (float64): cannot parse \"abc\"");
  CHECK(std::string(e.what()) == "data/x.csv:17:23: column 'q' (float64): cannot parse \"abc\"");
  CHECK(e.line() == 17);
  CHECK(e.column() == 23);
  CHECK((e.code() == ftq::errc::csv_malformed));
}

TEST_CASE("io_error keeps the system error code itself") {
  ftq::io_error e("/full/disk", std::error_code(ENOSPC, std::generic_category()), "write");
  CHECK((e.code() == std::errc::no_space_on_device));
  CHECK(std::string(e.what()).find("/full/disk: write: ") == 0);
}

TEST_CASE("checkpoint_error names path, epoch, operator and offset, leaving out what is unknown") {
  ftq::checkpoint_error full(ftq::errc::checkpoint_corrupt, "/ck/q/0000000000000007.ckpt", "section crc mismatch", 7, 3,
                             4096);
  CHECK(std::string(full.what()) ==
        "/ck/q/0000000000000007.ckpt: epoch 7: operator 3: offset 4096: section crc mismatch");
  CHECK((full.code() == ftq::errc::checkpoint_corrupt));
  CHECK(full.epoch() == 7);
  CHECK(full.operator_id() == 3);
  CHECK(full.offset() == 4096);
  ftq::checkpoint_error bare(ftq::errc::checkpoint_not_found, "/ck", "no complete checkpoint for query q1");
  CHECK(std::string(bare.what()) == "/ck: no complete checkpoint for query q1");
  CHECK(bare.epoch() == ftq::checkpoint_error::unknown);
}
