#include "pipeline/map/resource_id.h"

#include <Poco/SHA1Engine.h>
#include <Poco/UUID.h>

namespace dxnorm::map {

// RFC 4122 section 4.3 name-based UUID, version 5 (SHA-1), computed with
// Poco's SHA-1. Equivalent to Poco::UUIDGenerator::createFromName with a
// SHA1Engine (a unit test holds them equal), without its per-call
// allocations: this runs for every resource of every message.
std::string resource_id(std::string_view resource_type, std::span<const std::string_view> keys) {
  static const Poco::UUID ns(std::string{kDxnormIdNamespace});
  static const std::string ns_bytes = [] {
    std::string b(16, '\0');
    ns.copyTo(b.data());
    return b;
  }();
  thread_local Poco::SHA1Engine sha1;
  thread_local std::string name;
  name.assign(resource_type);
  for (std::string_view k : keys) {
    name.push_back('|');
    for (char c : k) {
      if (c == '|' || c == '\\') name.push_back('\\');
      name.push_back(c);
    }
  }
  sha1.reset();
  sha1.update(ns_bytes.data(), static_cast<unsigned>(ns_bytes.size()));
  sha1.update(name.data(), static_cast<unsigned>(name.size()));
  const Poco::DigestEngine::Digest& d = sha1.digest();
  unsigned char u[16];
  for (int i = 0; i < 16; ++i) u[i] = d[static_cast<std::size_t>(i)];
  u[6] = static_cast<unsigned char>((u[6] & 0x0F) | 0x50);  // version 5
  u[8] = static_cast<unsigned char>((u[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[u[i] >> 4]);
    out.push_back(hex[u[i] & 15]);
  }
  return out;
}

}  // namespace dxnorm::map
