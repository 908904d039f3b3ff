#include "support/table_schemas.hpp"

namespace ftq::test {

schema lineitem_schema() {
  return schema({{"l_orderkey", type_id::int64},
                 {"l_partkey", type_id::int64},
                 {"l_quantity", type_id::float64},
                 {"l_extendedprice", type_id::float64},
                 {"l_discount", type_id::float64},
                 {"l_tax", type_id::float64},
                 {"l_returnflag", type_id::string},
                 {"l_linestatus", type_id::string},
                 {"l_shipdate", type_id::string}});
}

schema orders_schema() {
  return schema({{"o_orderkey", type_id::int64},
                 {"o_custkey", type_id::int64},
                 {"o_orderpriority", type_id::string},
                 {"o_totalprice", type_id::float64}});
}

}  // namespace ftq::test
