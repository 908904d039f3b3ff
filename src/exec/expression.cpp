#include "exec/expression.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <ftq/error.hpp>

namespace ftq::exec {

namespace {

// Truth values inside this file are ordered false < NULL < true, so SQL AND is min, OR is max
// and NOT is 2 - x; evaluate_predicate translates to the public encoding at the end.
constexpr std::uint8_t t_false = 0;
constexpr std::uint8_t t_null = 1;
constexpr std::uint8_t t_true = 2;

using truth_vector = std::vector<std::uint8_t>;

[[noreturn]] void fail_internal(const std::string& what) { throw error(errc::internal, "expression: " + what); }

bool is_arithmetic(expr_op op) noexcept {
  return op == expr_op::add || op == expr_op::sub || op == expr_op::mul || op == expr_op::div;
}

// The comparison that holds after swapping its operands (a < b  <=>  b > a).
expr_op mirrored(expr_op op) noexcept {
  switch (op) {
    case expr_op::lt:
      return expr_op::gt;
    case expr_op::le:
      return expr_op::ge;
    case expr_op::gt:
      return expr_op::lt;
    case expr_op::ge:
      return expr_op::le;
    default:
      return op;
  }
}

// ---------------------------------------------------------------------------------------------
// Operands: the value of a sub-expression over the live rows, without copying where possible.

enum class shape : std::uint8_t {
  dense,     // holder has one value per live row, in live order
  selected,  // holder is a batch column; live row i is physical row sel[i]
  scalar,    // one value for every row
};

struct operand {
  shape kind = shape::scalar;
  type_id type = type_id::int64;
  column_ptr holder;
  std::shared_ptr<column> scratch;  // == holder when this file made the column and nobody else
                                    // holds it, so arithmetic may overwrite it in place
  const std::uint32_t* sel = nullptr;
  std::size_t live = 0;  // selected only: entries of sel
  bool null = false;     // scalar only
  std::int64_t i = 0;
  double d = 0;
  std::string_view s;

  bool has_nulls() const noexcept { return kind == shape::scalar ? null : holder->has_nulls(); }
};

template <class T>
const T* values_of(const column& c) noexcept {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    return c.ints.data();
  } else if constexpr (std::is_same_v<T, double>) {
    return c.doubles.data();
  } else {
    return c.strings.data();
  }
}

template <class T>
T scalar_of(const operand& o) noexcept {
  if constexpr (std::is_same_v<T, std::int64_t>) {
    return o.i;
  } else if constexpr (std::is_same_v<T, double>) {
    return o.d;
  } else {
    return o.s;
  }
}

// Accessors: live row i of an operand. prefetch(i) is called once per row before reading row i;
// only selected access does anything, as sparse reads defeat the hardware prefetcher.
template <class T>
struct dense_access {
  const T* p;
  T operator[](std::size_t i) const noexcept { return p[i]; }
  void prefetch(std::size_t) const noexcept {}
};

template <class T>
struct selected_access {
  const T* p;
  const std::uint32_t* sel;
  std::size_t live;
  T operator[](std::size_t i) const noexcept { return p[sel[i]]; }
  void prefetch(std::size_t i) const noexcept {
    // Far enough ahead to cover a memory miss; strings need their view in cache a little before
    // the bytes it points to can be fetched.
    constexpr std::size_t ahead = 32;
    if (i + ahead < live) {
      __builtin_prefetch(p + sel[i + ahead]);
    }
    if constexpr (std::is_same_v<T, std::string_view>) {
      if (i + ahead / 2 < live) {
        __builtin_prefetch(p[sel[i + ahead / 2]].data());
      }
    }
  }
};

template <class T>
struct scalar_access {
  T v;
  T operator[](std::size_t) const noexcept { return v; }
  void prefetch(std::size_t) const noexcept {}
};

template <class A>
inline constexpr bool is_selected_access = false;
template <class T>
inline constexpr bool is_selected_access<selected_access<T>> = true;

// Calls f with an accessor over o's live values as T; scalars only when allow_scalar.
template <class T, bool allow_scalar, class F>
void with_access(const operand& o, F&& f) {
  switch (o.kind) {
    case shape::dense:
      f(dense_access<T>{values_of<T>(*o.holder)});
      return;
    case shape::selected:
      f(selected_access<T>{values_of<T>(*o.holder), o.sel, o.live});
      return;
    case shape::scalar:
      if constexpr (allow_scalar) {
        f(scalar_access<T>{scalar_of<T>(o)});
        return;
      }
      break;
  }
  fail_internal("unexpected operand shape");
}

// ORs o's NULL flags into out[0, live).
void or_nulls(const operand& o, std::size_t live, std::uint8_t* out) {
  switch (o.kind) {
    case shape::scalar:
      if (o.null) {
        std::fill(out, out + live, std::uint8_t{1});
      }
      return;
    case shape::dense:
      if (o.holder->has_nulls()) {
        const std::uint8_t* n = o.holder->nulls.data();
        for (std::size_t i = 0; i < live; ++i) {
          out[i] |= n[i];
        }
      }
      return;
    case shape::selected:
      if (o.holder->has_nulls()) {
        const std::uint8_t* n = o.holder->nulls.data();
        for (std::size_t i = 0; i < live; ++i) {
          out[i] |= n[o.sel[i]];
        }
      }
      return;
  }
}

// Sets truth[i] to NULL wherever o is NULL.
void mark_nulls(const operand& o, std::size_t live, std::uint8_t* truth) {
  if (o.kind == shape::scalar) {
    if (o.null) {
      std::fill(truth, truth + live, t_null);
    }
    return;
  }
  if (!o.holder->has_nulls()) {
    return;
  }
  const std::uint8_t* n = o.holder->nulls.data();
  if (o.kind == shape::dense) {
    for (std::size_t i = 0; i < live; ++i) {
      truth[i] = n[i] ? t_null : truth[i];
    }
  } else {
    for (std::size_t i = 0; i < live; ++i) {
      truth[i] = n[o.sel[i]] ? t_null : truth[i];
    }
  }
}

template <class T>
void gather_into(const std::vector<T>& from, const std::uint32_t* sel, std::size_t live, std::vector<T>& to) {
  to.resize(live);
  const T* src = from.data();
  T* dst = to.data();
  for (std::size_t i = 0; i < live; ++i) {
    dst[i] = src[sel[i]];
  }
}

// Turns an operand into a column of exactly `live` values in live order.
column_ptr materialize(const operand& o, std::size_t live) {
  if (o.kind == shape::dense) {
    return o.holder;
  }
  auto out = std::make_shared<column>(o.type);
  if (o.kind == shape::selected) {
    const column& in = *o.holder;
    switch (o.type) {
      case type_id::int64:
        gather_into(in.ints, o.sel, live, out->ints);
        break;
      case type_id::float64:
        gather_into(in.doubles, o.sel, live, out->doubles);
        break;
      case type_id::string:
        gather_into(in.strings, o.sel, live, out->strings);
        out->keep_alive_from(in);
        break;
      case type_id::boolean:
        fail_internal("boolean column");
    }
    if (in.has_nulls()) {
      gather_into(in.nulls, o.sel, live, out->nulls);
    }
    return out;
  }
  switch (o.type) {
    case type_id::int64:
      out->ints.assign(live, o.i);
      break;
    case type_id::float64:
      out->doubles.assign(live, o.d);
      break;
    case type_id::string: {
      // The literal lives in the plan, which may die before the batch; give the batch its copy.
      auto owner = std::make_shared<const std::string>(o.s);
      out->strings.assign(live, std::string_view(*owner));
      out->keep_alive(std::move(owner));
      break;
    }
    case type_id::boolean:
      fail_internal("boolean constant used as a value");
  }
  if (o.null) {
    out->nulls.assign(live, 1);
  }
  return out;
}

// Makes an int64 operand float64: scalars in place, columns converted into a dense copy.
void convert_to_double(operand& o, std::size_t live) {
  if (o.type != type_id::int64) {
    return;
  }
  o.type = type_id::float64;
  if (o.kind == shape::scalar) {
    o.d = static_cast<double>(o.i);
    return;
  }
  auto out = std::make_shared<column>(type_id::float64);
  out->doubles.resize(live);
  double* dst = out->doubles.data();
  with_access<std::int64_t, false>(o, [&](auto src) {
    for (std::size_t i = 0; i < live; ++i) {
      dst[i] = static_cast<double>(src[i]);
    }
  });
  if (o.holder->has_nulls()) {
    out->nulls.assign(live, 0);
    or_nulls(o, live, out->nulls.data());
  }
  o.holder = out;
  o.scratch = std::move(out);
  o.kind = shape::dense;
  o.sel = nullptr;
}

operand scalar_operand(const bound_expr& e) {
  operand o;
  o.kind = shape::scalar;
  o.type = e.type;
  if (std::holds_alternative<std::monostate>(e.value)) {
    o.null = true;
  } else if (const auto* i = std::get_if<std::int64_t>(&e.value)) {
    o.i = *i;
    o.d = static_cast<double>(*i);
    if (o.type != type_id::float64) {
      o.type = type_id::int64;
    }
  } else if (const auto* d = std::get_if<double>(&e.value)) {
    o.d = *d;
    o.type = type_id::float64;
  } else {
    o.s = std::get<std::string>(e.value);
    o.type = type_id::string;
  }
  return o;
}

std::shared_ptr<column> arithmetic(const bound_expr& e, const batch& in);

operand eval_operand(const bound_expr& e, const batch& in) {
  switch (e.op) {
    case expr_op::column: {
      if (e.column >= in.columns.size()) {
        fail_internal("column index " + std::to_string(e.column) + " out of range");
      }
      operand o;
      o.holder = in.columns[e.column];
      o.type = o.holder->type;
      if (in.has_selection) {
        o.kind = shape::selected;
        o.sel = in.selection.data();
        o.live = in.selection.size();
      } else {
        o.kind = shape::dense;
      }
      return o;
    }
    case expr_op::constant:
      return scalar_operand(e);
    case expr_op::add:
    case expr_op::sub:
    case expr_op::mul:
    case expr_op::div: {
      operand o;
      o.kind = shape::dense;
      o.scratch = arithmetic(e, in);
      o.holder = o.scratch;
      o.type = o.holder->type;
      return o;
    }
    default:
      fail_internal("predicate '" + std::string(expr_op_name(e.op)) + "' used as a value");
  }
}

// ---------------------------------------------------------------------------------------------
// Arithmetic.

struct add_checked {
  bool operator()(std::int64_t a, std::int64_t b, std::int64_t* r) const noexcept {
    return __builtin_add_overflow(a, b, r);
  }
};
struct sub_checked {
  bool operator()(std::int64_t a, std::int64_t b, std::int64_t* r) const noexcept {
    return __builtin_sub_overflow(a, b, r);
  }
};
struct mul_checked {
  bool operator()(std::int64_t a, std::int64_t b, std::int64_t* r) const noexcept {
    return __builtin_mul_overflow(a, b, r);
  }
};

template <class Op, class L, class R>
bool int_loop(std::int64_t* out, std::size_t n, L l, R r, Op op) {
  bool overflow = false;
  for (std::size_t i = 0; i < n; ++i) {
    overflow |= op(l[i], r[i], &out[i]);
  }
  return overflow;
}

template <class L, class R>
void double_loop(expr_op op, double* out, std::size_t n, L l, R r) {
  switch (op) {
    case expr_op::add:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = l[i] + r[i];
      }
      return;
    case expr_op::sub:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = l[i] - r[i];
      }
      return;
    case expr_op::mul:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = l[i] * r[i];
      }
      return;
    case expr_op::div:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = l[i] / r[i];
      }
      return;
    default:
      fail_internal("not an arithmetic operator");
  }
}

template <class Op>
void int_arith(Op op, expr_op which, const operand& a, const operand& b, column& out, std::size_t live) {
  std::int64_t* dst = out.ints.data();
  bool overflow = false;
  with_access<std::int64_t, true>(a, [&](auto l) {
    with_access<std::int64_t, true>(b, [&](auto r) { overflow = int_loop(dst, live, l, r, op); });
  });
  if (!overflow) {
    return;
  }
  // NULL rows hold arbitrary values; only an overflow on a row with a value is an error.
  with_access<std::int64_t, true>(a, [&](auto l) {
    with_access<std::int64_t, true>(b, [&](auto r) {
      for (std::size_t i = 0; i < live; ++i) {
        std::int64_t ignored = 0;
        if (!out.is_null(i) && op(l[i], r[i], &ignored)) {
          throw std::overflow_error("integer overflow in " + std::string(expr_op_name(which)));
        }
      }
    });
  });
}

// ORs the NULL flags of `from` into out (unless out is from's own column).
void merge_nulls(const operand& from, column& out, std::size_t live) {
  if (from.scratch.get() == &out || !from.has_nulls()) {
    return;
  }
  if (out.nulls.empty()) {
    out.nulls.assign(live, 0);
  }
  or_nulls(from, live, out.nulls.data());
}

std::shared_ptr<column> arithmetic(const bound_expr& e, const batch& in) {
  if (e.args.size() != 2) {
    fail_internal("arithmetic needs two operands");
  }
  const std::size_t live = in.live_rows();
  operand a = eval_operand(e.args[0], in);
  operand b = eval_operand(e.args[1], in);
  if ((a.kind == shape::scalar && a.null) || (b.kind == shape::scalar && b.null)) {
    auto out = std::make_shared<column>(e.type);
    out->resize(live);
    out->nulls.assign(live, 1);
    return out;
  }
  if (e.type == type_id::int64) {
    if (a.type != type_id::int64 || b.type != type_id::int64 || e.op == expr_op::div) {
      fail_internal("int64 arithmetic over non-int64 operands");
    }
    // A fresh column: the overflow re-check reads the operands after the values are written.
    auto out = std::make_shared<column>(type_id::int64);
    out->ints.resize(live);
    merge_nulls(a, *out, live);
    merge_nulls(b, *out, live);
    switch (e.op) {
      case expr_op::add:
        int_arith(add_checked{}, e.op, a, b, *out, live);
        break;
      case expr_op::sub:
        int_arith(sub_checked{}, e.op, a, b, *out, live);
        break;
      case expr_op::mul:
        int_arith(mul_checked{}, e.op, a, b, *out, live);
        break;
      default:
        fail_internal("not an arithmetic operator");
    }
    return out;
  }
  if (e.type != type_id::float64 || !is_numeric(a.type) || !is_numeric(b.type)) {
    fail_internal("arithmetic over non-numeric operands");
  }
  convert_to_double(a, live);
  convert_to_double(b, live);
  // Nested arithmetic (price * (1 - discount) * (1 + tax)) writes into an operand's temporary
  // instead of allocating a column per operator; each row reads its inputs before writing.
  std::shared_ptr<column> out = a.scratch ? a.scratch : b.scratch;
  if (!out) {
    out = std::make_shared<column>(type_id::float64);
    out->doubles.resize(live);
  }
  merge_nulls(a, *out, live);
  merge_nulls(b, *out, live);
  if (e.op == expr_op::div) {
    // Before the values: the divisor may be the column about to be overwritten.
    with_access<double, true>(b, [&](auto r) {
      bool zero = false;
      for (std::size_t i = 0; i < live; ++i) {
        zero |= r[i] == 0.0;
      }
      if (!zero) {
        return;
      }
      if (out->nulls.empty()) {
        out->nulls.assign(live, 0);
      }
      std::uint8_t* nulls = out->nulls.data();
      for (std::size_t i = 0; i < live; ++i) {
        nulls[i] |= static_cast<std::uint8_t>(r[i] == 0.0);
      }
    });
  }
  double* dst = out->doubles.data();
  with_access<double, true>(
      a, [&](auto l) { with_access<double, true>(b, [&](auto r) { double_loop(e.op, dst, live, l, r); }); });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comparisons. Strings order bytewise, a proper prefix first (what std::string_view does).

std::uint64_t load_u64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint32_t load_u32(const char* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Orders like the string when both are at most 15 bytes: the bytes big-endian, zero-padded, then
// the length in the last byte (zero padding ties only with a longer string that the length
// then places after it, as a prefix must be). One 128-bit integer, so comparing two keys is a
// cmp/sbb pair; __extension__ keeps -Wpedantic quiet about __int128.
__extension__ typedef unsigned __int128 short_key;

constexpr std::size_t short_key_max = 15;

// Only for 8 <= s.size() <= 15: two loads instead of a padded copy.
[[gnu::always_inline]] inline short_key key_of_mid(std::string_view s) noexcept {
  const std::size_t n = s.size();
  const std::uint64_t hi = __builtin_bswap64(load_u64(s.data()));
  const std::uint64_t lo = ((__builtin_bswap64(load_u64(s.data() + n - 8)) << (8 * (15 - n))) << 8) | n;
  return (static_cast<short_key>(hi) << 64) | lo;
}

short_key key_of_any(std::string_view s) noexcept {
  char buf[16] = {};
  if (!s.empty()) {
    std::memcpy(buf, s.data(), std::min(s.size(), short_key_max));
  }
  const std::uint64_t hi = __builtin_bswap64(load_u64(buf));
  const std::uint64_t lo = __builtin_bswap64(load_u64(buf + 8)) | s.size();
  return (static_cast<short_key>(hi) << 64) | lo;
}

// A string constant prepared once per batch for fast comparisons against many row strings.
struct string_constant {
  std::string_view s;
  bool keyed = false;  // s fits in a short_key
  short_key key = 0;
  std::uint64_t head = 0;  // the key's first 8 bytes
  enum class eq_kind : std::uint8_t { empty, tiny, word4, word8, long_ } eq = eq_kind::long_;
  std::uint64_t w0 = 0;
  std::uint64_t w1 = 0;

  explicit string_constant(std::string_view v) : s(v) {
    const std::size_t n = v.size();
    keyed = n <= short_key_max;
    if (keyed) {
      key = key_of_any(v);
      head = static_cast<std::uint64_t>(key >> 64);
    }
    if (n == 0) {
      eq = eq_kind::empty;
    } else if (n < 4) {
      eq = eq_kind::tiny;
    } else if (n < 8) {
      eq = eq_kind::word4;
      w0 = load_u32(v.data());
      w1 = load_u32(v.data() + n - 4);
    } else if (n <= 16) {
      eq = eq_kind::word8;
      w0 = load_u64(v.data());
      w1 = load_u64(v.data() + n - 8);
    }
  }
};

struct string_constant_access {
  const string_constant* c;
  const string_constant& operator[](std::size_t) const noexcept { return *c; }
  void prefetch(std::size_t) const noexcept {}
};

template <class T>
bool values_equal(T a, T b) noexcept {
  return a == b;
}
template <class T>
bool values_less(T a, T b) noexcept {
  return a < b;
}
template <class T>
bool values_less_eq(T a, T b) noexcept {
  return a <= b;
}

// The slow paths stay out of line so the fast paths inline into the row loops.
[[gnu::noinline]] bool bytes_equal(std::string_view a, std::string_view b) noexcept { return a == b; }
[[gnu::noinline]] bool bytes_less(std::string_view a, std::string_view b) noexcept { return a < b; }
[[gnu::noinline]] bool bytes_less_eq(std::string_view a, std::string_view b) noexcept { return a <= b; }

[[gnu::always_inline]] inline bool values_equal(std::string_view a, const string_constant& c) noexcept {
  if (a.size() != c.s.size()) {
    return false;
  }
  switch (c.eq) {
    case string_constant::eq_kind::empty:
      return true;
    case string_constant::eq_kind::word4:
      return (load_u32(a.data()) == c.w0) & (load_u32(a.data() + a.size() - 4) == c.w1);
    case string_constant::eq_kind::word8:
      return (load_u64(a.data()) == c.w0) & (load_u64(a.data() + a.size() - 8) == c.w1);
    case string_constant::eq_kind::tiny:
    case string_constant::eq_kind::long_:
      break;
  }
  return bytes_equal(a, c.s);
}

// Against a keyed constant, a row string of 8 bytes or more is mostly ordered by its first 8
// bytes alone (one load); only a tie there needs the whole key or the bytes.
[[gnu::always_inline]] inline std::uint64_t head_of(std::string_view a) noexcept {
  return __builtin_bswap64(load_u64(a.data()));
}

[[gnu::always_inline]] inline bool values_less(std::string_view a, const string_constant& c) noexcept {
  if (c.keyed && a.size() >= 8) {
    const std::uint64_t h = head_of(a);
    if (h != c.head) {
      return h < c.head;
    }
    if (a.size() <= short_key_max) {
      return key_of_mid(a) < c.key;
    }
  }
  return bytes_less(a, c.s);
}
[[gnu::always_inline]] inline bool values_less(const string_constant& c, std::string_view a) noexcept {
  if (c.keyed && a.size() >= 8) {
    const std::uint64_t h = head_of(a);
    if (h != c.head) {
      return c.head < h;
    }
    if (a.size() <= short_key_max) {
      return c.key < key_of_mid(a);
    }
  }
  return bytes_less(c.s, a);
}
[[gnu::always_inline]] inline bool values_less_eq(std::string_view a, const string_constant& c) noexcept {
  if (c.keyed && a.size() >= 8) {
    const std::uint64_t h = head_of(a);
    if (h != c.head) {
      return h < c.head;
    }
    if (a.size() <= short_key_max) {
      return key_of_mid(a) <= c.key;
    }
  }
  return bytes_less_eq(a, c.s);
}
[[gnu::always_inline]] inline bool values_less_eq(const string_constant& c, std::string_view a) noexcept {
  if (c.keyed && a.size() >= 8) {
    const std::uint64_t h = head_of(a);
    if (h != c.head) {
      return c.head < h;
    }
    if (a.size() <= short_key_max) {
      return c.key <= key_of_mid(a);
    }
  }
  return bytes_less_eq(c.s, a);
}

struct cmp_eq {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return values_equal(a, b);
  }
};
struct cmp_ne {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return !values_equal(a, b);
  }
};
struct cmp_lt {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return values_less(a, b);
  }
};
struct cmp_le {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return values_less_eq(a, b);
  }
};
struct cmp_gt {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return values_less(b, a);
  }
};
struct cmp_ge {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return values_less_eq(b, a);
  }
};

template <class F>
void with_comparator(expr_op op, F&& f) {
  switch (op) {
    case expr_op::eq:
      f(cmp_eq{});
      return;
    case expr_op::ne:
      f(cmp_ne{});
      return;
    case expr_op::lt:
      f(cmp_lt{});
      return;
    case expr_op::le:
      f(cmp_le{});
      return;
    case expr_op::gt:
      f(cmp_gt{});
      return;
    case expr_op::ge:
      f(cmp_ge{});
      return;
    default:
      fail_internal("not a comparison");
  }
}

// Brings two operands to a common comparable type: both int64, both float64 or both string.
type_id unify_for_comparison(operand& a, operand& b, std::size_t live) {
  if (a.type == type_id::string && b.type == type_id::string) {
    return type_id::string;
  }
  if (!is_numeric(a.type) || !is_numeric(b.type)) {
    fail_internal("comparison of " + std::string(type_name(a.type)) + " with " + std::string(type_name(b.type)));
  }
  if (a.type == type_id::int64 && b.type == type_id::int64) {
    return type_id::int64;
  }
  convert_to_double(a, live);
  convert_to_double(b, live);
  return type_id::float64;
}

// Calls f(left_access, right_access) with the left side a column (dense or selected) and the right
// side of the same type; a string constant on the right comes prepared. `a` must not be scalar.
template <class F>
void with_column_pair(type_id t, const operand& a, const operand& b, F&& f) {
  switch (t) {
    case type_id::int64:
      with_access<std::int64_t, false>(a,
                                       [&](auto l) { with_access<std::int64_t, true>(b, [&](auto r) { f(l, r); }); });
      return;
    case type_id::float64:
      with_access<double, false>(a, [&](auto l) { with_access<double, true>(b, [&](auto r) { f(l, r); }); });
      return;
    case type_id::string:
      with_access<std::string_view, false>(a, [&](auto l) {
        if (b.kind == shape::scalar) {
          const string_constant c(b.s);
          f(l, string_constant_access{&c});
        } else {
          with_access<std::string_view, false>(b, [&](auto r) { f(l, r); });
        }
      });
      return;
    case type_id::boolean:
      break;
  }
  fail_internal("boolean comparison");
}

// Compares two operands: truth[i] for every live row, NULL where either side is NULL.
void compare_truth(expr_op op, operand a, operand b, std::size_t live, std::uint8_t* truth) {
  // A NULL constant may carry any type, so it is settled before the operand types are unified.
  if ((a.kind == shape::scalar && a.null) || (b.kind == shape::scalar && b.null)) {
    std::fill(truth, truth + live, t_null);
    return;
  }
  const type_id t = unify_for_comparison(a, b, live);
  if (a.kind == shape::scalar && b.kind == shape::scalar) {
    bool result = false;
    with_comparator(op, [&](auto cmp) {
      switch (t) {
        case type_id::int64:
          result = cmp(a.i, b.i);
          break;
        case type_id::float64:
          result = cmp(a.d, b.d);
          break;
        default:
          result = cmp(a.s, b.s);
          break;
      }
    });
    std::fill(truth, truth + live, result ? t_true : t_false);
    return;
  }
  if (a.kind == shape::scalar) {
    std::swap(a, b);
    op = mirrored(op);
  }
  with_comparator(op, [&](auto cmp) {
    with_column_pair(t, a, b, [&](auto l, auto r) {
      for (std::size_t i = 0; i < live; ++i) {
        truth[i] = static_cast<std::uint8_t>(cmp(l[i], r[i]) << 1);
      }
    });
  });
  mark_nulls(a, live, truth);
  mark_nulls(b, live, truth);
}

// ---------------------------------------------------------------------------------------------
// Selection building: every kernel below writes surviving physical row indices into `out`
// branch-free (write always, advance on match). `out` may alias `sel`: it never gets ahead of
// the row being read.

struct selection_target {
  std::uint32_t* out;
  const std::uint32_t* sel;  // null when the batch has no selection
  std::size_t live;
};

selection_target begin_narrowing(batch& b) {
  const std::size_t live = b.live_rows();
  if (!b.has_selection) {
    b.selection.resize(b.rows);
    return {b.selection.data(), nullptr, live};
  }
  return {b.selection.data(), b.selection.data(), live};
}

void end_narrowing(batch& b, std::size_t survivors) {
  b.selection.resize(survivors);
  b.has_selection = true;
}

void select_none(batch& b) {
  b.selection.clear();
  b.has_selection = true;
}

// flatten: GCC otherwise tends to leave the predicate as an out-of-line call per row.
template <bool has_selection, class Pred>
[[gnu::flatten]] std::size_t select_loop(const selection_target& t, Pred pred) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < t.live; ++i) {
    if constexpr (has_selection) {
      t.out[n] = t.sel[i];
    } else {
      t.out[n] = static_cast<std::uint32_t>(i);
    }
    n += static_cast<std::size_t>(pred(i));
  }
  return n;
}

// Runs pred(i) over the live rows of b and keeps the rows where it holds.
template <class Pred>
void narrow(batch& b, Pred pred) {
  const selection_target t = begin_narrowing(b);
  const std::size_t n = t.sel != nullptr ? select_loop<true>(t, pred) : select_loop<false>(t, pred);
  end_narrowing(b, n);
}

void narrow_by_truth(batch& b, const std::uint8_t* truth) {
  narrow(b, [truth](std::size_t i) { return truth[i] == t_true; });
}

// Keeps the rows where `a op b` holds, both operands free of NULLs and `a` not scalar.
void narrow_by_comparison(batch& b, expr_op op, type_id t, const operand& left, const operand& right) {
  with_comparator(op, [&](auto cmp) {
    with_column_pair(t, left, right, [&](auto l, auto r) {
      const selection_target target = begin_narrowing(b);
      std::size_t n = 0;
      if (target.sel != nullptr) {
        n = select_loop<true>(target, [&](std::size_t i) {
          l.prefetch(i);
          r.prefetch(i);
          return cmp(l[i], r[i]);
        });
      } else if constexpr (!is_selected_access<decltype(l)> && !is_selected_access<decltype(r)>) {
        n = select_loop<false>(target, [&](std::size_t i) { return cmp(l[i], r[i]); });
      } else {
        fail_internal("selected operand over a batch without selection");
      }
      end_narrowing(b, n);
    });
  });
}

void truth_of(const bound_expr& e, const batch& in, truth_vector& out);

void filter_comparison(const bound_expr& e, batch& b) {
  const std::size_t live = b.live_rows();
  operand a = eval_operand(e.args[0], b);
  operand c = eval_operand(e.args[1], b);
  if ((a.kind == shape::scalar && a.null) || (c.kind == shape::scalar && c.null)) {
    select_none(b);
    return;
  }
  expr_op op = e.op;
  if (a.kind == shape::scalar && c.kind == shape::scalar) {
    truth_vector truth(live);
    compare_truth(op, a, c, live, truth.data());
    narrow_by_truth(b, truth.data());
    return;
  }
  if (a.has_nulls() || c.has_nulls()) {
    truth_vector truth(live);
    compare_truth(op, std::move(a), std::move(c), live, truth.data());
    narrow_by_truth(b, truth.data());
    return;
  }
  const type_id t = unify_for_comparison(a, c, live);
  if (a.kind == shape::scalar) {
    std::swap(a, c);
    op = mirrored(op);
  }
  narrow_by_comparison(b, op, t, a, c);
}

// lo <(=) v <(=) hi for a NULL-free column v and non-NULL constant bounds, in one pass that reads
// each value once. False (nothing done) when v is not a plain column or has NULLs.
template <bool lo_inclusive, bool hi_inclusive>
bool narrow_by_range(batch& b, operand v, operand lo, operand hi) {
  if (v.kind == shape::scalar || v.has_nulls()) {
    return false;
  }
  if (lo.null || hi.null) {
    select_none(b);
    return true;
  }
  const auto run = [&](auto l, auto low, auto high) {
    narrow(b, [&](std::size_t i) {
      l.prefetch(i);
      const auto x = l[i];
      const bool above = lo_inclusive ? values_less_eq(low, x) : values_less(low, x);
      const bool below = hi_inclusive ? values_less_eq(x, high) : values_less(x, high);
      return above & below;
    });
  };
  if (v.type == type_id::string) {
    if (lo.type != type_id::string || hi.type != type_id::string) {
      fail_internal("string compared with a number");
    }
    const string_constant low(lo.s);
    const string_constant high(hi.s);
    with_access<std::string_view, false>(v, [&](auto l) { run(l, low, high); });
    return true;
  }
  if (!is_numeric(lo.type) || !is_numeric(hi.type)) {
    fail_internal("number compared with a string");
  }
  if (v.type == type_id::int64 && lo.type == type_id::int64 && hi.type == type_id::int64) {
    with_access<std::int64_t, false>(v, [&](auto l) { run(l, lo.i, hi.i); });
    return true;
  }
  const std::size_t live = b.live_rows();
  convert_to_double(v, live);
  convert_to_double(lo, live);
  convert_to_double(hi, live);
  with_access<double, false>(v, [&](auto l) { run(l, lo.d, hi.d); });
  return true;
}

bool narrow_by_range(batch& b, const operand& v, const operand& lo, bool lo_inclusive, const operand& hi,
                     bool hi_inclusive) {
  if (lo_inclusive) {
    return hi_inclusive ? narrow_by_range<true, true>(b, v, lo, hi) : narrow_by_range<true, false>(b, v, lo, hi);
  }
  return hi_inclusive ? narrow_by_range<false, true>(b, v, lo, hi) : narrow_by_range<false, false>(b, v, lo, hi);
}

bool filter_between_constants(const bound_expr& e, batch& b) {
  if (e.args[1].op != expr_op::constant || e.args[2].op != expr_op::constant) {
    return false;
  }
  return narrow_by_range(b, eval_operand(e.args[0], b), scalar_operand(e.args[1]), true, scalar_operand(e.args[2]),
                         true);
}

// One side of a range on a column: `col >= c`, `c > col`, ...
struct half_range {
  std::size_t column = 0;
  bool lower = false;  // col > c or col >= c
  bool inclusive = false;
  const bound_expr* constant = nullptr;
};

std::optional<half_range> as_half_range(const bound_expr& e) {
  if (e.args.size() != 2) {
    return std::nullopt;
  }
  expr_op op = e.op;
  const bound_expr* col = &e.args[0];
  const bound_expr* c = &e.args[1];
  if (col->op == expr_op::constant && c->op == expr_op::column) {
    std::swap(col, c);
    op = mirrored(op);
  }
  if (col->op != expr_op::column || c->op != expr_op::constant) {
    return std::nullopt;
  }
  switch (op) {
    case expr_op::gt:
      return half_range{col->column, true, false, c};
    case expr_op::ge:
      return half_range{col->column, true, true, c};
    case expr_op::lt:
      return half_range{col->column, false, false, c};
    case expr_op::le:
      return half_range{col->column, false, true, c};
    default:
      return std::nullopt;
  }
}

// AND: conjuncts in their written order, each over the survivors of the ones before. A lower and
// an upper bound on the same column (d >= '1994-01-01' AND d < '1995-01-01') merge into one pass
// at the first one's place, so the column is read once.
void filter_and(const bound_expr& e, batch& b) {
  const std::size_t n = e.args.size();
  std::vector<std::optional<half_range>> halves(n);
  for (std::size_t k = 0; k < n; ++k) {
    halves[k] = as_half_range(e.args[k]);
  }
  std::vector<bool> done(n, false);
  for (std::size_t k = 0; k < n; ++k) {
    if (done[k]) {
      continue;
    }
    bool merged = false;
    if (halves[k]) {
      for (std::size_t j = k + 1; j < n && !merged; ++j) {
        if (done[j] || !halves[j] || halves[j]->column != halves[k]->column || halves[j]->lower == halves[k]->lower) {
          continue;
        }
        const half_range& lo = halves[k]->lower ? *halves[k] : *halves[j];
        const half_range& hi = halves[k]->lower ? *halves[j] : *halves[k];
        bound_expr column_ref;
        column_ref.op = expr_op::column;
        column_ref.column = lo.column;
        merged = narrow_by_range(b, eval_operand(column_ref, b), scalar_operand(*lo.constant), lo.inclusive,
                                 scalar_operand(*hi.constant), hi.inclusive);
        if (merged) {
          done[j] = true;
        }
      }
    }
    if (!merged) {
      apply_filter(e.args[k], b);
    }
    if (b.live_rows() == 0) {
      return;
    }
  }
}

// v IN (constants) with a NULL-free v: a NULL constant can never make a row TRUE, so it is skipped.
bool filter_in_constants(const bound_expr& e, batch& b) {
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    if (e.args[k].op != expr_op::constant) {
      return false;
    }
  }
  operand v = eval_operand(e.args[0], b);
  if (v.kind == shape::scalar || v.has_nulls()) {
    return false;
  }
  std::vector<operand> constants;
  constants.reserve(e.args.size() - 1);
  bool all_int = v.type == type_id::int64;
  for (std::size_t k = 1; k < e.args.size(); ++k) {
    operand c = scalar_operand(e.args[k]);
    if (c.null) {
      continue;
    }
    if ((c.type == type_id::string) != (v.type == type_id::string)) {
      fail_internal("IN mixes strings and numbers");
    }
    all_int = all_int && c.type == type_id::int64;
    constants.push_back(c);
  }
  if (constants.empty()) {
    select_none(b);
    return true;
  }
  const std::size_t live = b.live_rows();
  const auto run = [&](auto l, const auto& list) {
    narrow(b, [&](std::size_t i) {
      l.prefetch(i);
      const auto x = l[i];
      bool match = false;
      for (const auto& c : list) {
        match |= values_equal(x, c);
      }
      return match;
    });
  };
  if (v.type == type_id::string) {
    std::vector<string_constant> list;
    list.reserve(constants.size());
    for (const auto& c : constants) {
      list.emplace_back(c.s);
    }
    with_access<std::string_view, false>(v, [&](auto l) { run(l, list); });
  } else if (all_int) {
    std::vector<std::int64_t> list;
    for (const auto& c : constants) {
      list.push_back(c.i);
    }
    with_access<std::int64_t, false>(v, [&](auto l) { run(l, list); });
  } else {
    convert_to_double(v, live);
    std::vector<double> list;
    for (const auto& c : constants) {
      list.push_back(c.type == type_id::int64 ? static_cast<double>(c.i) : c.d);
    }
    with_access<double, false>(v, [&](auto l) { run(l, list); });
  }
  return true;
}

// OR: each side filters the incoming rows on its own; the survivors are the union, ascending.
void filter_or(const bound_expr& e, batch& b) {
  const bool had_selection = b.has_selection;
  const std::vector<std::uint32_t> incoming = had_selection ? b.selection : std::vector<std::uint32_t>{};
  const std::size_t live = b.live_rows();
  std::vector<std::uint32_t> kept;
  std::vector<std::uint32_t> merged;
  for (std::size_t k = 0; k < e.args.size(); ++k) {
    b.has_selection = had_selection;
    if (had_selection) {
      b.selection = incoming;
    }
    apply_filter(e.args[k], b);
    if (k == 0) {
      kept.swap(b.selection);
    } else {
      merged.clear();
      std::set_union(kept.begin(), kept.end(), b.selection.begin(), b.selection.end(), std::back_inserter(merged));
      kept.swap(merged);
    }
    if (kept.size() == live) {
      break;
    }
  }
  b.selection = std::move(kept);
  b.has_selection = true;
}

// ---------------------------------------------------------------------------------------------
// Three-valued evaluation of predicates.

void truth_of(const bound_expr& e, const batch& in, truth_vector& out) {
  const std::size_t live = in.live_rows();
  out.resize(live);
  switch (e.op) {
    case expr_op::and_:
    case expr_op::or_: {
      if (e.args.empty()) {
        fail_internal("and/or without operands");
      }
      truth_of(e.args[0], in, out);
      truth_vector next;
      for (std::size_t k = 1; k < e.args.size(); ++k) {
        truth_of(e.args[k], in, next);
        if (e.op == expr_op::and_) {
          for (std::size_t i = 0; i < live; ++i) {
            out[i] = std::min(out[i], next[i]);
          }
        } else {
          for (std::size_t i = 0; i < live; ++i) {
            out[i] = std::max(out[i], next[i]);
          }
        }
      }
      return;
    }
    case expr_op::not_:
      if (e.args.size() != 1) {
        fail_internal("not needs one operand");
      }
      truth_of(e.args[0], in, out);
      for (std::size_t i = 0; i < live; ++i) {
        out[i] = static_cast<std::uint8_t>(t_true - out[i]);
      }
      return;
    case expr_op::eq:
    case expr_op::ne:
    case expr_op::lt:
    case expr_op::le:
    case expr_op::gt:
    case expr_op::ge:
      if (e.args.size() != 2) {
        fail_internal("comparison needs two operands");
      }
      compare_truth(e.op, eval_operand(e.args[0], in), eval_operand(e.args[1], in), live, out.data());
      return;
    case expr_op::between: {
      if (e.args.size() != 3) {
        fail_internal("between needs three operands");
      }
      const operand v = eval_operand(e.args[0], in);
      compare_truth(expr_op::ge, v, eval_operand(e.args[1], in), live, out.data());
      truth_vector upper(live);
      compare_truth(expr_op::le, v, eval_operand(e.args[2], in), live, upper.data());
      for (std::size_t i = 0; i < live; ++i) {
        out[i] = std::min(out[i], upper[i]);
      }
      return;
    }
    case expr_op::in: {
      if (e.args.size() < 2) {
        fail_internal("in needs a value and at least one constant");
      }
      // OR of equalities: a match wins, else any NULL (value or constant) makes it NULL.
      const operand v = eval_operand(e.args[0], in);
      std::fill(out.begin(), out.end(), t_false);
      truth_vector eq(live);
      for (std::size_t k = 1; k < e.args.size(); ++k) {
        compare_truth(expr_op::eq, v, eval_operand(e.args[k], in), live, eq.data());
        for (std::size_t i = 0; i < live; ++i) {
          out[i] = std::max(out[i], eq[i]);
        }
      }
      return;
    }
    case expr_op::constant: {
      std::uint8_t t = t_null;
      if (const auto* i = std::get_if<std::int64_t>(&e.value)) {
        t = *i != 0 ? t_true : t_false;
      } else if (const auto* d = std::get_if<double>(&e.value)) {
        t = *d != 0 ? t_true : t_false;
      } else if (!std::holds_alternative<std::monostate>(e.value)) {
        fail_internal("string constant used as a predicate");
      }
      std::fill(out.begin(), out.end(), t);
      return;
    }
    default:
      fail_internal("value expression '" + std::string(expr_op_name(e.op)) + "' used as a predicate");
  }
}

}  // namespace

column_ptr evaluate(const bound_expr& e, const batch& in) {
  if (e.type == type_id::boolean || !(e.op == expr_op::column || e.op == expr_op::constant || is_arithmetic(e.op))) {
    fail_internal("evaluate() called on a predicate");
  }
  return materialize(eval_operand(e, in), in.live_rows());
}

void apply_filter(const bound_expr& predicate, batch& b) {
  if (b.live_rows() == 0) {
    select_none(b);
    return;
  }
  switch (predicate.op) {
    case expr_op::and_:
      filter_and(predicate, b);
      return;
    case expr_op::or_:
      if (!predicate.args.empty()) {
        filter_or(predicate, b);
        return;
      }
      break;
    case expr_op::eq:
    case expr_op::ne:
    case expr_op::lt:
    case expr_op::le:
    case expr_op::gt:
    case expr_op::ge:
      if (predicate.args.size() == 2) {
        filter_comparison(predicate, b);
        return;
      }
      break;
    case expr_op::between:
      if (predicate.args.size() == 3 && filter_between_constants(predicate, b)) {
        return;
      }
      break;
    case expr_op::in:
      if (predicate.args.size() >= 2 && filter_in_constants(predicate, b)) {
        return;
      }
      break;
    default:
      break;
  }
  truth_vector truth;
  truth_of(predicate, b, truth);
  narrow_by_truth(b, truth.data());
}

std::vector<std::uint8_t> evaluate_predicate(const bound_expr& predicate, const batch& in) {
  truth_vector truth;
  truth_of(predicate, in, truth);
  // Internal false/NULL/true (0/1/2) to the public false/true/NULL (0/1/2).
  static constexpr std::uint8_t to_public[3] = {0, 2, 1};
  for (auto& t : truth) {
    t = to_public[t];
  }
  return truth;
}

}  // namespace ftq::exec
