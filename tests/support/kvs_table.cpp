#include "support/kvs_table.hpp"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include <ftq/batch.hpp>
#include <ftq/column.hpp>

namespace ftq::test {

table_ptr make_kvs_table(const kvs_table_spec& spec) {
  auto names = std::make_shared<std::vector<std::string>>();
  for (int i = 0; i < 7; ++i) {
    names->push_back("s" + std::to_string(i));
  }
  std::vector<batch> batches;
  for (std::size_t start = 0; start < spec.rows; start += spec.batch_rows) {
    const std::size_t n = std::min(spec.batch_rows, spec.rows - start);
    auto k = std::make_shared<column>(type_id::int64);
    auto v = std::make_shared<column>(type_id::float64);
    auto s = std::make_shared<column>(type_id::string);
    for (std::size_t i = start; i < start + n; ++i) {
      k->ints.push_back(static_cast<std::int64_t>(i * spec.key_multiplier) % spec.groups);
      v->doubles.push_back(static_cast<double>(i) * spec.value_scale);
      s->strings.push_back((*names)[i % 7]);
    }
    s->keep_alive(names);
    batch b;
    b.columns = {k, v, s};
    b.rows = n;
    batches.push_back(std::move(b));
  }
  return std::make_shared<table>(
      spec.name, schema({{"k", type_id::int64}, {"v", type_id::float64}, {"s", type_id::string}}), std::move(batches));
}

}  // namespace ftq::test
