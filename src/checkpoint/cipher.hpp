#pragma once
/// Seals and opens a checkpoint body with AES-256-GCM (OpenSSL 3 EVP): associated data first,
/// then the body in chunks, then the 16-byte tag. Each file gets a fresh random 96-bit nonce, so
/// one key may seal up to about 2^32 files before nonce reuse becomes a concern (NIST SP 800-38D).

#include <array>
#include <cstddef>
#include <span>

#include <openssl/types.h>

#include "checkpoint/file_format.hpp"

namespace ftq::checkpoint {

using gcm_nonce = std::array<unsigned char, 12>;
using gcm_tag = std::array<unsigned char, 16>;

/// 12 bytes from OpenSSL's CSPRNG; throws checkpoint_error(errc::internal) if it has no entropy.
gcm_nonce fresh_nonce();

/// Encrypts one body. add_aad calls must all come before the first encrypt_in_place.
class gcm_sealer {
 public:
  gcm_sealer(const encryption_key& key, const gcm_nonce& nonce);
  ~gcm_sealer();
  gcm_sealer(const gcm_sealer&) = delete;
  gcm_sealer& operator=(const gcm_sealer&) = delete;

  void add_aad(std::span<const std::byte> aad);
  void encrypt_in_place(std::span<std::byte> bytes);
  gcm_tag finish();

 private:
  EVP_CIPHER_CTX* ctx_;
};

/// Decrypts one body; its plaintext may be used only once finish() returned true.
class gcm_opener {
 public:
  gcm_opener(const encryption_key& key, const gcm_nonce& nonce);
  ~gcm_opener();
  gcm_opener(const gcm_opener&) = delete;
  gcm_opener& operator=(const gcm_opener&) = delete;

  void add_aad(std::span<const std::byte> aad);
  /// Writes in.size() bytes to `out` (which may be in.data()).
  void decrypt(std::span<const std::byte> in, std::byte* out);
  /// True when `tag` authenticates the associated data and every byte decrypted (compared in
  /// constant time by OpenSSL).
  bool finish(const gcm_tag& tag);

 private:
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace ftq::checkpoint
