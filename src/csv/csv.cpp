#include <ftq/csv.hpp>

#include <memory>
#include <numeric>

#include "csv/csv_reader.hpp"
#include "csv/csv_writer.hpp"
#include "csv/number_format.hpp"

namespace ftq {

table_ptr load_csv_table(const std::filesystem::path& file, const schema& file_schema, std::string table_name,
                         std::size_t batch_rows) {
  std::vector<std::size_t> all(file_schema.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  csv::reader_options options;
  options.batch_rows = batch_rows;
  csv::csv_reader reader(file, file_schema, std::move(all), options);
  std::vector<batch> batches;
  while (auto b = reader.next()) {
    batches.push_back(std::move(*b));
  }
  return std::make_shared<const table>(std::move(table_name), file_schema, std::move(batches));
}

void write_csv(const std::filesystem::path& file, const schema& s, const std::vector<batch>& batches) {
  csv::csv_writer writer(file, s);
  for (const batch& b : batches) {
    writer.write(b);
  }
  writer.finish();
}

std::string format_double(double v) {
  char text[csv::max_number_chars];
  return std::string(text, csv::write_double(text, v));
}

}  // namespace ftq
