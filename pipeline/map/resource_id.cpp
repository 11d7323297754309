#include "pipeline/map/resource_id.h"

// SHA1_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but
// kept and served by the same assembly; EVP's per-call provider dispatch
// cost 185 ns per id against 82 ns here, and this runs for every resource.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

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
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, name.data(), name.size());
  SHA1_Final(d, &ctx);
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
