#include <ftq/operator_phase.hpp>

namespace ftq {

std::string_view operator_phase_name(operator_phase p) noexcept {
  switch (p) {
    case operator_phase::idle:
      return "idle";
    case operator_phase::running:
      return "running";
    case operator_phase::backing_off:
      return "backing_off";
    case operator_phase::recovering:
      return "recovering";
    case operator_phase::finished:
      return "finished";
    case operator_phase::failed:
      return "failed";
  }
  return "?";
}

}  // namespace ftq
