#include "inject/fault_rule.hpp"

#include "core/duration_text.hpp"

#include <array>
#include <cerrno>
#include <charconv>
#include <utility>

namespace ftq::inject {

namespace {

constexpr std::array<std::pair<std::string_view, int>, 2> injectable_errnos{{{"EIO", EIO}, {"ENOSPC", ENOSPC}}};

std::string format_probability(double p) {
  // Shortest text that reads back as the same double, so describe() round-trips.
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), p);
  return ec == std::errc{} ? std::string(buf.data(), end) : std::to_string(p);
}

std::string_view kind_word(rule_kind k) {
  switch (k) {
    case rule_kind::throw_error:
      return "throw";
    case rule_kind::stall:
      return "stall";
    case rule_kind::crash:
    case rule_kind::checkpoint_crash:
      return "crash";
    case rule_kind::checkpoint_fail:
      return "checkpoint";
  }
  return "?";
}

}  // namespace

std::optional<int> errno_from_name(std::string_view name) {
  for (const auto& [n, e] : injectable_errnos) {
    if (n == name) {
      return e;
    }
  }
  return std::nullopt;
}

std::string errno_name(int error) {
  for (const auto& [n, e] : injectable_errnos) {
    if (e == error) {
      return std::string(n);
    }
  }
  return "errno " + std::to_string(error);
}

std::string to_spec(const fault_rule& r) {
  std::string out(kind_word(r.kind));
  char sep = ':';
  const auto add = [&](std::string_view key, const std::string& value) {
    out += sep;
    out.append(key);
    out += '=';
    out += value;
    sep = ',';
  };
  switch (r.kind) {
    case rule_kind::throw_error:
    case rule_kind::stall:
    case rule_kind::crash:
      if (r.op_name) {
        add("op", *r.op_name);
      } else if (r.op_id) {
        add("op", "#" + std::to_string(*r.op_id));
      }
      if (!r.query.empty()) {
        add("query", r.query);
      }
      if (r.batch > 0) {
        add("batch", std::to_string(r.batch));
        if (r.times != 1) {
          add("times", std::to_string(r.times));
        }
      } else {
        add("p", format_probability(r.p));
        if (r.max) {
          add("max", std::to_string(*r.max));
        }
      }
      if (r.kind == rule_kind::stall) {
        add("for", exact_duration_text(r.stall_for));
      }
      if (r.kind == rule_kind::throw_error && r.transient) {
        add("class", "transient");
      }
      break;
    case rule_kind::checkpoint_fail:
      add("n", std::to_string(r.commit));
      if (r.times != 1) {
        add("times", std::to_string(r.times));
      }
      add("errno", errno_name(r.error));
      if (r.step != io::op_kind::write) {
        add("step", std::string(io::op_name(r.step)));
      }
      break;
    case rule_kind::checkpoint_crash:
      add("checkpoint", std::to_string(r.commit));
      if (r.step != io::op_kind::write) {
        add("step", std::string(io::op_name(r.step)));
      }
      break;
  }
  return out;
}

}  // namespace ftq::inject
