#include "exec/state/stateless_state.hpp"

#include "exec/state/state_section.hpp"

namespace ftq::exec {

snapshot_kind stateless_state::save(state_packer& out, snapshot_kind) const {
  pack_header(out, tag_, version_, snapshot_kind::full, 0);
  return snapshot_kind::full;
}

void stateless_state::load(const msgpack::object& in, snapshot_kind kind) {
  section_reader(in, tag_, version_, kind).expect_fields(0);
}

}  // namespace ftq::exec
