#include "cli/flags.hpp"

#include <charconv>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/progress_display.hpp"
#include "core/duration_text.hpp"

namespace po = boost::program_options;

namespace ftq::cli {

std::optional<int> parse_flags(std::string_view command, int argc, char** argv, const po::options_description& flags,
                               po::variables_map& vm, const po::positional_options_description& positional,
                               const std::function<void()>& check) {
  try {
    po::store(po::command_line_parser(argc, argv).options(flags).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << flags << "\n";
      return exit_ok;
    }
    po::notify(vm);
    if (check) {
      check();
    }
  } catch (const po::error& e) {
    std::cerr << "ftq " << command << ": " << e.what() << "\n\n" << flags << "\n";
    return exit_usage;
  }
  return std::nullopt;
}

void check_progress_mode(const std::string& mode) {
  if (mode != "auto" && mode != "always" && mode != "never") {
    throw po::error("--progress must be auto, always or never");
  }
}

std::chrono::milliseconds parse_duration_flag(const std::string& text, std::string_view flag) {
  const std::optional<std::chrono::nanoseconds> d = ftq::parse_duration(text);
  if (!d || *d < std::chrono::milliseconds(1) || *d > std::chrono::hours(24 * 365)) {
    throw po::error(std::string(flag) + " must be a duration with a unit, 1ms or more (500ms, 2s, 1m), not '" + text +
                    "'");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

checkpoint_compression parse_compression_flag(const std::string& name) {
  if (name == "zstd") {
    return checkpoint_compression::zstd;
  }
  if (name == "lz4") {
    return checkpoint_compression::lz4;
  }
  if (name == "none") {
    return checkpoint_compression::none;
  }
  throw po::error("--compression must be zstd, lz4 or none, not '" + name + "'");
}

bool show_progress(const std::string& mode) {
  return mode == "always" || (mode == "auto" && progress_display::stderr_is_terminal());
}

}  // namespace ftq::cli
