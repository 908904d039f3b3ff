#pragma once
/// Builds the in-memory table the engine tests register: columns k (int64), v (float64) and
/// s (string), row i holding k = (i * key_multiplier) % groups, v = i * value_scale and
/// s = "s<i % 7>", split into batches of batch_rows rows.

#include <cstddef>
#include <cstdint>
#include <string>

#include <ftq/table.hpp>

namespace ftq::test {

struct kvs_table_spec {
  std::string name = "t";
  std::size_t rows = 0;
  std::int64_t groups = 1;  // distinct keys at most
  std::size_t batch_rows = 4096;
  std::size_t key_multiplier = 1;  // a multiplier coprime to `groups` scatters each key's rows
  double value_scale = 1.0;
};

table_ptr make_kvs_table(const kvs_table_spec& spec);

}  // namespace ftq::test
