#pragma once
/// Reproduces CPython's `random.Random(seed).random()` bit for bit: a Mersenne Twister
/// (MT19937) seeded through `init_by_array` with |seed| split into 32-bit words, each double
/// built from two 32-bit draws. Produces the same sequence as Python for every int64 seed.

#include <array>
#include <cstdint>

namespace ftq::tools {

class python_random {
 public:
  explicit python_random(std::int64_t seed);

  /// The next 32-bit output of MT19937 (CPython's `genrand_uint32`).
  std::uint32_t next_uint32() noexcept {
    if (index_ >= state_size) {
      twist();
    }
    std::uint32_t y = state_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
  }

  /// A double uniform in [0, 1) with 53 random bits, exactly as CPython's `random()`.
  double next_double() noexcept {
    const std::uint32_t a = next_uint32() >> 5;
    const std::uint32_t b = next_uint32() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
  }

 private:
  static constexpr std::size_t state_size = 624;

  void init_genrand(std::uint32_t s) noexcept;
  void twist() noexcept;

  std::array<std::uint32_t, state_size> state_{};
  std::size_t index_ = state_size + 1;
};

}  // namespace ftq::tools
