// FHIR JSON documents as built by the map stage and written by every sink.
//
// Hazard: FHIR decimals must keep the digits as written ("1.10" is not
// "1.1"), which a double cannot. The map stage stores a decimal as a string
// value whose first byte is kRawNumberTag; write_fhir_json() emits it as a
// bare JSON number and the validator treats it as a number. Such strings must
// never leave dxnorm through any other writer.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>

#include <string>
#include <string_view>
#include <vector>

namespace dxnorm::fhir {

inline constexpr char kRawNumberTag = '\x01';

inline bool is_raw_number(const rapidjson::Value& v) noexcept {
  return v.IsString() && v.GetStringLength() > 0 && v.GetString()[0] == kRawNumberTag;
}
inline std::string_view raw_number_text(const rapidjson::Value& v) noexcept {
  return {v.GetString() + 1, v.GetStringLength() - 1};
}

// Serialises with raw numbers restored. pretty: two-space indentation.
void write_fhir_json(const rapidjson::Value& v, rapidjson::StringBuffer& out, bool pretty = false);
std::string to_fhir_json(const rapidjson::Value& v, bool pretty = false);

// A Bundle whose entry[i].resource is already serialised in resources[i]
// (the per-resource records): the same bytes as write_fhir_json(bundle), in
// `out` (replaced), copying each resource text once. `scratch` (cleared)
// holds the rest of the Bundle meanwhile; neither may hold the texts.
void write_fhir_bundle(const rapidjson::Value& bundle, const std::vector<std::string_view>& resources,
                       rapidjson::StringBuffer& scratch, std::string& out);

}  // namespace dxnorm::fhir
