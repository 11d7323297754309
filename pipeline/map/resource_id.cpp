#include "pipeline/map/resource_id.h"

#include <Poco/SHA1Engine.h>
#include <Poco/UUID.h>
#include <Poco/UUIDGenerator.h>

namespace dxnorm::map {

std::string resource_id(std::string_view resource_type, std::span<const std::string_view> keys) {
  static const Poco::UUID ns(std::string{kDxnormIdNamespace});
  std::string name(resource_type);
  for (std::string_view k : keys) {
    name.push_back('|');
    for (char c : k) {
      if (c == '|' || c == '\\') name.push_back('\\');
      name.push_back(c);
    }
  }
  // Poco's generator keeps no state for name-based UUIDs; a local engine
  // keeps this thread-safe.
  Poco::SHA1Engine sha1;
  return Poco::UUIDGenerator::defaultGenerator().createFromName(ns, name, sha1, Poco::UUID::UUID_NAME_BASED_SHA1).toString();
}

}  // namespace dxnorm::map
