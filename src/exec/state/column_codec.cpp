#include "exec/state/column_codec.hpp"

#include <algorithm>

#include <ftq/error.hpp>

namespace ftq::exec {

void check_bin_size(std::uint64_t bytes, std::string_view what) {
  if (bytes > max_bin_bytes) {
    throw error(errc::internal, "state snapshot: " + std::string(what) + " of " + std::to_string(bytes) +
                                    " bytes exceeds msgpack's 4 GiB bin limit");
  }
}

bin_writer::bin_writer(state_packer& out, std::uint64_t bytes, std::string_view what) : out_(out), declared_(bytes) {
  check_bin_size(bytes, what);
  out_.pack_bin(static_cast<std::uint32_t>(bytes));
}

void bin_writer::flush() {
  if (used_ > 0) {
    // A bin's body may be written in any number of pieces: pack_bin_body only appends bytes.
    out_.pack_bin_body(buf_.data(), static_cast<std::uint32_t>(used_));
    used_ = 0;
  }
}

void bin_writer::write(const void* data, std::size_t size) {
  written_ += size;
  if (size == 0) {
    return;
  }
  if (used_ + size <= buf_.size()) {
    std::memcpy(buf_.data() + used_, data, size);
    used_ += size;
    return;
  }
  flush();
  if (size >= buf_.size()) {
    out_.pack_bin_body(static_cast<const char*>(data), static_cast<std::uint32_t>(size));
    return;
  }
  std::memcpy(buf_.data(), data, size);
  used_ = size;
}

void bin_writer::finish() {
  flush();
  if (written_ != declared_) {
    throw error(errc::internal, "state snapshot: bin declared " + std::to_string(declared_) + " bytes, wrote " +
                                    std::to_string(written_));
  }
}

namespace {

bool any_null(const column& c, std::size_t from, std::size_t to) {
  if (!c.has_nulls()) {
    return false;
  }
  const std::uint8_t* n = c.nulls.data();
  return std::any_of(n + from, n + to, [](std::uint8_t v) { return v != 0; });
}

}  // namespace

void pack_column(state_packer& out, const column& c, std::size_t from, std::size_t to) {
  const std::size_t n = to - from;
  const bool strings = c.type == type_id::string;
  out.pack_array(strings ? 5 : 4);
  out.pack_uint8(static_cast<std::uint8_t>(c.type));
  out.pack_uint64(n);
  const bool nulls = any_null(c, from, to);
  if (nulls) {
    pack_values(out, c.nulls.data() + from, n);
  } else {
    out.pack_nil();
  }
  switch (c.type) {
    case type_id::int64:
    case type_id::boolean:
      pack_values(out, c.ints.data() + from, n);
      break;
    case type_id::float64:
      pack_values(out, c.doubles.data() + from, n);
      break;
    case type_id::string: {
      const std::string_view* s = c.strings.data() + from;
      const std::uint8_t* null_flags = nulls ? c.nulls.data() + from : nullptr;
      // A NULL slot may hold any view: never read through it.
      pack_string_values(out, n, [s, null_flags](std::size_t i) {
        return null_flags != nullptr && null_flags[i] != 0 ? std::string_view{} : s[i];
      });
      break;
    }
  }
}

void pack_columns(state_packer& out, const std::vector<const column*>& cols, std::size_t from, std::size_t to) {
  out.pack_array(static_cast<std::uint32_t>(cols.size()));
  for (const column* c : cols) {
    pack_column(out, *c, from, to);
  }
}

column unpack_column(const value_reader& in, type_id type, string_storage storage) {
  const bool strings = type == type_id::string;
  in.expect_array(strings ? 5 : 4);
  const value_reader type_value = in.at(0, "type");
  if (type_value.as_uint(static_cast<std::uint64_t>(type_id::boolean)) != static_cast<std::uint64_t>(type)) {
    type_value.invalid("expected column type " + std::string(type_name(type)) + ", got " +
                       describe(type_value.object()));
  }
  const value_reader rows_value = in.at(1, "rows");
  // Every row takes at least one byte somewhere in the section, except string rows of length 0
  // (4 bytes of length each): a count beyond the bytes present is rejected before allocating.
  const std::uint64_t rows = rows_value.as_uint(max_bin_bytes);
  column c(type);
  const value_reader values = in.at(3, "values");
  switch (type) {
    case type_id::int64:
    case type_id::boolean:
      unpack_values(values, c.ints, static_cast<std::size_t>(rows));
      break;
    case type_id::float64:
      unpack_values(values, c.doubles, static_cast<std::size_t>(rows));
      break;
    case type_id::string: {
      const value_reader lengths = in.at(4, "lengths");
      if (lengths.as_bin().size() != rows * 4) {
        lengths.fail("bin of " + std::to_string(rows) + " uint32 lengths");
      }
      c.strings.resize(static_cast<std::size_t>(rows));
      const char* base = values.as_bin().data();
      const char* target = base;
      if (storage == string_storage::own && !values.as_bin().empty()) {
        auto buffer = std::make_shared<const std::string>(values.as_bin());
        target = buffer->data();
        c.keep_alive(std::move(buffer));
      }
      std::string_view* out = c.strings.data();
      unpack_string_values(values, lengths, static_cast<std::size_t>(rows), [&](std::size_t i, std::string_view s) {
        out[i] = s.empty() ? std::string_view{} : std::string_view(target + (s.data() - base), s.size());
      });
      break;
    }
  }
  const value_reader nulls = in.at(2, "nulls");
  if (!nulls.is_nil()) {
    unpack_values(nulls, c.nulls, static_cast<std::size_t>(rows));
    if (type == type_id::string) {
      for (std::size_t i = 0; i < rows; ++i) {
        if (c.nulls[i] != 0) {
          c.strings[i] = {};
        }
      }
    }
  }
  return c;
}

std::size_t unpack_columns(const value_reader& in, const std::vector<type_id>& types, string_storage storage,
                           std::vector<column>& out) {
  in.expect_array(types.size());
  out.clear();
  out.reserve(types.size());
  std::size_t rows = 0;
  for (std::size_t c = 0; c < types.size(); ++c) {
    out.push_back(unpack_column(in.at(c, "column"), types[c], storage));
    if (c == 0) {
      rows = out[0].size();
    } else if (out[c].size() != rows) {
      in.at(c, "column")
          .invalid("column of " + std::to_string(out[c].size()) + " rows beside columns of " + std::to_string(rows));
    }
  }
  return rows;
}

std::uint64_t column_bytes(const column& c) {
  std::uint64_t bytes = c.nulls.size();
  switch (c.type) {
    case type_id::int64:
    case type_id::boolean:
      bytes += 8 * c.ints.size();
      break;
    case type_id::float64:
      bytes += 8 * c.doubles.size();
      break;
    case type_id::string:
      bytes += 4 * c.strings.size();
      for (std::size_t i = 0; i < c.strings.size(); ++i) {
        bytes += c.is_null(i) ? 0 : c.strings[i].size();
      }
      break;
  }
  return bytes;
}

}  // namespace ftq::exec
