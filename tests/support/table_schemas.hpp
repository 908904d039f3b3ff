#pragma once
/// Provides the schemas of the oracle's lineitem and orders CSV files (the columns its five
/// queries read), so tests describe those files once.

#include <ftq/types.hpp>

namespace ftq::test {

/// l_orderkey, l_partkey, l_quantity, l_extendedprice, l_discount, l_tax, l_returnflag,
/// l_linestatus, l_shipdate.
schema lineitem_schema();
/// o_orderkey, o_custkey, o_orderpriority, o_totalprice.
schema orders_schema();

}  // namespace ftq::test
