#pragma once
/// How operator states snapshot themselves to msgpack and come back (see operator_state in
/// execution_context.hpp). Every state packs one msgpack array: [type tag, state version,
/// snapshot kind, fields... at stable positions]. Large containers are stored as columns
/// (numbers as little-endian `bin` blobs, strings as one `bin` of bytes plus a `bin` of
/// lengths), which msgpack-cxx packs and unpacks at memory speed, unlike maps of objects.

#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>

#include "core/byte_sink.hpp"

namespace ftq::exec {

/// A full snapshot holds all of a state; a delta only what changed since the last committed
/// snapshot, and is applied on top of the state restored so far.
enum class snapshot_kind : std::uint8_t { full = 0, delta = 1 };

using state_packer = msgpack::packer<byte_sink>;

/// Throws checkpoint_error(errc::checkpoint_corrupt) for a section whose msgpack does not have
/// the shape its state expects; the checkpoint manager adds path, epoch and operator id.
[[noreturn]] void bad_state(const std::string& message);
/// Throws checkpoint_error(errc::checkpoint_version_unsupported) for a state version newer than
/// this build reads.
[[noreturn]] void unsupported_state_version(std::string_view type_tag, std::uint32_t version);

}  // namespace ftq::exec
