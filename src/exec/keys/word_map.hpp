#pragma once
/// Maps fixed-width keys (64- or 128-bit words) to dense 32-bit ids by open addressing with
/// linear probing. Works on whole batches and prefetches the slots of rows a little ahead, so a
/// table far larger than the caches is probed at memory bandwidth rather than memory latency.

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace ftq::exec::keys {

__extension__ using uint128 = unsigned __int128;

template <class Word>
class word_map {
  static_assert(std::is_same_v<Word, std::uint64_t> || std::is_same_v<Word, uint128>);

 public:
  static constexpr std::uint32_t absent = UINT32_MAX;

  word_map() { clear(); }

  std::size_t size() const noexcept { return count_; }

  void clear() {
    slots_.assign(min_slots, slot{});
    shift_ = 64 - min_bits;
    count_ = 0;
  }

  /// Sets ids[i] to the id of w[i] for i < n. A key not seen before gets id `next_id` (which
  /// then grows by one) and its row is appended to `new_rows`.
  void insert(const Word* w, std::size_t n, std::uint32_t* ids, std::uint32_t& next_id,
              std::vector<std::uint32_t>& new_rows) {
    if (large()) {
      insert_rows<true>(w, n, ids, next_id, new_rows);
    } else {
      insert_rows<false>(w, n, ids, next_id, new_rows);
    }
  }

  /// Sets ids[i] to the id of w[i], or `absent`, for i < n where skip is null or skip[i] == 0.
  void find(const Word* w, std::size_t n, std::uint32_t* ids, const std::uint8_t* skip) {
    if (large()) {
      find_rows<true>(w, n, ids, skip);
    } else {
      find_rows<false>(w, n, ids, skip);
    }
  }

  /// Multiplicative hashing: the top bits of the product pick the slot.
  static std::uint64_t hash(Word k) noexcept {
    std::uint64_t x = static_cast<std::uint64_t>(k);
    if constexpr (sizeof(Word) > 8) {
      x ^= static_cast<std::uint64_t>(k >> 64) * 0xc4ceb9fe1a85ec53ULL;
    }
    return (x ^ (x >> 32)) * 0x9e3779b97f4a7c15ULL;
  }

 private:
  // Tables larger than this (in slots) are prefetched; smaller ones stay in cache anyway.
  static constexpr std::size_t prefetch_min_slots = std::size_t{1} << 14;

  bool large() const noexcept { return slots_.size() >= prefetch_min_slots; }

  template <bool Prefetch>
  void insert_rows(const Word* w, std::size_t n, std::uint32_t* ids, std::uint32_t& next_id,
                   std::vector<std::uint32_t>& new_rows) {
    hash_all(w, n);
    const std::uint64_t* h = hashes_.data();
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (Prefetch) {
        if (i + prefetch_distance < n) {
          __builtin_prefetch(&slots_[h[i + prefetch_distance] >> shift_]);
        }
      }
      const std::size_t mask = slots_.size() - 1;
      std::size_t pos = h[i] >> shift_;
      for (;;) {
        slot& s = slots_[pos];
        if (s.id == absent) {
          s.set_key(w[i]);
          s.id = next_id;
          ids[i] = next_id++;
          new_rows.push_back(static_cast<std::uint32_t>(i));
          if (++count_ > grow_at()) {
            grow();
          }
          break;
        }
        if (s.key_value() == w[i]) {
          ids[i] = s.id;
          break;
        }
        pos = (pos + 1) & mask;
      }
    }
  }

  template <bool Prefetch>
  void find_rows(const Word* w, std::size_t n, std::uint32_t* ids, const std::uint8_t* skip) {
    hash_all(w, n);
    const std::uint64_t* h = hashes_.data();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (Prefetch) {
        if (i + prefetch_distance < n) {
          __builtin_prefetch(&slots_[h[i + prefetch_distance] >> shift_]);
        }
      }
      ids[i] = absent;
      if (skip != nullptr && skip[i] != 0) {
        continue;
      }
      std::size_t pos = h[i] >> shift_;
      for (;;) {
        const slot& s = slots_[pos];
        if (s.id == absent) {
          break;
        }
        if (s.key_value() == w[i]) {
          ids[i] = s.id;
          break;
        }
        pos = (pos + 1) & mask;
      }
    }
  }

  // 8-byte alignment keeps 128-bit slots at 24 bytes instead of 32.
  struct slot {
    Word key_value() const noexcept {
      Word k;
      std::memcpy(&k, bytes, sizeof(Word));
      return k;
    }
    void set_key(Word k) noexcept { std::memcpy(bytes, &k, sizeof(Word)); }
    alignas(8) unsigned char bytes[sizeof(Word)] = {};
    std::uint32_t id = absent;
  };
  static constexpr unsigned min_bits = 10;  // few keys rarely share a slot
  static constexpr std::size_t min_slots = std::size_t{1} << min_bits;
  static constexpr std::size_t prefetch_distance = 32;

  // Grows past 11/16 full: linear probing stays short below that.
  std::size_t grow_at() const noexcept { return slots_.size() / 16 * 11; }

  void hash_all(const Word* w, std::size_t n) {
    hashes_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      hashes_[i] = hash(w[i]);
    }
  }

  void grow() {
    std::vector<slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, slot{});
    --shift_;
    const std::size_t mask = slots_.size() - 1;
    for (const slot& s : old) {
      if (s.id == absent) {
        continue;
      }
      std::size_t pos = hash(s.key_value()) >> shift_;
      while (slots_[pos].id != absent) {
        pos = (pos + 1) & mask;
      }
      slots_[pos] = s;
    }
  }

  std::vector<slot> slots_;
  unsigned shift_ = 64 - min_bits;
  std::size_t count_ = 0;
  std::vector<std::uint64_t> hashes_;  // scratch: hash of each row of a batch
};

}  // namespace ftq::exec::keys
