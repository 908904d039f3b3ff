// Reads and writes the JSON plan format of docs/plan-format.md. The reader checks the JSON's
// shape only (fields, JSON types, operator names); names and types are the binder's job.

#include <ftq/error.hpp>
#include <ftq/plan.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <system_error>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
// Boost.JSON header-only: this is the one translation unit of ftq that compiles its sources.
#include <boost/json/src.hpp>

#include "plan/plan_messages.hpp"

namespace ftq {

namespace {

namespace json = boost::json;
using plan_detail::fail;
using plan_detail::in_quotes;

// Deep enough for long left-nested arithmetic (two JSON levels per expression level), shallow
// enough that every recursive walk over a parsed plan stays far from the stack limit.
constexpr std::size_t max_json_depth = 256;

std::string json_kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::object:
      return "object";
    case json::kind::array:
      return "array";
    case json::kind::string:
      return "string";
    case json::kind::int64:
    case json::kind::uint64:
      return "integer";
    case json::kind::double_:
      return "number";
    case json::kind::bool_:
      return "boolean";
    case json::kind::null:
      return "null";
  }
  return "?";
}

template <class Names>
std::string join(const Names& names, std::string_view separator) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) {
      out += separator;
    }
    out += n;
  }
  return out;
}

const json::object& as_object(const json::value& v, const std::string& path) {
  if (!v.is_object()) {
    fail(path, "expected an object, got " + json_kind_name(v));
  }
  return v.get_object();
}

const json::array& as_array(const json::value& v, const std::string& path) {
  if (!v.is_array()) {
    fail(path, "expected an array, got " + json_kind_name(v));
  }
  return v.get_array();
}

std::string as_string(const json::value& v, const std::string& path) {
  if (!v.is_string()) {
    fail(path, "expected a string, got " + json_kind_name(v));
  }
  return std::string(v.get_string());
}

std::int64_t as_int64(const json::value& v, const std::string& path) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (v.is_uint64()) {
    // Boost.JSON only uses uint64 for integers above int64's range.
    fail(path, "integer out of range: " + std::to_string(v.get_uint64()));
  }
  fail(path, "expected an integer, got " + json_kind_name(v));
}

std::string element_path(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

// The fields of one JSON object, checked against what its owner takes.
class object_fields {
 public:
  object_fields(const json::object& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  /// Rejects any field not in `allowed`: a misspelt optional field must not pass silently.
  template <std::size_t N>
  void only(const std::array<std::string_view, N>& allowed, std::string_view owner) const {
    for (const auto& kv : obj_) {
      bool known = false;
      for (auto a : allowed) {
        known = known || kv.key() == a;
      }
      if (!known) {
        fail(path_, "unknown field " + in_quotes(kv.key()) + " (" + std::string(owner) + " takes " +
                        join(allowed, ", ") + ")");
      }
    }
  }

  const json::value* optional(std::string_view key) const { return obj_.if_contains(key); }

  const json::value& required(std::string_view key) const {
    const json::value* v = obj_.if_contains(key);
    if (v == nullptr) {
      fail(path_, "missing field " + in_quotes(key));
    }
    return *v;
  }

  std::string field_path(std::string_view key) const { return path_ + "." + std::string(key); }
  const std::string& path() const noexcept { return path_; }

 private:
  const json::object& obj_;
  std::string path_;
};

constexpr std::array<expr_op, 15> json_expr_ops = {
    expr_op::add, expr_op::sub, expr_op::mul,  expr_op::div, expr_op::eq,   expr_op::ne,      expr_op::lt, expr_op::le,
    expr_op::gt,  expr_op::ge,  expr_op::and_, expr_op::or_, expr_op::not_, expr_op::between, expr_op::in,
};

constexpr std::array<node_kind, 10> node_kinds = {
    node_kind::csv_scan,  node_kind::table_scan, node_kind::filter, node_kind::project,  node_kind::aggregate,
    node_kind::hash_join, node_kind::sort,       node_kind::top_k,  node_kind::distinct, node_kind::limit,
};

constexpr std::array<agg_fn, 7> agg_fns = {
    agg_fn::sum, agg_fn::count, agg_fn::count_star, agg_fn::avg, agg_fn::min, agg_fn::max, agg_fn::count_distinct,
};

template <class Enum, std::size_t N, class NameOf>
std::string names_of(const std::array<Enum, N>& all, NameOf name_of, std::string_view separator) {
  std::string out;
  for (auto e : all) {
    if (!out.empty()) {
      out += separator;
    }
    out += name_of(e);
  }
  return out;
}

expr read_expr(const json::value& v, const std::string& path);

literal read_literal(const json::value& v, const std::string& path) {
  switch (v.kind()) {
    case json::kind::null:
      return std::monostate{};
    case json::kind::int64:
      return v.get_int64();
    case json::kind::uint64:
      return as_int64(v, path);  // throws: out of range
    case json::kind::double_:
      return v.get_double();
    case json::kind::string:
      return std::string(v.get_string());
    default:
      fail(path, "expected a number, a string or null, got " + json_kind_name(v));
  }
}

expr read_expr(const json::value& v, const std::string& path) {
  const json::object& obj = as_object(v, path);
  object_fields f(obj, path);
  expr e;
  if (f.optional("col") != nullptr) {
    f.only(std::array<std::string_view, 1>{"col"}, "a column reference");
    e.op = expr_op::column;
    e.column_name = as_string(f.required("col"), f.field_path("col"));
    return e;
  }
  if (f.optional("const") != nullptr) {
    f.only(std::array<std::string_view, 1>{"const"}, "a constant");
    e.op = expr_op::constant;
    e.value = read_literal(f.required("const"), f.field_path("const"));
    return e;
  }
  if (f.optional("op") != nullptr) {
    f.only(std::array<std::string_view, 2>{"op", "args"}, "an operator expression");
    std::string name = as_string(f.required("op"), f.field_path("op"));
    bool found = false;
    for (auto op : json_expr_ops) {
      if (expr_op_name(op) == name) {
        e.op = op;
        found = true;
      }
    }
    if (!found) {
      fail(f.field_path("op"), "unknown operator " + in_quotes(name) + " (expected one of " +
                                   names_of(json_expr_ops, expr_op_name, " ") + ")");
    }
    std::string args_path = f.field_path("args");
    const json::array& args = as_array(f.required("args"), args_path);
    e.args.reserve(args.size());
    for (std::size_t i = 0; i < args.size(); ++i) {
      e.args.push_back(read_expr(args[i], element_path(args_path, i)));
    }
    return e;
  }
  fail(path, "expected an expression: an object with \"col\", \"const\" or \"op\"");
}

std::vector<expr> read_expr_list(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  std::vector<expr> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    out.push_back(read_expr(arr[i], element_path(path, i)));
  }
  return out;
}

std::vector<std::string> read_string_list(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  std::vector<std::string> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    out.push_back(as_string(arr[i], element_path(path, i)));
  }
  return out;
}

schema read_schema(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  schema out;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string fpath = element_path(path, i);
    object_fields f(as_object(arr[i], fpath), fpath);
    f.only(std::array<std::string_view, 2>{"name", "type"}, "a schema column");
    field col;
    col.name = as_string(f.required("name"), f.field_path("name"));
    std::string type = as_string(f.required("type"), f.field_path("type"));
    auto t = parse_type_name(type);
    if (!t) {
      fail(f.field_path("type"),
           "unknown type " + in_quotes(type) + " (expected int64, float64, string, bigint, double or varchar)");
    }
    col.type = *t;
    out.push_back(std::move(col));
  }
  return out;
}

std::vector<sort_key> read_sort_keys(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  std::vector<sort_key> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string kpath = element_path(path, i);
    object_fields f(as_object(arr[i], kpath), kpath);
    f.only(std::array<std::string_view, 2>{"expr", "order"}, "a sort key");
    sort_key k;
    k.value = read_expr(f.required("expr"), f.field_path("expr"));
    if (const json::value* order = f.optional("order")) {
      std::string o = as_string(*order, f.field_path("order"));
      if (o == "desc") {
        k.descending = true;
      } else if (o != "asc") {
        fail(f.field_path("order"), "expected \"asc\" or \"desc\", got \"" + o + "\"");
      }
    }
    out.push_back(std::move(k));
  }
  return out;
}

std::vector<named_expr> read_named_exprs(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  std::vector<named_expr> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string epath = element_path(path, i);
    object_fields f(as_object(arr[i], epath), epath);
    f.only(std::array<std::string_view, 2>{"expr", "as"}, "a project expression");
    named_expr ne;
    ne.value = read_expr(f.required("expr"), f.field_path("expr"));
    if (const json::value* as = f.optional("as")) {
      ne.as = as_string(*as, f.field_path("as"));
    } else if (ne.value.op == expr_op::column) {
      ne.as = ne.value.column_name;
    } else {
      fail(epath, "missing field 'as' (only a bare column reference may leave it out)");
    }
    out.push_back(std::move(ne));
  }
  return out;
}

std::vector<aggregate_spec> read_aggregates(const json::value& v, const std::string& path) {
  const json::array& arr = as_array(v, path);
  std::vector<aggregate_spec> out;
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    std::string apath = element_path(path, i);
    object_fields f(as_object(arr[i], apath), apath);
    f.only(std::array<std::string_view, 3>{"fn", "arg", "as"}, "an aggregate");
    aggregate_spec a;
    std::string fn = as_string(f.required("fn"), f.field_path("fn"));
    bool found = false;
    for (auto candidate : agg_fns) {
      if (agg_fn_name(candidate) == fn) {
        a.fn = candidate;
        found = true;
      }
    }
    if (!found) {
      fail(f.field_path("fn"), "unknown aggregate function " + in_quotes(fn) + " (expected one of " +
                                   names_of(agg_fns, agg_fn_name, ", ") + ")");
    }
    if (a.fn == agg_fn::count_star) {
      if (f.optional("arg") != nullptr) {
        fail(f.field_path("arg"), "count_star takes no argument");
      }
    } else {
      a.arg = read_expr(f.required("arg"), f.field_path("arg"));
    }
    a.as = as_string(f.required("as"), f.field_path("as"));
    out.push_back(std::move(a));
  }
  return out;
}

plan_node read_node(const json::value& v, const std::string& path) {
  object_fields f(as_object(v, path), path);
  plan_node n;
  std::string op = as_string(f.required("op"), f.field_path("op"));
  bool found = false;
  for (auto k : node_kinds) {
    if (node_kind_name(k) == op) {
      n.kind = k;
      found = true;
    }
  }
  if (!found) {
    fail(f.field_path("op"),
         "unknown operator " + in_quotes(op) + " (expected one of " + names_of(node_kinds, node_kind_name, ", ") + ")");
  }
  auto input = [&](std::string_view key) { n.inputs.push_back(read_node(f.required(key), f.field_path(key))); };
  using fields2 = std::array<std::string_view, 2>;
  using fields3 = std::array<std::string_view, 3>;
  using fields4 = std::array<std::string_view, 4>;
  using fields5 = std::array<std::string_view, 5>;
  switch (n.kind) {
    case node_kind::csv_scan:
      f.only(fields4{"op", "path", "schema", "columns"}, op);
      n.path = as_string(f.required("path"), f.field_path("path"));
      n.file_schema = read_schema(f.required("schema"), f.field_path("schema"));
      if (const json::value* c = f.optional("columns")) {
        n.columns = read_string_list(*c, f.field_path("columns"));
      }
      break;
    case node_kind::table_scan:
      f.only(fields3{"op", "table", "columns"}, op);
      n.table = as_string(f.required("table"), f.field_path("table"));
      if (const json::value* c = f.optional("columns")) {
        n.columns = read_string_list(*c, f.field_path("columns"));
      }
      break;
    case node_kind::filter:
      f.only(fields3{"op", "predicate", "input"}, op);
      n.predicate = read_expr(f.required("predicate"), f.field_path("predicate"));
      input("input");
      break;
    case node_kind::project:
      f.only(fields3{"op", "exprs", "input"}, op);
      n.exprs = read_named_exprs(f.required("exprs"), f.field_path("exprs"));
      input("input");
      break;
    case node_kind::aggregate:
      f.only(fields4{"op", "group_by", "aggregates", "input"}, op);
      n.group_by = read_expr_list(f.required("group_by"), f.field_path("group_by"));
      n.aggregates = read_aggregates(f.required("aggregates"), f.field_path("aggregates"));
      input("input");
      break;
    case node_kind::hash_join:
      f.only(fields5{"op", "probe", "build", "probe_keys", "build_keys"}, op);
      n.probe_keys = read_expr_list(f.required("probe_keys"), f.field_path("probe_keys"));
      n.build_keys = read_expr_list(f.required("build_keys"), f.field_path("build_keys"));
      input("probe");
      input("build");
      break;
    case node_kind::sort:
      f.only(fields3{"op", "keys", "input"}, op);
      n.keys = read_sort_keys(f.required("keys"), f.field_path("keys"));
      input("input");
      break;
    case node_kind::top_k:
      f.only(fields4{"op", "keys", "limit", "input"}, op);
      n.keys = read_sort_keys(f.required("keys"), f.field_path("keys"));
      n.limit = as_int64(f.required("limit"), f.field_path("limit"));
      input("input");
      break;
    case node_kind::distinct:
      f.only(fields2{"op", "input"}, op);
      input("input");
      break;
    case node_kind::limit:
      f.only(fields4{"op", "limit", "offset", "input"}, op);
      n.limit = as_int64(f.required("limit"), f.field_path("limit"));
      if (const json::value* o = f.optional("offset")) {
        n.offset = as_int64(*o, f.field_path("offset"));
      }
      input("input");
      break;
  }
  return n;
}

[[noreturn]] void fail_syntax(std::string_view text, std::size_t offset, const std::string& what) {
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  fail("plan", "invalid JSON at line " + std::to_string(line) + " column " + std::to_string(offset - line_start + 1) +
                   ": " + what);
}

// Builds a json::value as Boost's own parser does, with two differences. Doubles are converted
// from their text with std::from_chars, which rounds correctly: Boost.JSON 1.81 can be one ulp
// off, so a 0.07 in a plan could differ from a 0.07 read from a CSV file, and a written plan could
// read back as a different double. A key repeated within one object is an error, not a silent
// overwrite.
class value_builder {
 public:
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;

  /// The key that appeared twice in one object, if parsing stopped for that.
  const std::optional<std::string>& duplicate_key() const noexcept { return duplicate_key_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    keys_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    keys_.pop_back();
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key_.append(s.data(), s.size());
    std::vector<std::string>& seen = keys_.back();
    for (const auto& k : seen) {
      if (k == key_) {
        duplicate_key_ = key_;
        ec = json::make_error_code(json::error::syntax);
        return false;
      }
    }
    seen.push_back(std::move(key_));
    key_.clear();
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number_.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number_.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number_.append(s.data(), s.size());
    double exact = 0;
    auto [end, ec] = std::from_chars(number_.data(), number_.data() + number_.size(), exact);
    // Out of double's range, from_chars reports an error; Boost's infinity or zero stands then.
    if (ec == std::errc() && end == number_.data() + number_.size()) {
      d = exact;
    }
    number_.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::string number_;
  std::string key_;
  std::vector<std::vector<std::string>> keys_;  // the keys of each open object, innermost last
  std::optional<std::string> duplicate_key_;
};

json::value parse_json(std::string_view text) {
  json::parse_options options;
  options.max_depth = max_json_depth;
  json::basic_parser<value_builder> p(options);
  p.handler().st.reset();
  boost::system::error_code ec;
  std::size_t used = p.write_some(false, text.data(), text.size(), ec);
  if (p.handler().duplicate_key()) {
    fail_syntax(text, used, "duplicate key " + in_quotes(*p.handler().duplicate_key()));
  }
  if (ec) {
    fail_syntax(text, used, ec.message());
  }
  if (used < text.size()) {
    // The parser stops after one value and the whitespace behind it.
    fail_syntax(text, used, json::make_error_code(json::error::extra_data).message());
  }
  return p.handler().st.release();
}

// ---- writing ----

json::value write_expr(const expr& e);

json::value write_literal(const literal& v) {
  return std::visit(
      [](const auto& x) -> json::value {
        using t = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<t, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<t, std::string>) {
          return json::string(x);
        } else {
          return x;
        }
      },
      v);
}

json::value write_expr(const expr& e) {
  json::object obj;
  if (e.op == expr_op::column) {
    obj["col"] = e.column_name;
  } else if (e.op == expr_op::constant) {
    obj["const"] = write_literal(e.value);
  } else {
    obj["op"] = expr_op_name(e.op);
    json::array args;
    for (const auto& a : e.args) {
      args.push_back(write_expr(a));
    }
    obj["args"] = std::move(args);
  }
  return obj;
}

json::array write_expr_list(const std::vector<expr>& exprs) {
  json::array out;
  for (const auto& e : exprs) {
    out.push_back(write_expr(e));
  }
  return out;
}

json::array write_sort_keys(const std::vector<sort_key>& keys) {
  json::array out;
  for (const auto& k : keys) {
    json::object obj;
    obj["expr"] = write_expr(k.value);
    obj["order"] = k.descending ? "desc" : "asc";
    out.push_back(std::move(obj));
  }
  return out;
}

json::value write_node(const plan_node& n) {
  json::object obj;
  obj["op"] = node_kind_name(n.kind);
  auto input = [&](std::string_view key, std::size_t i) {
    if (i < n.inputs.size()) {
      obj[key] = write_node(n.inputs[i]);
    }
  };
  auto columns = [&] {
    if (!n.columns.empty()) {
      json::array cols;
      for (const auto& c : n.columns) {
        cols.push_back(json::string(c));
      }
      obj["columns"] = std::move(cols);
    }
  };
  switch (n.kind) {
    case node_kind::csv_scan: {
      obj["path"] = n.path;
      json::array fields;
      for (const auto& fd : n.file_schema.fields()) {
        json::object fo;
        fo["name"] = fd.name;
        fo["type"] = type_name(fd.type);
        fields.push_back(std::move(fo));
      }
      obj["schema"] = std::move(fields);
      columns();
      break;
    }
    case node_kind::table_scan:
      obj["table"] = n.table;
      columns();
      break;
    case node_kind::filter:
      obj["predicate"] = n.predicate ? write_expr(*n.predicate) : json::value(nullptr);
      input("input", 0);
      break;
    case node_kind::project: {
      json::array exprs;
      for (const auto& ne : n.exprs) {
        json::object eo;
        eo["expr"] = write_expr(ne.value);
        eo["as"] = ne.as;
        exprs.push_back(std::move(eo));
      }
      obj["exprs"] = std::move(exprs);
      input("input", 0);
      break;
    }
    case node_kind::aggregate: {
      obj["group_by"] = write_expr_list(n.group_by);
      json::array aggs;
      for (const auto& a : n.aggregates) {
        json::object ao;
        ao["fn"] = agg_fn_name(a.fn);
        if (a.arg) {
          ao["arg"] = write_expr(*a.arg);
        }
        ao["as"] = a.as;
        aggs.push_back(std::move(ao));
      }
      obj["aggregates"] = std::move(aggs);
      input("input", 0);
      break;
    }
    case node_kind::hash_join:
      obj["probe_keys"] = write_expr_list(n.probe_keys);
      obj["build_keys"] = write_expr_list(n.build_keys);
      input("probe", 0);
      input("build", 1);
      break;
    case node_kind::sort:
      obj["keys"] = write_sort_keys(n.keys);
      input("input", 0);
      break;
    case node_kind::top_k:
      obj["keys"] = write_sort_keys(n.keys);
      obj["limit"] = n.limit;
      input("input", 0);
      break;
    case node_kind::distinct:
      input("input", 0);
      break;
    case node_kind::limit:
      obj["limit"] = n.limit;
      if (n.offset != 0) {
        obj["offset"] = n.offset;
      }
      input("input", 0);
      break;
  }
  return obj;
}

// Shortest text that reads back as the same double, and still as a double: 24.0, not 24.
void print_double(double d, std::string& out) {
  if (std::isnan(d)) {
    fail("plan", "cannot write a NaN constant as JSON");
  }
  if (std::isinf(d)) {
    // JSON has no infinity; the reader turns a number beyond double's range into one.
    out += d < 0 ? "-1e999" : "1e999";
    return;
  }
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  std::string_view text(buf.data(), static_cast<std::size_t>(end - buf.data()));
  out += text;
  if (text.find_first_of(".e") == std::string_view::npos) {
    out += ".0";
  }
}

void print_compact(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        out += first ? "" : ", ";
        first = false;
        out += json::serialize(json::string_view(kv.key()));
        out += ": ";
        print_compact(kv.value(), out);
      }
      out += '}';
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        out += first ? "" : ", ";
        first = false;
        print_compact(e, out);
      }
      out += ']';
      break;
    }
    case json::kind::double_:
      print_double(v.get_double(), out);
      break;
    default:
      out += json::serialize(v);
      break;
  }
}

// Objects and arrays that fit in the line width stay on one line, as in examples/plans.
void print_pretty(const json::value& v, std::string& out, std::size_t indent) {
  constexpr std::size_t line_width = 100;
  std::string compact;
  print_compact(v, compact);
  if (indent + compact.size() <= line_width || !(v.is_object() || v.is_array())) {
    out += compact;
    return;
  }
  std::string pad(indent + 2, ' ');
  if (v.is_object()) {
    out += "{\n";
    bool first = true;
    for (const auto& kv : v.get_object()) {
      out += first ? "" : ",\n";
      first = false;
      out += pad;
      out += json::serialize(json::string_view(kv.key()));
      out += ": ";
      print_pretty(kv.value(), out, indent + 2);
    }
    out += "\n" + std::string(indent, ' ') + "}";
  } else {
    out += "[\n";
    bool first = true;
    for (const auto& e : v.get_array()) {
      out += first ? "" : ",\n";
      first = false;
      out += pad;
      print_pretty(e, out, indent + 2);
    }
    out += "\n" + std::string(indent, ' ') + "]";
  }
}

}  // namespace

plan parse_plan(std::string_view text) {
  json::value doc = parse_json(text);
  const std::string root = "plan";
  if (!doc.is_object()) {
    fail(root, "expected an object with \"name\" and \"plan\", got " + json_kind_name(doc));
  }
  object_fields f(doc.get_object(), root);
  f.only(std::array<std::string_view, 3>{"name", "plan", "recovery"}, "the top level");
  plan p;
  if (const json::value* name = f.optional("name")) {
    p.name = as_string(*name, "name");
  }
  if (const json::value* recovery = f.optional("recovery")) {
    p.recovery = as_string(*recovery, "recovery");
  }
  p.root = read_node(f.required("plan"), root);
  return p;
}

std::string to_json(const plan& p) {
  json::object doc;
  doc["name"] = p.name;
  doc["plan"] = write_node(p.root);
  if (!p.recovery.empty()) {
    doc["recovery"] = p.recovery;
  }
  std::string out;
  print_pretty(doc, out, 0);
  out += '\n';
  return out;
}

}  // namespace ftq
