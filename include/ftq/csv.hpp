#pragma once
/// Loads CSV files into in-memory tables and writes tables or batches back as CSV, in the format
/// ftq's csv_scan reads and its result sink writes (RFC 4180 with a header line; an unquoted
/// empty field is NULL, "" is the empty string; doubles print as shortest round-trip text).

#include <filesystem>
#include <string>
#include <vector>

#include <ftq/batch.hpp>
#include <ftq/table.hpp>
#include <ftq/types.hpp>

namespace ftq {

/// Loads a whole CSV file into an in-memory table (batches of batch_rows rows). The header must
/// name `file_schema`'s columns in order. String values point into the file's read buffers,
/// which the table keeps alive. Throws ftq::csv_error (file:line:column) for malformed data and
/// ftq::io_error when the file cannot be read.
table_ptr load_csv_table(const std::filesystem::path& file, const schema& file_schema, std::string table_name,
                         std::size_t batch_rows = default_batch_rows);

/// Writes the live rows of `batches` (columns matching `s`) as CSV with a header. The file
/// appears atomically: written to a temp file, fsynced, then renamed onto `file`; on error no
/// file (and no temp file) is left. Throws ftq::io_error.
void write_csv(const std::filesystem::path& file, const schema& s, const std::vector<batch>& batches);

/// The round-trip text of a double used everywhere ftq prints one: "625120", "0.1", "-0",
/// "0.30000000000000004", "1e+300", "nan", "inf", "-inf". Reading it back gives the same bits.
std::string format_double(double v);

}  // namespace ftq
