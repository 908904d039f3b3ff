#pragma once
/// Writes JSON text into a buffer it owns as it goes, with no document tree in between, and
/// hands the text over with take(): commas are placed by the writer, strings are escaped by
/// Boost.JSON's rules, doubles are printed shortest-round-trip in plain notation ("12.345",
/// "2.0") and non-finite ones as null. Keys passed to key() must need no escaping (they are the
/// renderers' own literals).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/serializer.hpp>

namespace ftq::status {

class json_writer {
 public:
  /// `size_hint`: the expected length of the text; a good guess saves reallocations.
  explicit json_writer(std::size_t size_hint = 256);

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  /// Writes `"k":`; the next call writes its value.
  json_writer& key(std::string_view k);

  void uint(std::uint64_t v);
  void sint(std::int64_t v);
  /// Shortest text that reads back as `v`, always with a '.' or an exponent so readers type it
  /// as a double ("100.0"); null for infinities and NaN (JSON has neither).
  void real(double v);
  /// value / 10^decimals as a decimal fraction without trailing zeros, as real() would print
  /// it but from integers ("11.345", "2.0"). decimals <= 18.
  void fixed(std::int64_t value, unsigned decimals);
  void boolean(bool v);
  void string(std::string_view s);
  void null();

  /// The text written so far; the writer is empty afterwards.
  std::string take();

 private:
  // A cursor into buf_, which is kept longer than the text (its size is capacity, pos_ the
  // length): a value is written by pointer after one capacity check instead of several appends.
  char* reserve(std::size_t n) {
    if (buf_.size() - pos_ < n) {
      grow(n);
    }
    return buf_.data() + pos_;
  }
  void grow(std::size_t n);
  void raw(std::string_view s);
  void separate() {
    if (need_comma_) {
      *reserve(1) = ',';
      ++pos_;
    }
  }

  std::string buf_;
  std::size_t pos_ = 0;
  // A value or a closed container was just written: whatever comes next needs a comma first.
  bool need_comma_ = false;
  // Escapes strings that need it (quotes, backslashes, control characters).
  boost::json::serializer escaper_;
};

}  // namespace ftq::status
