#pragma once
/// Holds an immutable in-memory table: a schema and its rows as batches. Embedding code builds
/// one (or loads it from CSV) and registers it with the engine; `table_scan` hands its batches
/// out without copying.

#include <memory>
#include <string>
#include <vector>

#include <ftq/batch.hpp>
#include <ftq/types.hpp>

namespace ftq {

class table {
 public:
  table(std::string name, ftq::schema s, std::vector<batch> batches);

  const std::string& name() const noexcept { return name_; }
  const ftq::schema& schema() const noexcept { return schema_; }
  const std::vector<batch>& batches() const noexcept { return batches_; }
  std::size_t row_count() const noexcept { return row_count_; }

 private:
  std::string name_;
  ftq::schema schema_;
  std::vector<batch> batches_;
  std::size_t row_count_ = 0;
};

using table_ptr = std::shared_ptr<const table>;

}  // namespace ftq
