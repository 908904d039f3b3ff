#include "exec/keys/sort_key_spec.hpp"

namespace ftq::exec::keys {

sort_key_layout make_sort_key_layout(const std::vector<plan_detail::bound_sort_key>& keys, const schema& input) {
  sort_key_layout layout;
  for (const auto& f : input.fields()) {
    layout.input_types.push_back(f.type);
  }
  for (const auto& k : keys) {
    sort_key_spec spec;
    spec.expr = k.value;
    spec.descending = k.descending;
    if (k.value.op == expr_op::column) {
      spec.input_column = k.value.column;
    } else {
      spec.computed = layout.computed_types.size();
      layout.computed_types.push_back(k.value.type);
    }
    layout.keys.push_back(std::move(spec));
  }
  return layout;
}

}  // namespace ftq::exec::keys
