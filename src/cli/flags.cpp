#include "cli/flags.hpp"

#include <iostream>

#include "cli/commands.hpp"
#include "cli/progress_display.hpp"

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

bool show_progress(const std::string& mode) {
  return mode == "always" || (mode == "auto" && progress_display::stderr_is_terminal());
}

}  // namespace ftq::cli
