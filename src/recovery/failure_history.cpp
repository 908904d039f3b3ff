#include "recovery/failure_history.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <msgpack.hpp>

#include "exec/state/state_io.hpp"
#include "exec/state/state_section.hpp"

namespace ftq::recovery {

namespace {

constexpr std::string_view tag = "ftq.failure_history";
constexpr std::size_t record_fields = 10;

class vector_sink final : public byte_sink {
 public:
  void write(const char* data, std::size_t size) override {
    const auto* p = reinterpret_cast<const std::byte*>(data);
    bytes.insert(bytes.end(), p, p + size);
  }
  std::vector<std::byte> bytes;
};

void pack_string(msgpack::packer<byte_sink>& out, std::string_view s) {
  out.pack_str(static_cast<std::uint32_t>(s.size()));
  out.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

failure_record read_record(const exec::value_reader& r) {
  if (r.array_size() < record_fields) {
    r.fail("array of at least " + std::to_string(record_fields));
  }
  failure_record rec;
  rec.seq = r.at(0, "seq").as_uint();
  const std::int64_t ns = r.at(1, "time").as_int();
  rec.time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns)));
  rec.query = std::string(r.at(2, "query").as_str());
  rec.operator_id = static_cast<std::uint32_t>(r.at(3, "operator_id").as_uint(UINT32_MAX));
  rec.operator_name = std::string(r.at(4, "operator_name").as_str());
  const exec::value_reader cls = r.at(5, "class");
  const std::optional<error_class> c = parse_error_class(cls.as_str());
  if (!c) {
    cls.invalid("unknown error class '" + std::string(cls.as_str()) + "'");
  }
  rec.cls = *c;
  rec.message = std::string(r.at(6, "message").as_str());
  rec.attempt = static_cast<std::uint32_t>(r.at(7, "attempt").as_uint(UINT32_MAX));
  rec.recovery = std::string(r.at(8, "recovery").as_str());
  rec.outcome = std::string(r.at(9, "outcome").as_str());
  return rec;
}

}  // namespace

failure_history::failure_history(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::uint64_t failure_history::add(failure_record r) {
  r.seq = next_seq_++;
  records_.push_back(std::move(r));
  trim();
  return records_.back().seq;
}

bool failure_history::set_outcome(std::uint64_t seq, std::string recovery, std::string outcome) {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    if (it->seq == seq) {
      it->recovery = std::move(recovery);
      it->outcome = std::move(outcome);
      return true;
    }
    if (it->seq < seq) {
      break;  // ordered by seq: it is not held
    }
  }
  return false;
}

std::vector<failure_record> failure_history::select(const history_filter& f) const {
  const auto matches = [&](const failure_record& r) {
    return (!f.query || r.query == *f.query) && (!f.operator_id || r.operator_id == *f.operator_id) &&
           (!f.since || r.time >= *f.since);
  };
  // Newest first up to the limit, then reversed: "the last 20 failures" is the usual question.
  std::vector<failure_record> out;
  for (auto it = records_.rbegin(); it != records_.rend() && (f.limit == 0 || out.size() < f.limit); ++it) {
    if (matches(*it)) {
      out.push_back(*it);
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::byte> failure_history::save() const {
  vector_sink sink;
  msgpack::packer<byte_sink> out(sink);
  out.pack_array(3);
  pack_string(out, tag);
  out.pack_uint32(format_version);
  out.pack_array(static_cast<std::uint32_t>(records_.size()));
  for (const failure_record& r : records_) {
    out.pack_array(record_fields);
    out.pack_uint64(r.seq);
    out.pack_int64(std::chrono::duration_cast<std::chrono::nanoseconds>(r.time.time_since_epoch()).count());
    pack_string(out, r.query);
    out.pack_uint32(r.operator_id);
    pack_string(out, r.operator_name);
    pack_string(out, error_class_name(r.cls));
    pack_string(out, r.message);
    out.pack_uint32(r.attempt);
    pack_string(out, r.recovery);
    pack_string(out, r.outcome);
  }
  return std::move(sink.bytes);
}

std::vector<failure_record> failure_history::decode(std::span<const std::byte> bytes) {
  // unpack_section bounds every declared length by the input size and turns msgpack's own
  // errors into checkpoint_corrupt.
  const msgpack::object_handle h = exec::unpack_section(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const exec::value_reader top(h.get(), "failure history");
  if (top.array_size() < 3) {
    top.fail("array of 3");
  }
  const exec::value_reader tag_value = top.at(0, "tag");
  if (tag_value.as_str() != tag) {
    tag_value.invalid("not a failure history (tag '" + std::string(tag_value.as_str()) + "')");
  }
  const auto version = static_cast<std::uint32_t>(top.at(1, "version").as_uint(UINT32_MAX));
  if (version == 0) {
    top.at(1, "version").invalid("version 0 does not exist");
  }
  if (version > format_version) {
    exec::unsupported_state_version(tag, version);
  }
  const exec::value_reader list = top.at(2, "records");
  const std::size_t n = list.array_size();
  std::vector<failure_record> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(read_record(list.at(i)));
  }
  return out;
}

std::size_t failure_history::merge(std::vector<failure_record> records) {
  std::set<std::pair<std::string, std::uint64_t>> held;
  for (const failure_record& r : records_) {
    held.emplace(r.query, r.seq);
  }
  std::vector<failure_record> added;
  for (failure_record& r : records) {
    if (held.emplace(r.query, r.seq).second) {  // new, and not twice in `records` either
      next_seq_ = std::max(next_seq_, r.seq + 1);
      added.push_back(std::move(r));
    }
  }
  const std::size_t count = added.size();
  for (failure_record& r : added) {
    records_.push_back(std::move(r));
  }
  std::stable_sort(records_.begin(), records_.end(), [](const failure_record& a, const failure_record& b) {
    return a.seq != b.seq ? a.seq < b.seq : a.time < b.time;
  });
  trim();
  return count;
}

void failure_history::trim() {
  while (records_.size() > capacity_) {
    records_.pop_front();
  }
}

}  // namespace ftq::recovery
