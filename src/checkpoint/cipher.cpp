#include "checkpoint/cipher.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <string>

#include <ftq/error.hpp>

namespace ftq::checkpoint {

namespace {

// EVP lengths are ints: feed at most 1 GiB per call.
constexpr std::size_t max_chunk = std::size_t{1} << 30;

[[noreturn]] void openssl_failure(const char* doing) {
  char reason[256] = "no detail";
  if (const unsigned long e = ERR_get_error(); e != 0) {
    ERR_error_string_n(e, reason, sizeof reason);
  }
  ERR_clear_error();
  throw checkpoint_error(make_error_code(errc::internal), "", std::string("OpenSSL ") + doing + " failed: " + reason);
}

void check(int ok, const char* doing) {
  if (ok != 1) {
    openssl_failure(doing);
  }
}

EVP_CIPHER_CTX* new_context() {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) {
    throw std::bad_alloc();
  }
  return ctx;
}

const unsigned char* bytes_of(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* bytes_of(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

void feed_aad(EVP_CIPHER_CTX* ctx, std::span<const std::byte> aad, bool encrypting) {
  for (std::size_t at = 0; at < aad.size(); at += max_chunk) {
    const int n = static_cast<int>(std::min(max_chunk, aad.size() - at));
    int out_len = 0;
    check(encrypting ? EVP_EncryptUpdate(ctx, nullptr, &out_len, bytes_of(aad.data() + at), n)
                     : EVP_DecryptUpdate(ctx, nullptr, &out_len, bytes_of(aad.data() + at), n),
          "AES-GCM associated data");
  }
}

}  // namespace

gcm_nonce fresh_nonce() {
  gcm_nonce n{};
  check(RAND_bytes(n.data(), static_cast<int>(n.size())), "RAND_bytes");
  return n;
}

gcm_sealer::gcm_sealer(const encryption_key& key, const gcm_nonce& nonce) : ctx_(new_context()) {
  try {
    // The default GCM IV length is 12 bytes, the nonce's.
    check(EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()), "AES-GCM init");
  } catch (...) {
    EVP_CIPHER_CTX_free(ctx_);
    throw;
  }
}

gcm_sealer::~gcm_sealer() { EVP_CIPHER_CTX_free(ctx_); }

void gcm_sealer::add_aad(std::span<const std::byte> aad) { feed_aad(ctx_, aad, true); }

void gcm_sealer::encrypt_in_place(std::span<std::byte> bytes) {
  for (std::size_t at = 0; at < bytes.size(); at += max_chunk) {
    const int n = static_cast<int>(std::min(max_chunk, bytes.size() - at));
    int out_len = 0;
    unsigned char* p = bytes_of(bytes.data() + at);
    check(EVP_EncryptUpdate(ctx_, p, &out_len, p, n), "AES-GCM encrypt");
  }
}

gcm_tag gcm_sealer::finish() {
  int out_len = 0;
  unsigned char none[16];
  check(EVP_EncryptFinal_ex(ctx_, none, &out_len), "AES-GCM final");
  gcm_tag tag{};
  check(EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()), "AES-GCM tag");
  return tag;
}

gcm_opener::gcm_opener(const encryption_key& key, const gcm_nonce& nonce) : ctx_(new_context()) {
  try {
    check(EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, key.bytes.data(), nonce.data()), "AES-GCM init");
  } catch (...) {
    EVP_CIPHER_CTX_free(ctx_);
    throw;
  }
}

gcm_opener::~gcm_opener() { EVP_CIPHER_CTX_free(ctx_); }

void gcm_opener::add_aad(std::span<const std::byte> aad) { feed_aad(ctx_, aad, false); }

void gcm_opener::decrypt(std::span<const std::byte> in, std::byte* out) {
  for (std::size_t at = 0; at < in.size(); at += max_chunk) {
    const int n = static_cast<int>(std::min(max_chunk, in.size() - at));
    int out_len = 0;
    check(EVP_DecryptUpdate(ctx_, bytes_of(out + at), &out_len, bytes_of(in.data() + at), n), "AES-GCM decrypt");
  }
}

bool gcm_opener::finish(const gcm_tag& tag) {
  gcm_tag copy = tag;  // the ctrl takes a non-const pointer
  check(EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, static_cast<int>(copy.size()), copy.data()), "AES-GCM tag");
  int out_len = 0;
  unsigned char none[16];
  // A failed final is the tag mismatch, not an OpenSSL fault; it leaves an error on the queue.
  const bool ok = EVP_DecryptFinal_ex(ctx_, none, &out_len) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace ftq::checkpoint
