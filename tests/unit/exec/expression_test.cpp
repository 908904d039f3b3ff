#include "exec/expression.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <ftq/error.hpp>

#include "support/bound_plan_builders.hpp"
#include "support/operator_harness.hpp"

namespace doctest {
// Prints {1, NULL, 3} when a column comparison fails.
template <class T>
struct StringMaker<std::vector<std::optional<T>>> {
  static String convert(const std::vector<std::optional<T>>& values) {
    String out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
      out += i == 0 ? "" : ", ";
      out += values[i] ? toString(*values[i]) : String("NULL");
    }
    return out + "}";
  }
};
}  // namespace doctest

namespace {

using ftq::batch;
using ftq::column;
using ftq::column_ptr;
using ftq::expr_op;
using ftq::type_id;
using ftq::plan_detail::bound_expr;
using ftq::test::column_ref;
using ftq::test::expr_node;
using ftq::test::expr_pred;
using ftq::test::lit_d;
using ftq::test::lit_i;
using ftq::test::lit_null;
using ftq::test::lit_s;
using ftq::test::make_batch;

// --- bound expression builders -----------------------------------------------------------------

// --- columns and batches -----------------------------------------------------------------------

using opt_i = std::optional<std::int64_t>;
using opt_d = std::optional<double>;
using opt_s = std::optional<std::string>;

// After the values are in, so the null vector gets the column's full size.
template <class T>
void set_nulls(column& c, const std::vector<std::optional<T>>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i]) {
      c.set_null(i);
    }
  }
}

column_ptr ints(std::vector<opt_i> values) {
  auto c = std::make_shared<column>(type_id::int64);
  for (const auto& v : values) {
    c->ints.push_back(v.value_or(-777));
  }
  set_nulls(*c, values);
  return c;
}

column_ptr doubles(std::vector<opt_d> values) {
  auto c = std::make_shared<column>(type_id::float64);
  for (const auto& v : values) {
    c->doubles.push_back(v.value_or(-777.0));
  }
  set_nulls(*c, values);
  return c;
}

column_ptr strings(std::vector<opt_s> values) {
  auto owner = std::make_shared<std::vector<std::string>>();
  for (const auto& v : values) {
    owner->push_back(v.value_or("garbage"));
  }
  auto c = std::make_shared<column>(type_id::string);
  for (const auto& v : *owner) {
    c->strings.push_back(v);
  }
  set_nulls(*c, values);
  c->keep_alive(owner);
  return c;
}

batch with_selection(batch b, std::vector<std::uint32_t> sel) {
  b.has_selection = true;
  b.selection = std::move(sel);
  return b;
}

std::vector<opt_i> int_values(const column& c) {
  REQUIRE(c.type == type_id::int64);
  std::vector<opt_i> out;
  for (std::size_t i = 0; i < c.size(); ++i) {
    out.push_back(c.is_null(i) ? opt_i{} : opt_i{c.ints[i]});
  }
  return out;
}

std::vector<opt_d> double_values(const column& c) {
  REQUIRE(c.type == type_id::float64);
  std::vector<opt_d> out;
  for (std::size_t i = 0; i < c.size(); ++i) {
    out.push_back(c.is_null(i) ? opt_d{} : opt_d{c.doubles[i]});
  }
  return out;
}

std::vector<opt_s> string_values(const column& c) {
  REQUIRE(c.type == type_id::string);
  std::vector<opt_s> out;
  for (std::size_t i = 0; i < c.size(); ++i) {
    out.push_back(c.is_null(i) ? opt_s{} : opt_s{std::string(c.strings[i])});
  }
  return out;
}

// Public truth encoding of evaluate_predicate.
constexpr std::uint8_t F = 0;
constexpr std::uint8_t T = 1;
constexpr std::uint8_t N = 2;

std::vector<std::uint8_t> truth(const bound_expr& p, const batch& b) { return ftq::exec::evaluate_predicate(p, b); }

std::vector<std::uint32_t> survivors(const bound_expr& p, batch b) {
  ftq::exec::apply_filter(p, b);
  CHECK(b.has_selection);
  return b.selection;
}

}  // namespace

// --- arithmetic -----------------------------------------------------------------------------------

TEST_CASE("int64 add, sub and mul compute per row and propagate NULL") {
  const batch b = make_batch({ints({1, 2, std::nullopt, 4}), ints({10, std::nullopt, 30, -4})});
  const auto a = column_ref(0, type_id::int64);
  const auto c = column_ref(1, type_id::int64);
  CHECK(int_values(*ftq::exec::evaluate(expr_node(expr_op::add, type_id::int64, {a, c}), b)) ==
        std::vector<opt_i>{11, std::nullopt, std::nullopt, 0});
  CHECK(int_values(*ftq::exec::evaluate(expr_node(expr_op::sub, type_id::int64, {a, c}), b)) ==
        std::vector<opt_i>{-9, std::nullopt, std::nullopt, 8});
  CHECK(int_values(*ftq::exec::evaluate(expr_node(expr_op::mul, type_id::int64, {a, c}), b)) ==
        std::vector<opt_i>{10, std::nullopt, std::nullopt, -16});
  CHECK(int_values(*ftq::exec::evaluate(expr_node(expr_op::sub, type_id::int64, {lit_i(100), a}), b)) ==
        std::vector<opt_i>{99, 98, std::nullopt, 96});
}

TEST_CASE("mixed int64 and float64 arithmetic converts the int side to double") {
  const batch b = make_batch({ints({1, 2, 3}), doubles({0.5, std::nullopt, 0.25})});
  const auto i = column_ref(0, type_id::int64);
  const auto d = column_ref(1, type_id::float64);
  CHECK(double_values(*ftq::exec::evaluate(expr_node(expr_op::add, type_id::float64, {i, d}), b)) ==
        std::vector<opt_d>{1.5, std::nullopt, 3.25});
  CHECK(double_values(*ftq::exec::evaluate(expr_node(expr_op::mul, type_id::float64, {d, i}), b)) ==
        std::vector<opt_d>{0.5, std::nullopt, 0.75});
  // 1 - discount: an int constant on the left of a float operation.
  CHECK(double_values(*ftq::exec::evaluate(expr_node(expr_op::sub, type_id::float64, {lit_i(1), d}), b)) ==
        std::vector<opt_d>{0.5, std::nullopt, 0.75});
  CHECK(double_values(*ftq::exec::evaluate(expr_node(expr_op::add, type_id::float64, {i, lit_d(0.5)}), b)) ==
        std::vector<opt_d>{1.5, 2.5, 3.5});
}

TEST_CASE("division yields float64 and dividing by zero yields NULL") {
  const batch b = make_batch({ints({7, 8, 9, std::nullopt}), ints({2, 0, 3, 1}), doubles({0.0, -0.0, 4.0, 1.0})});
  const auto div_ints =
      expr_node(expr_op::div, type_id::float64, {column_ref(0, type_id::int64), column_ref(1, type_id::int64)});
  CHECK(double_values(*ftq::exec::evaluate(div_ints, b)) == std::vector<opt_d>{3.5, std::nullopt, 3.0, std::nullopt});
  const auto div_doubles =
      expr_node(expr_op::div, type_id::float64, {column_ref(0, type_id::int64), column_ref(2, type_id::float64)});
  CHECK(double_values(*ftq::exec::evaluate(div_doubles, b)) ==
        std::vector<opt_d>{std::nullopt, std::nullopt, 2.25, std::nullopt});
  const auto div_const_zero = expr_node(expr_op::div, type_id::float64, {column_ref(0, type_id::int64), lit_i(0)});
  CHECK(double_values(*ftq::exec::evaluate(div_const_zero, b)) ==
        std::vector<opt_d>{std::nullopt, std::nullopt, std::nullopt, std::nullopt});
}

TEST_CASE("int64 overflow throws overflow_error naming the operator") {
  const std::int64_t max = INT64_MAX;
  const batch b = make_batch({ints({1, max}), ints({1, 1})});
  const auto a = column_ref(0, type_id::int64);
  const auto c = column_ref(1, type_id::int64);
  CHECK_THROWS_WITH_AS(ftq::exec::evaluate(expr_node(expr_op::add, type_id::int64, {a, c}), b), "integer overflow in +",
                       std::overflow_error);
  CHECK_THROWS_AS(ftq::exec::evaluate(expr_node(expr_op::mul, type_id::int64, {a, lit_i(2)}), b), std::overflow_error);
  CHECK_THROWS_AS(ftq::exec::evaluate(expr_node(expr_op::sub, type_id::int64, {lit_i(INT64_MIN), c}), b),
                  std::overflow_error);
}

TEST_CASE("an overflow in a NULL row's unspecified value is not an error") {
  auto big = std::make_shared<column>(type_id::int64);
  big->ints = {5, INT64_MAX};
  big->set_null(1);
  const batch b = make_batch({big});
  const auto sum = expr_node(expr_op::add, type_id::int64, {column_ref(0, type_id::int64), lit_i(1)});
  CHECK(int_values(*ftq::exec::evaluate(sum, b)) == std::vector<opt_i>{6, std::nullopt});
}

TEST_CASE("a NULL constant operand makes every arithmetic result NULL") {
  const batch b = make_batch({doubles({1.0, 2.0})});
  const auto e =
      expr_node(expr_op::mul, type_id::float64, {column_ref(0, type_id::float64), lit_null(type_id::float64)});
  CHECK(double_values(*ftq::exec::evaluate(e, b)) == std::vector<opt_d>{std::nullopt, std::nullopt});
}

TEST_CASE("nested arithmetic combines the NULLs of every operand and divides by computed zeros") {
  const batch b = with_selection(
      make_batch({doubles({100.0, 200.0, std::nullopt, 400.0, 500.0}), doubles({0.1, std::nullopt, 0.3, 0.5, 0.0}),
                  doubles({0.5, 0.5, 0.5, std::nullopt, 1.0}), ints({1, 2, 3, 4, 6})}),
      {0, 1, 2, 3, 4});
  const auto price = column_ref(0, type_id::float64);
  const auto disc = column_ref(1, type_id::float64);
  const auto tax = column_ref(2, type_id::float64);
  const auto k = column_ref(3, type_id::int64);
  // price * (1 - disc) * (1 + tax)
  const auto charge = expr_node(
      expr_op::mul, type_id::float64,
      {expr_node(expr_op::mul, type_id::float64, {price, expr_node(expr_op::sub, type_id::float64, {lit_i(1), disc})}),
       expr_node(expr_op::add, type_id::float64, {lit_i(1), tax})});
  CHECK(double_values(*ftq::exec::evaluate(charge, b)) ==
        std::vector<opt_d>{100.0 * 0.9 * 1.5, std::nullopt, std::nullopt, std::nullopt, 500.0 * 1.0 * 2.0});
  // price / (disc * 10): a zero divisor computed on the way is still a NULL result.
  const auto ratio =
      expr_node(expr_op::div, type_id::float64, {price, expr_node(expr_op::mul, type_id::float64, {disc, lit_i(10)})});
  CHECK(double_values(*ftq::exec::evaluate(ratio, b)) ==
        std::vector<opt_d>{100.0, std::nullopt, std::nullopt, 80.0, std::nullopt});
  // (k + k) / 4: an int64 temporary converted for a float64 division.
  const auto half =
      expr_node(expr_op::div, type_id::float64, {expr_node(expr_op::add, type_id::int64, {k, k}), lit_i(4)});
  CHECK(double_values(*ftq::exec::evaluate(half, b)) == std::vector<opt_d>{0.5, 1.0, 1.5, 2.0, 3.0});
  // disc / (k - k): every divisor zero.
  const auto none = expr_node(expr_op::div, type_id::float64, {disc, expr_node(expr_op::sub, type_id::int64, {k, k})});
  CHECK(double_values(*ftq::exec::evaluate(none, b)) ==
        std::vector<opt_d>{std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt});
}

// --- evaluate and selections ------------------------------------------------------------------------

TEST_CASE("evaluate returns an unselected batch's column itself for a column reference") {
  const batch b = make_batch({ints({1, 2, 3}), strings({"x", "y", "z"})});
  CHECK(ftq::exec::evaluate(column_ref(0, type_id::int64), b) == b.columns[0]);
  CHECK(ftq::exec::evaluate(column_ref(1, type_id::string), b) == b.columns[1]);
}

TEST_CASE("evaluate over a selection produces the live rows in order") {
  const batch b = with_selection(make_batch({ints({1, 2, std::nullopt, 4}), strings({"a", "b", "c", "d"})}), {0, 2, 3});
  CHECK(int_values(*ftq::exec::evaluate(column_ref(0, type_id::int64), b)) == std::vector<opt_i>{1, std::nullopt, 4});
  const auto s = ftq::exec::evaluate(column_ref(1, type_id::string), b);
  CHECK(string_values(*s) == std::vector<opt_s>{"a", "c", "d"});
  CHECK(s->string_owners == b.columns[1]->string_owners);
  const auto plus =
      expr_node(expr_op::add, type_id::int64, {column_ref(0, type_id::int64), column_ref(0, type_id::int64)});
  CHECK(int_values(*ftq::exec::evaluate(plus, b)) == std::vector<opt_i>{2, std::nullopt, 8});
  const auto mixed = expr_node(expr_op::mul, type_id::float64, {column_ref(0, type_id::int64), lit_d(0.5)});
  CHECK(double_values(*ftq::exec::evaluate(mixed, b)) == std::vector<opt_d>{0.5, std::nullopt, 2.0});
}

TEST_CASE("evaluate fills a constant for every live row, strings outliving the expression") {
  const batch b = with_selection(make_batch({ints({1, 2, 3})}), {1, 2});
  CHECK(int_values(*ftq::exec::evaluate(lit_i(7), b)) == std::vector<opt_i>{7, 7});
  CHECK(double_values(*ftq::exec::evaluate(lit_null(type_id::float64), b)) ==
        std::vector<opt_d>{std::nullopt, std::nullopt});
  column_ptr s;
  {
    const auto e = lit_s("a constant too long for small-string storage");
    s = ftq::exec::evaluate(e, b);
  }
  CHECK(string_values(*s) == std::vector<opt_s>{"a constant too long for small-string storage",
                                                "a constant too long for small-string storage"});
}

TEST_CASE("evaluate refuses a predicate") {
  const batch b = make_batch({ints({1})});
  CHECK_THROWS_AS(ftq::exec::evaluate(expr_pred(expr_op::lt, {column_ref(0, type_id::int64), lit_i(2)}), b),
                  ftq::error);
}

// --- comparisons ------------------------------------------------------------------------------

TEST_CASE("numeric comparisons, mixed int and float compared as double, NULL gives NULL") {
  const batch b = make_batch({ints({1, 2, 3, std::nullopt}), doubles({1.5, 2.0, 2.5, 1.0})});
  const auto i = column_ref(0, type_id::int64);
  const auto d = column_ref(1, type_id::float64);
  CHECK(truth(expr_pred(expr_op::eq, {i, d}), b) == std::vector<std::uint8_t>{F, T, F, N});
  CHECK(truth(expr_pred(expr_op::ne, {i, d}), b) == std::vector<std::uint8_t>{T, F, T, N});
  CHECK(truth(expr_pred(expr_op::lt, {i, d}), b) == std::vector<std::uint8_t>{T, F, F, N});
  CHECK(truth(expr_pred(expr_op::le, {i, d}), b) == std::vector<std::uint8_t>{T, T, F, N});
  CHECK(truth(expr_pred(expr_op::gt, {i, d}), b) == std::vector<std::uint8_t>{F, F, T, N});
  CHECK(truth(expr_pred(expr_op::ge, {i, d}), b) == std::vector<std::uint8_t>{F, T, T, N});
  CHECK(truth(expr_pred(expr_op::lt, {i, lit_i(3)}), b) == std::vector<std::uint8_t>{T, T, F, N});
  CHECK(truth(expr_pred(expr_op::lt, {lit_i(1), i}), b) == std::vector<std::uint8_t>{F, T, T, N});
  CHECK(truth(expr_pred(expr_op::ge, {d, lit_i(2)}), b) == std::vector<std::uint8_t>{F, T, T, F});
  CHECK(truth(expr_pred(expr_op::eq, {i, lit_null(type_id::int64)}), b) == std::vector<std::uint8_t>{N, N, N, N});
  CHECK(truth(expr_pred(expr_op::lt, {lit_i(1), lit_d(1.5)}), b) == std::vector<std::uint8_t>{T, T, T, T});
}

TEST_CASE("string comparisons order bytewise with a prefix first") {
  const batch b = make_batch({strings({"a", "ab", "b", "", std::nullopt}), strings({"ab", "a", "ab", "a", "a"})});
  const auto x = column_ref(0, type_id::string);
  const auto y = column_ref(1, type_id::string);
  CHECK(truth(expr_pred(expr_op::lt, {x, y}), b) == std::vector<std::uint8_t>{T, F, F, T, N});
  CHECK(truth(expr_pred(expr_op::ge, {x, y}), b) == std::vector<std::uint8_t>{F, T, T, F, N});
  CHECK(truth(expr_pred(expr_op::lt, {x, lit_s("ab")}), b) == std::vector<std::uint8_t>{T, F, F, T, N});
  CHECK(truth(expr_pred(expr_op::eq, {x, lit_s("ab")}), b) == std::vector<std::uint8_t>{F, T, F, F, N});
  CHECK(truth(expr_pred(expr_op::gt, {lit_s("ab"), x}), b) == std::vector<std::uint8_t>{T, F, F, T, N});
}

TEST_CASE("ISO dates compare correctly as strings against a constant") {
  const batch b = make_batch({strings({"1993-12-31", "1994-01-01", "1994-06-15", "1995-01-01", "1995-01-02"})});
  const auto d = column_ref(0, type_id::string);
  CHECK(survivors(expr_pred(expr_op::ge, {d, lit_s("1994-01-01")}), b) == std::vector<std::uint32_t>{1, 2, 3, 4});
  CHECK(survivors(expr_pred(expr_op::lt, {d, lit_s("1995-01-01")}), b) == std::vector<std::uint32_t>{0, 1, 2});
  CHECK(survivors(expr_pred(expr_op::le, {d, lit_s("1995-01-01")}), b) == std::vector<std::uint32_t>{0, 1, 2, 3});
  CHECK(survivors(expr_pred(expr_op::gt, {d, lit_s("1994-06-15")}), b) == std::vector<std::uint32_t>{3, 4});
  CHECK(survivors(expr_pred(expr_op::eq, {d, lit_s("1994-06-15")}), b) == std::vector<std::uint32_t>{2});
  CHECK(survivors(expr_pred(expr_op::ne, {d, lit_s("1994-06-15")}), b) == std::vector<std::uint32_t>{0, 1, 3, 4});
}

TEST_CASE("string comparisons against constants agree with std::string_view for all lengths") {
  // Short alphabet with a NUL byte so ties, prefixes and zero padding all occur.
  std::mt19937 rng(7);
  const std::string alphabet{'\0', 'a', 'b', '\xff'};
  const auto random_string = [&](std::size_t max_len) {
    std::string s(rng() % (max_len + 1), 'a');
    for (auto& ch : s) {
      ch = alphabet[rng() % alphabet.size()];
    }
    return s;
  };
  std::vector<opt_s> values;
  for (int i = 0; i < 3000; ++i) {
    values.push_back(random_string(20));
  }
  const batch b = make_batch({strings(values)});
  const auto x = column_ref(0, type_id::string);
  const expr_op ops[] = {expr_op::eq, expr_op::ne, expr_op::lt, expr_op::le, expr_op::gt, expr_op::ge};
  for (int round = 0; round < 60; ++round) {
    // Half of the constants are row values, so equal keys and exact prefixes are common.
    const std::string c = round % 2 == 0 ? *values[rng() % values.size()] : random_string(20);
    for (expr_op op : ops) {
      std::vector<std::uint32_t> expected;
      for (std::uint32_t i = 0; i < values.size(); ++i) {
        const std::string_view v = *values[i];
        const bool holds = op == expr_op::eq   ? v == c
                           : op == expr_op::ne ? v != c
                           : op == expr_op::lt ? v < c
                           : op == expr_op::le ? v <= c
                           : op == expr_op::gt ? v > c
                                               : v >= c;
        if (holds) {
          expected.push_back(i);
        }
      }
      CAPTURE(round);
      CAPTURE(static_cast<int>(op));
      CHECK(survivors(expr_pred(op, {x, lit_s(c)}), b) == expected);
    }
  }
}

// --- logic ----------------------------------------------------------------------------------------

TEST_CASE("and, or and not follow SQL three-valued logic") {
  // Rows enumerate (p, q) over {T, F, N}^2; p is x = 1, q is y = 1.
  const std::vector<opt_i> tv = {1, 0, std::nullopt};
  std::vector<opt_i> xs;
  std::vector<opt_i> ys;
  for (const auto& x : tv) {
    for (const auto& y : tv) {
      xs.push_back(x);
      ys.push_back(y);
    }
  }
  const batch b = make_batch({ints(xs), ints(ys)});
  const auto p = expr_pred(expr_op::eq, {column_ref(0, type_id::int64), lit_i(1)});
  const auto q = expr_pred(expr_op::eq, {column_ref(1, type_id::int64), lit_i(1)});
  // p:  T T T F F F N N N
  // q:  T F N T F N T F N
  CHECK(truth(expr_pred(expr_op::and_, {p, q}), b) == std::vector<std::uint8_t>{T, F, N, F, F, F, N, F, N});
  CHECK(truth(expr_pred(expr_op::or_, {p, q}), b) == std::vector<std::uint8_t>{T, T, T, T, F, N, T, N, N});
  CHECK(truth(expr_pred(expr_op::not_, {p}), b) == std::vector<std::uint8_t>{F, F, F, T, T, T, N, N, N});
  CHECK(survivors(expr_pred(expr_op::and_, {p, q}), b) == std::vector<std::uint32_t>{0});
  CHECK(survivors(expr_pred(expr_op::or_, {p, q}), b) == std::vector<std::uint32_t>{0, 1, 2, 3, 6});
  CHECK(survivors(expr_pred(expr_op::not_, {p}), b) == std::vector<std::uint32_t>{3, 4, 5});
}

TEST_CASE("between is inclusive at both ends and NULL when any side is NULL") {
  const batch b = make_batch({doubles({0.04, 0.05, 0.06, 0.07, 0.08, std::nullopt})});
  const auto v = column_ref(0, type_id::float64);
  const auto e = expr_pred(expr_op::between, {v, lit_d(0.05), lit_d(0.07)});
  CHECK(truth(e, b) == std::vector<std::uint8_t>{F, T, T, T, F, N});
  CHECK(survivors(e, b) == std::vector<std::uint32_t>{1, 2, 3});
  const auto open_low = expr_pred(expr_op::between, {v, lit_null(type_id::float64), lit_d(0.07)});
  // v > hi is FALSE even with an unknown lower bound.
  CHECK(truth(open_low, b) == std::vector<std::uint8_t>{N, N, N, N, F, N});
  CHECK(survivors(open_low, b).empty());
  const auto ints_between = expr_pred(expr_op::between, {column_ref(0, type_id::float64), lit_i(0), lit_i(1)});
  CHECK(survivors(ints_between, b) == std::vector<std::uint32_t>{0, 1, 2, 3, 4});
}

TEST_CASE("between over strings and over a computed value") {
  const batch b = make_batch({strings({"1993-12-31", "1994-01-01", "1994-12-31", "1995-01-01"}), ints({1, 2, 3, 4})});
  const auto dates =
      expr_pred(expr_op::between, {column_ref(0, type_id::string), lit_s("1994-01-01"), lit_s("1994-12-31")});
  CHECK(survivors(dates, b) == std::vector<std::uint32_t>{1, 2});
  const auto doubled = expr_node(expr_op::mul, type_id::int64, {column_ref(1, type_id::int64), lit_i(2)});
  CHECK(survivors(expr_pred(expr_op::between, {doubled, lit_i(4), lit_i(6)}), b) == std::vector<std::uint32_t>{1, 2});
  const auto column_bounds = expr_pred(expr_op::between, {lit_i(3), column_ref(1, type_id::int64), lit_i(3)});
  CHECK(truth(column_bounds, b) == std::vector<std::uint8_t>{T, T, T, F});
}

TEST_CASE("in matches any constant; NULL value or unmatched NULL constant gives NULL") {
  const batch b = make_batch({ints({1, 2, 3, std::nullopt})});
  const auto v = column_ref(0, type_id::int64);
  const auto plain = expr_pred(expr_op::in, {v, lit_i(1), lit_i(3)});
  CHECK(truth(plain, b) == std::vector<std::uint8_t>{T, F, T, N});
  CHECK(survivors(plain, b) == std::vector<std::uint32_t>{0, 2});
  const auto with_null = expr_pred(expr_op::in, {v, lit_i(1), lit_null(type_id::int64)});
  CHECK(truth(with_null, b) == std::vector<std::uint8_t>{T, N, N, N});
  CHECK(survivors(with_null, b) == std::vector<std::uint32_t>{0});
  const auto mixed = expr_pred(expr_op::in, {v, lit_d(2.0), lit_i(3)});
  CHECK(survivors(mixed, b) == std::vector<std::uint32_t>{1, 2});
  const auto only_null = expr_pred(expr_op::in, {v, lit_null(type_id::int64)});
  CHECK(survivors(only_null, b).empty());
}

TEST_CASE("in over strings compares whole strings") {
  const batch b = make_batch({strings({"MAIL", "SHIP", "MAILX", "AIR", "", "TRUCK AND TRAILER", std::nullopt})});
  const auto v = column_ref(0, type_id::string);
  const auto e = expr_pred(expr_op::in, {v, lit_s("MAIL"), lit_s("SHIP"), lit_s(""), lit_s("TRUCK AND TRAILER")});
  CHECK(survivors(e, b) == std::vector<std::uint32_t>{0, 1, 4, 5});
  CHECK(truth(e, b) == std::vector<std::uint8_t>{T, T, F, F, T, T, N});
}

// --- apply_filter -----------------------------------------------------------------------------------

TEST_CASE("apply_filter narrows an existing selection and keeps physical indices") {
  batch b = with_selection(make_batch({ints({5, 1, 7, 2, 9, 3})}), {0, 2, 3, 5});
  ftq::exec::apply_filter(expr_pred(expr_op::gt, {column_ref(0, type_id::int64), lit_i(2)}), b);
  CHECK(b.selection == std::vector<std::uint32_t>{0, 2, 5});
  CHECK(b.rows == 6);
}

TEST_CASE("apply_filter with and keeps the rows where every conjunct holds") {
  batch b = make_batch({ints({0, 4, 8, 2}), doubles({0.1, 0.5, 0.9, 0.6})});
  const auto x = column_ref(0, type_id::int64);
  const auto ratio = expr_node(expr_op::div, type_id::float64, {lit_i(8), x});
  const auto e =
      expr_pred(expr_op::and_, {expr_pred(expr_op::ne, {x, lit_i(0)}), expr_pred(expr_op::ge, {ratio, lit_d(2.0)}),
                                expr_pred(expr_op::lt, {column_ref(1, type_id::float64), lit_d(0.7)})});
  ftq::exec::apply_filter(e, b);
  CHECK(b.selection == std::vector<std::uint32_t>{1, 3});
}

TEST_CASE("apply_filter drops rows whose comparison is NULL") {
  batch b = make_batch({ints({1, std::nullopt, 3}), ints({1, 1, std::nullopt})});
  ftq::exec::apply_filter(expr_pred(expr_op::le, {column_ref(0, type_id::int64), column_ref(1, type_id::int64)}), b);
  CHECK(b.selection == std::vector<std::uint32_t>{0});
}

TEST_CASE("apply_filter with or over a selection merges both sides ascending") {
  batch b = with_selection(make_batch({ints({1, 2, 3, 4, 5, 6})}), {0, 1, 3, 4, 5});
  const auto x = column_ref(0, type_id::int64);
  const auto e =
      expr_pred(expr_op::or_, {expr_pred(expr_op::ge, {x, lit_i(5)}), expr_pred(expr_op::le, {x, lit_i(2)})});
  ftq::exec::apply_filter(e, b);
  CHECK(b.selection == std::vector<std::uint32_t>{0, 1, 4, 5});
}

TEST_CASE("apply_filter agrees with evaluate_predicate on random data, with and without a selection") {
  std::mt19937 rng(11);
  const char* words[] = {"MAIL", "SHIP", "AIR", "1994-01-01", "1994-07-01", "1995-01-01", "a", "", "TRUCK AND TRAILER"};
  // Columns 0-2 have NULLs (general paths), 3-5 the same kinds without (specialized kernels).
  std::vector<opt_i> xs;
  std::vector<opt_d> ds;
  std::vector<opt_s> ss;
  std::vector<opt_i> xs2;
  std::vector<opt_d> ds2;
  std::vector<opt_s> ss2;
  for (int i = 0; i < 2000; ++i) {
    xs.push_back(rng() % 11 == 0 ? opt_i{} : opt_i{static_cast<std::int64_t>(rng() % 50)});
    ds.push_back(rng() % 13 == 0 ? opt_d{} : opt_d{static_cast<double>(rng() % 11) / 100.0});
    ss.push_back(rng() % 17 == 0 ? opt_s{} : opt_s{words[rng() % 9]});
    xs2.push_back(static_cast<std::int64_t>(rng() % 50));
    ds2.push_back(static_cast<double>(rng() % 11) / 100.0);
    ss2.push_back(words[rng() % 9]);
  }
  const batch dense = make_batch({ints(xs), doubles(ds), strings(ss), ints(xs2), doubles(ds2), strings(ss2)});
  std::vector<std::uint32_t> sel;
  for (std::uint32_t i = 0; i < xs.size(); ++i) {
    if (rng() % 3 != 0) {
      sel.push_back(i);
    }
  }
  const batch selected = with_selection(dense, sel);
  std::vector<bound_expr> predicates;
  for (std::size_t base : {std::size_t{0}, std::size_t{3}}) {
    const auto x = column_ref(base, type_id::int64);
    const auto d = column_ref(base + 1, type_id::float64);
    const auto s = column_ref(base + 2, type_id::string);
    const std::vector<bound_expr> more = {
        expr_pred(expr_op::lt, {x, lit_i(24)}),
        expr_pred(expr_op::ge, {lit_i(24), x}),
        expr_pred(expr_op::ge, {d, x}),
        expr_pred(expr_op::ne, {d, lit_d(0.05)}),
        expr_pred(expr_op::le, {s, column_ref(2, type_id::string)}),
        expr_pred(expr_op::between, {d, lit_d(0.05), lit_d(0.07)}),
        expr_pred(expr_op::between, {x, lit_i(10), lit_d(20.5)}),
        expr_pred(expr_op::in, {s, lit_s("MAIL"), lit_s("SHIP")}),
        expr_pred(expr_op::in, {x, lit_i(3), lit_i(5), lit_null(type_id::int64)}),
        expr_pred(expr_op::in, {d, lit_i(0), lit_d(0.1)}),
        expr_pred(expr_op::ge, {s, lit_s("1994-01-01")}),
        expr_pred(expr_op::ne, {s, lit_s("AIR")}),
        expr_pred(expr_op::eq, {s, lit_s("TRUCK AND TRAILER")}),
        expr_pred(expr_op::and_,
                  {expr_pred(expr_op::ge, {s, lit_s("1994-01-01")}), expr_pred(expr_op::lt, {s, lit_s("1995-01-01")}),
                   expr_pred(expr_op::between, {d, lit_d(0.05), lit_d(0.07)}), expr_pred(expr_op::lt, {x, lit_i(24)})}),
        // Bounds on one column, in every mix of strict, inclusive and sides, merge into one pass.
        expr_pred(expr_op::and_, {expr_pred(expr_op::gt, {x, lit_i(10)}), expr_pred(expr_op::le, {x, lit_i(30)})}),
        expr_pred(expr_op::and_, {expr_pred(expr_op::lt, {x, lit_i(30)}), expr_pred(expr_op::le, {lit_i(10), x})}),
        expr_pred(expr_op::and_, {expr_pred(expr_op::gt, {lit_d(0.08), d}), expr_pred(expr_op::eq, {x, lit_i(7)}),
                                  expr_pred(expr_op::ge, {d, lit_i(0)})}),
        expr_pred(expr_op::and_,
                  {expr_pred(expr_op::gt, {s, lit_s("AIR")}), expr_pred(expr_op::le, {s, lit_s("SHIP")})}),
        expr_pred(expr_op::and_, {expr_pred(expr_op::gt, {x, lit_i(10)}), expr_pred(expr_op::gt, {x, lit_i(20)}),
                                  expr_pred(expr_op::lt, {x, lit_d(40.5)})}),
        expr_pred(expr_op::and_, {expr_pred(expr_op::gt, {x, lit_i(10)}),
                                  expr_pred(expr_op::lt, {column_ref(3, type_id::int64), lit_i(40)})}),
        expr_pred(expr_op::or_, {expr_pred(expr_op::eq, {s, lit_s("a")}), expr_pred(expr_op::gt, {x, lit_i(40)})}),
        expr_pred(expr_op::not_, {expr_pred(expr_op::in, {s, lit_s("MAIL"), lit_s("")})}),
        expr_pred(expr_op::lt, {expr_node(expr_op::mul, type_id::float64, {x, d}), lit_d(1.0)}),
    };
    predicates.insert(predicates.end(), more.begin(), more.end());
  }
  for (std::size_t k = 0; k < predicates.size(); ++k) {
    for (const batch* in : {&dense, &selected}) {
      const auto t = truth(predicates[k], *in);
      std::vector<std::uint32_t> expected;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == T) {
          expected.push_back(in->row_at(i));
        }
      }
      CAPTURE(k);
      CAPTURE(in->has_selection);
      CHECK(!expected.empty());
      CHECK(survivors(predicates[k], *in) == expected);
    }
  }
}

TEST_CASE("apply_filter with and of a NULL bound keeps no row") {
  batch b = make_batch({ints({1, 2, 3})});
  const auto x = column_ref(0, type_id::int64);
  ftq::exec::apply_filter(expr_pred(expr_op::and_, {expr_pred(expr_op::ge, {x, lit_null(type_id::int64)}),
                                                    expr_pred(expr_op::lt, {x, lit_i(3)})}),
                          b);
  CHECK(b.has_selection);
  CHECK(b.selection.empty());
}
