#include "pipeline/map/resource_id.h"

#include <openssl/evp.h>

#include <Poco/UUID.h>

namespace dxnorm::map {

// RFC 4122 section 4.3 name-based UUID, version 5: SHA-1 over the namespace
// bytes and the name, then version and variant bits. The same value as
// Poco::UUIDGenerator::createFromName with a SHA1Engine (a unit test holds
// them equal); OpenSSL's SHA-1 is used because this runs for every resource of
// every message and Poco's costs several times more.
std::string resource_id(std::string_view resource_type, std::span<const std::string_view> keys) {
  std::string out(kResourceIdLength, '-');
  write_resource_id(resource_type, keys, out.data());
  return out;
}

void write_resource_id(std::string_view resource_type, std::span<const std::string_view> keys, char* out) {
  static const std::string ns_bytes = [] {
    Poco::UUID ns{std::string(kDxnormIdNamespace)};
    std::string b(16, '\0');
    ns.copyTo(b.data());
    return b;
  }();
  thread_local std::string name;
  name.assign(ns_bytes);
  name.append(resource_type);
  for (std::string_view k : keys) {
    name.push_back('|');
    for (char c : k) {
      if (c == '|' || c == '\\') name.push_back('\\');
      name.push_back(c);
    }
  }
  // SHA1() would look the algorithm up (under a lock) on every call: fetch it
  // once, and keep one digest context per thread.
  static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  struct Ctx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(p); }
  };
  thread_local Ctx ctx;
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx.p, sha1, nullptr);
  EVP_DigestUpdate(ctx.p, name.data(), name.size());
  EVP_DigestFinal_ex(ctx.p, d, &len);
  d[6] = static_cast<unsigned char>((d[6] & 0x0F) | 0x50);  // version 5
  d[8] = static_cast<unsigned char>((d[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::size_t o = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
    out[o++] = hex[d[i] >> 4];
    out[o++] = hex[d[i] & 15];
  }
}

}  // namespace dxnorm::map
