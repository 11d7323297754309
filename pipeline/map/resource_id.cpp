#include "pipeline/map/resource_id.h"

// SHA1_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but
// kept and served by the same assembly; EVP's per-call provider dispatch
// cost 185 ns per id against 82 ns here, and this runs for every resource.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <Poco/UUID.h>

#include <cstdint>
#include <cstring>

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
  // The name is built on the stack when it fits (ids have a few short keys),
  // else in a per-thread string; the bytes hashed are the same either way.
  char local[512];
  thread_local std::string spill;
  std::size_t need = ns_bytes.size() + resource_type.size();
  for (std::string_view k : keys) need += 1 + 2 * k.size();  // each byte escaped at worst
  char* name = local;
  if (need > sizeof local) {
    spill.resize(need);
    name = spill.data();
  }
  std::size_t len = 0;
  std::memcpy(name, ns_bytes.data(), ns_bytes.size());
  len += ns_bytes.size();
  std::memcpy(name + len, resource_type.data(), resource_type.size());
  len += resource_type.size();
  for (std::string_view k : keys) {
    name[len++] = '|';
    std::size_t i = 0;
    // Eight bytes at a time while none of them is '|' (0x7C) or '\\' (0x5C):
    // the two differ in bit 0x20 only, so b | 0x20 == 0x7C finds both.
    for (; i + 8 <= k.size(); i += 8) {
      std::uint64_t w;
      std::memcpy(&w, k.data() + i, 8);
      const std::uint64_t x = (w | 0x2020202020202020ull) ^ 0x7C7C7C7C7C7C7C7Cull;  // zero byte: a special
      if ((x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull) break;
      std::memcpy(name + len, &w, 8);
      len += 8;
    }
    for (; i < k.size(); ++i) {
      const char c = k[i];
      if (c == '|' || c == '\\') name[len++] = '\\';
      name[len++] = c;
    }
  }
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA_CTX ctx;
  SHA1_Init(&ctx);
  SHA1_Update(&ctx, name, len);
  SHA1_Final(d, &ctx);
  d[6] = static_cast<unsigned char>((d[6] & 0x0F) | 0x50);  // version 5
  d[8] = static_cast<unsigned char>((d[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  // 8-4-4-4-12: the dashes at fixed places, two digits per byte.
  static constexpr unsigned char kAt[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
  out[8] = out[13] = out[18] = out[23] = '-';
  for (int i = 0; i < 16; ++i) {
    out[kAt[i]] = hex[d[i] >> 4];
    out[kAt[i] + 1] = hex[d[i] & 15];
  }
}

}  // namespace dxnorm::map
