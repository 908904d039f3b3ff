// encryption_key::id, load_key_file and key_from_env (declared in file_format.hpp).

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <ftq/error.hpp>

#include "checkpoint/file_format.hpp"

namespace ftq::checkpoint {

namespace {

constexpr std::string_view key_id_label = "ftq checkpoint key id v1";

[[noreturn]] void invalid(const std::string& where, const std::string& why) {
  throw checkpoint_error(make_error_code(errc::checkpoint_key_invalid), where, why);
}

// OpenSSL's: -1 for anything but [0-9a-fA-F].
int hex_value(char c) noexcept { return OPENSSL_hexchar2int(static_cast<unsigned char>(c)); }

// Parses exactly 64 hex digits. Error messages give positions, never the key's characters.
encryption_key parse_hex(std::string_view text, const std::string& where) {
  if (text.size() != 64) {
    invalid(where, "must be 64 hex digits, has " + std::to_string(text.size()) + " characters");
  }
  encryption_key key;
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = hex_value(text[2 * i]);
    const int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(key.bytes.data(), key.bytes.size());
      invalid(where, "character " + std::to_string(2 * i + (hi < 0 ? 1 : 2)) + " is not a hex digit");
    }
    key.bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return key;
}

// Closes a descriptor and wipes a buffer however the function leaves.
struct key_file_reader {
  int fd = -1;
  char buf[66] = {};  // the longest valid content (64 hex digits and a newline) plus one
  ~key_file_reader() {
    OPENSSL_cleanse(buf, sizeof buf);
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

std::string octal_mode(mode_t mode) {
  char s[8];
  std::snprintf(s, sizeof s, "%04o", static_cast<unsigned>(mode & 07777));
  return s;
}

}  // namespace

std::array<unsigned char, 8> encryption_key::id() const {
  unsigned char input[key_id_label.size() + 32];
  std::memcpy(input, key_id_label.data(), key_id_label.size());
  std::memcpy(input + key_id_label.size(), bytes.data(), bytes.size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  const int ok = EVP_Digest(input, sizeof input, digest, &digest_len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(input, sizeof input);
  if (ok != 1) {
    throw checkpoint_error(make_error_code(errc::internal), "", "OpenSSL SHA-256 failed");
  }
  std::array<unsigned char, 8> id{};
  std::memcpy(id.data(), digest, id.size());
  return id;
}

encryption_key load_key_file(const std::filesystem::path& path) {
  const std::string where = path.string();
  key_file_reader r;
  // O_NONBLOCK: opening a FIFO must not hang; fstat below refuses it anyway. Checking the
  // opened descriptor (not the path) leaves no window to swap the file in between.
  r.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (r.fd < 0) {
    invalid(where, std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(r.fd, &st) != 0) {
    invalid(where, std::string("cannot stat: ") + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    invalid(where, "is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    invalid(where, "must be mode 0600 (no group or other permissions), is " + octal_mode(st.st_mode));
  }
  std::size_t size = 0;
  for (;;) {
    const ssize_t n = ::read(r.fd, r.buf + size, sizeof r.buf - size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      invalid(where, std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0 || (size += static_cast<std::size_t>(n)) == sizeof r.buf) {
      break;
    }
  }
  if (size == 32) {
    encryption_key key;
    std::memcpy(key.bytes.data(), r.buf, 32);
    return key;
  }
  std::string_view text(r.buf, size);
  if (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
  }
  if (text.size() != 64) {
    invalid(where, "must hold 32 raw bytes or 64 hex digits (and an optional newline), holds " +
                       (size >= sizeof r.buf ? "more than " + std::to_string(sizeof r.buf - 1) : std::to_string(size)) +
                       " bytes");
  }
  return parse_hex(text, where);
}

std::optional<encryption_key> key_from_env(const char* variable) {
  const char* value = std::getenv(variable);
  if (value == nullptr) {
    return std::nullopt;
  }
  return parse_hex(value, std::string("$") + variable);
}

}  // namespace ftq::checkpoint
