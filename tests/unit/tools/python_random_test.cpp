#include "tools/python_random.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>

using ftq::tools::python_random;

TEST_CASE("python_random(42) yields CPython's first random() values exactly") {
  // python3 -c "import random; r = random.Random(42); print([r.random() for _ in range(3)])"
  python_random rng(42);
  CHECK(rng.next_double() == 0.6394267984578837);
  CHECK(rng.next_double() == 0.025010755222666936);
  CHECK(rng.next_double() == 0.27502931836911926);
}

TEST_CASE("python_random seeds with the absolute value, like CPython") {
  python_random negative(-5);
  python_random positive(5);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(negative.next_uint32() == positive.next_uint32());
  }
}

TEST_CASE("python_random matches CPython for seeds of one and two 32-bit words") {
  // python3 -c "import random; print([random.Random(s).random() for s in (0, 2**32, 2**40)])"
  CHECK(python_random(0).next_double() == 0.8444218515250481);
  CHECK(python_random(std::int64_t{1} << 32).next_double() == 0.11299430095636409);
  CHECK(python_random(std::int64_t{1} << 40).next_double() == 0.1036394562812375);
}

TEST_CASE("python_random accepts INT64_MIN, whose magnitude only fits unsigned") {
  // python3 -c "import random; print(random.Random(-2**63).random())"
  python_random rng(std::numeric_limits<std::int64_t>::min());
  CHECK(rng.next_double() == 0.5534639983914199);
}

TEST_CASE("python_random keeps CPython's sequence across the 624-word state refill") {
  // python3 -c "import random; r = random.Random(7); [r.random() for _ in range(1000)]; print(r.random())"
  python_random rng(7);
  for (int i = 0; i < 1000; ++i) {
    static_cast<void>(rng.next_double());
  }
  CHECK(rng.next_double() == 0.950867979111096);
}
