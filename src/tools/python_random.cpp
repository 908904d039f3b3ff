#include "tools/python_random.hpp"

#include <vector>

namespace ftq::tools {

namespace {
constexpr std::size_t shift_size = 397;
constexpr std::uint32_t matrix_a = 0x9908b0dfU;
constexpr std::uint32_t upper_mask = 0x80000000U;
constexpr std::uint32_t lower_mask = 0x7fffffffU;
}  // namespace

python_random::python_random(std::int64_t seed) {
  // CPython seeds with abs(seed); negating in unsigned arithmetic keeps INT64_MIN defined.
  std::uint64_t magnitude =
      seed < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(seed) : static_cast<std::uint64_t>(seed);
  // Little-endian 32-bit words, as many as the value needs, but at least one (seed 0 -> [0]).
  std::vector<std::uint32_t> key;
  do {
    key.push_back(static_cast<std::uint32_t>(magnitude & 0xffffffffU));
    magnitude >>= 32;
  } while (magnitude != 0);

  // init_by_array from the reference MT19937 code, which CPython uses unchanged.
  init_genrand(19650218U);
  std::size_t i = 1;
  std::size_t j = 0;
  for (std::size_t k = state_size > key.size() ? state_size : key.size(); k > 0; --k) {
    state_[i] =
        (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525U)) + key[j] + static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= state_size) {
      state_[0] = state_[state_size - 1];
      i = 1;
    }
    if (j >= key.size()) {
      j = 0;
    }
  }
  for (std::size_t k = state_size - 1; k > 0; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941U)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= state_size) {
      state_[0] = state_[state_size - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000U;
  index_ = state_size;
}

void python_random::init_genrand(std::uint32_t s) noexcept {
  state_[0] = s;
  for (std::size_t i = 1; i < state_size; ++i) {
    state_[i] = 1812433253U * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  }
  index_ = state_size;
}

void python_random::twist() noexcept {
  auto mix = [](std::uint32_t hi, std::uint32_t lo, std::uint32_t far) {
    const std::uint32_t y = (hi & upper_mask) | (lo & lower_mask);
    return far ^ (y >> 1) ^ ((y & 1U) != 0 ? matrix_a : 0U);
  };
  std::size_t k = 0;
  for (; k < state_size - shift_size; ++k) {
    state_[k] = mix(state_[k], state_[k + 1], state_[k + shift_size]);
  }
  for (; k < state_size - 1; ++k) {
    state_[k] = mix(state_[k], state_[k + 1], state_[k + shift_size - state_size]);
  }
  state_[state_size - 1] = mix(state_[state_size - 1], state_[0], state_[shift_size - 1]);
  index_ = 0;
}

}  // namespace ftq::tools
