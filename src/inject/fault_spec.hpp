#pragma once
/// Parses fault-injection rules (docs/fault-injection.md) from the compact spec string
/// ("seed=7;throw:op=hash_join,batch=5") or the JSON form ({"seed": 7, "rules": [...]}); both
/// go through the same key checks, so they mean the same. Throws
/// ftq::error(errc::recovery_policy_invalid) naming the rule and the key at fault, e.g.
/// "rule 2 (stall:op=sort,for=3x): 'for' must be a duration like 500ms".

#include <chrono>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>
#include "core/duration_text.hpp"

#include "inject/fault_rule.hpp"

namespace ftq::inject {

struct fault_spec {
  std::uint64_t seed = 0;  // hashes probability rules; 0 unless given
  std::vector<fault_rule> rules;
};

fault_spec parse_spec(std::string_view spec);
fault_spec parse_spec_json(std::string_view json);

using ftq::parse_duration;  // core/duration_text.hpp: 500ms, 2s, 1m, 1500us, 7ns, 1h

}  // namespace ftq::inject
