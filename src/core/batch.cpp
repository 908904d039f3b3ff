#include <ftq/batch.hpp>

namespace ftq {

namespace {

template <class T>
void gather(const std::vector<T>& from, const std::vector<std::uint32_t>& rows, std::vector<T>& to) {
  to.resize(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    to[i] = from[rows[i]];
}

}  // namespace

batch batch::compacted() const {
  if (!has_selection)
    return *this;
  batch out;
  out.rows = selection.size();
  out.columns.reserve(columns.size());
  for (const auto& in : columns) {
    auto c = std::make_shared<column>(in->type);
    switch (in->type) {
      case type_id::int64:
      case type_id::boolean:
        gather(in->ints, selection, c->ints);
        break;
      case type_id::float64:
        gather(in->doubles, selection, c->doubles);
        break;
      case type_id::string:
        gather(in->strings, selection, c->strings);
        c->string_owners = in->string_owners;
        break;
    }
    if (in->has_nulls())
      gather(in->nulls, selection, c->nulls);
    out.columns.push_back(std::move(c));
  }
  return out;
}

}  // namespace ftq
