#pragma once
/// Parses a subcommand's flags the same way for every ftq command: --help prints the flags and
/// exits 0; a bad flag prints the error and the flags and exits 2.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/program_options.hpp>

#include <ftq/checkpoint.hpp>

namespace ftq::cli {

/// Returns the exit code when the command must stop here (help shown, or bad usage), nullopt
/// when it should run. `check` runs after the flags are stored and throws
/// boost::program_options::error for combinations single flags cannot express.
std::optional<int> parse_flags(std::string_view command, int argc, char** argv,
                               const boost::program_options::options_description& flags,
                               boost::program_options::variables_map& vm,
                               const boost::program_options::positional_options_description& positional = {},
                               const std::function<void()>& check = {});

/// Parses a duration flag ("500ms", "2s", "1m": core/duration_text.hpp), at least 1ms. Throws
/// boost::program_options::error naming `flag` otherwise.
std::chrono::milliseconds parse_duration_flag(const std::string& text, std::string_view flag);
/// Parses --compression: zstd, lz4 or none.
checkpoint_compression parse_compression_flag(const std::string& name);

/// Throws unless `mode` is auto, always or never (the --progress flag).
void check_progress_mode(const std::string& mode);
/// Whether --progress `mode` draws bars: always, or auto when stderr is a terminal.
bool show_progress(const std::string& mode);

}  // namespace ftq::cli
