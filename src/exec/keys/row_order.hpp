#pragma once
/// Orders rows by sort keys: numbers numerically (NaN above every number), strings bytewise,
/// NULLs last in either direction, and rows with equal keys in input order. sort and top_k both
/// order through here, so top_k returns exactly the first k rows of sort.

#include <cstdint>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <ftq/column.hpp>

#include "exec/execution_context.hpp"

namespace ftq::exec::keys {

struct order_key {
  const column* values = nullptr;
  bool descending = false;
};

/// Compares row `a` of `left` with row `b` of `right` (same types and directions, taken from
/// `left`) from key `first_key` on: negative, zero or positive.
int compare_rows(const std::vector<order_key>& left, std::size_t a, const std::vector<order_key>& right, std::size_t b,
                 std::size_t first_key = 0);

/// Maps `rows` values of a key to unsigned words in the same (non-strict) order, reversed when
/// descending; NULL rows get unspecified words. Returns whether the map is exact for these rows
/// (equal words mean equal values): always for numbers, for strings only if none is longer than
/// 7 bytes; otherwise equal words still need compare_rows.
bool normalize_key(const column& values, bool descending, std::size_t rows, std::vector<std::uint64_t>& out);
/// The word of one non-NULL value under the map normalize_key used when it returned `exact`, so
/// words of other rows compare with those of a batch.
std::uint64_t normalize_value(const column& values, std::size_t row, bool descending, bool exact);

/// Returns rows 0..rows-1 in key order, ties in input order. Radix-sorts the normalized first
/// key, then refines runs of equal words with compare_rows; yields between chunks of work.
boost::asio::awaitable<std::vector<std::uint32_t>> sort_rows(const std::vector<order_key>& keys, std::size_t rows,
                                                             execution_context& ctx);

}  // namespace ftq::exec::keys
