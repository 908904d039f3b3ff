#include <ftq/table.hpp>

namespace ftq {

table::table(std::string name, ftq::schema s, std::vector<batch> batches)
    : name_(std::move(name)), schema_(std::move(s)), batches_(std::move(batches)) {
  for (auto& b : batches_) {
    if (b.has_selection)
      b = b.compacted();
    row_count_ += b.rows;
  }
}

}  // namespace ftq
