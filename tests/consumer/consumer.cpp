// Builds a table in memory, runs a plan made with the builder, prints the result as CSV lines.
#include <cstdio>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <ftq/engine.hpp>
#include <ftq/plan.hpp>

int main() {
  auto k = std::make_shared<ftq::column>(ftq::type_id::int64);
  k->ints = {1, 2, 1, 3, 1};
  ftq::batch b;
  b.columns = {k};
  b.rows = 5;
  auto t = std::make_shared<ftq::table>("t", ftq::schema({{"k", ftq::type_id::int64}}), std::vector<ftq::batch>{b});

  boost::asio::io_context io;
  ftq::engine eng(io.get_executor());
  eng.register_table(t);
  auto p = ftq::plan_builder::table_scan("t")
               .aggregate({ftq::col("k")}, {ftq::count_star("n")})
               .sort({ftq::asc(ftq::col("k"))})
               .build("consumer");
  int status = 1;
  boost::asio::co_spawn(io, eng.execute(p), [&](std::exception_ptr e, ftq::query_result r) {
    if (e)
      return;
    for (const auto& out : r.batches) {
      for (std::size_t i = 0; i < out.live_rows(); ++i) {
        const auto row = out.row_at(i);
        std::printf("%lld,%lld\n", static_cast<long long>(out.columns[0]->ints[row]),
                    static_cast<long long>(out.columns[1]->ints[row]));
      }
    }
    status = 0;
  });
  io.run();
  return status;
}
