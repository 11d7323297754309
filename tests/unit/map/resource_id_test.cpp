// Deterministic ids: RFC 4122 v5 (SHA-1) in dxnorm's namespace, equal to
// Poco's name-based UUIDs (the reference implementation named in our brief).
#include <doctest/doctest.h>

#include <Poco/SHA1Engine.h>
#include <Poco/UUID.h>
#include <Poco/UUIDGenerator.h>

#include <string>
#include <vector>

#include "pipeline/map/resource_id.h"

using namespace dxnorm::map;

namespace {
std::string poco_v5(const std::string& name) {
  Poco::SHA1Engine sha1;
  Poco::UUID ns{std::string(kDxnormIdNamespace)};
  return Poco::UUIDGenerator::defaultGenerator().createFromName(ns, name, sha1, Poco::UUID::UUID_NAME_BASED_SHA1).toString();
}
}  // namespace

TEST_CASE("resource ids are RFC 4122 v5 UUIDs, equal to Poco's, and keys are escaped") {
  std::vector<std::string_view> keys = {"RVJ", "M24.0001", "634-6"};
  CHECK(resource_id("Observation", keys) == poco_v5("Observation|RVJ|M24.0001|634-6"));
  CHECK(resource_id("Patient", {}) == poco_v5("Patient"));
  std::string long_key(300, 'x');  // several SHA-1 blocks
  std::vector<std::string_view> lk = {long_key};
  CHECK(resource_id("Patient", lk) == poco_v5("Patient|" + long_key));
  // '|' and '\' in a key are escaped, so key boundaries cannot collide.
  std::vector<std::string_view> a = {"a|b", "c"}, b = {"a", "b|c"};
  CHECK(resource_id("X", a) != resource_id("X", b));
  CHECK(resource_id("X", a) == poco_v5("X|a\\|b|c"));
  // Specials at every place of an 8-byte block and in the tail (keys are
  // copied eight bytes at a time until a special turns up).
  for (std::size_t at = 0; at < 20; ++at)
    for (char special : {'|', '\\', '}', 'l', '<', '\x1c'}) {
      std::string k(20, 'k');
      k[at] = special;
      std::string escaped = k;
      if (special == '|' || special == '\\') escaped.insert(at, 1, '\\');
      std::vector<std::string_view> ks = {k, "12345678", "tail\\|"};
      CHECK(resource_id("Specimen", ks) == poco_v5("Specimen|" + escaped + "|12345678|tail\\\\\\|"));
    }
  std::string id = resource_id("X", a);
  CHECK(id.size() == 36);
  CHECK(id[14] == '5');                                            // version 5
  CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));  // RFC 4122 variant
}
