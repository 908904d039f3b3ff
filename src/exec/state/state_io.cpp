#include "exec/state/state_io.hpp"

#include <ftq/error.hpp>

namespace ftq::exec {

void bad_state(const std::string& message) { throw checkpoint_error(errc::checkpoint_corrupt, "", message); }

void unsupported_state_version(std::string_view type_tag, std::uint32_t version) {
  throw checkpoint_error(
      errc::checkpoint_version_unsupported, "",
      std::string(type_tag) + ": state version " + std::to_string(version) + " is newer than this build reads");
}

}  // namespace ftq::exec
