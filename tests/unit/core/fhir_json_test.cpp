// The FHIR JSON writer: decimals kept as written, escapes, and the Bundle
// assembled from already-written resources giving the very same bytes.
#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include "pipeline/core/fhir_json.h"

using namespace dxnorm::fhir;

TEST_CASE("decimals are written as written, strings escaped, Bundles assembled from resource texts") {
  rapidjson::Document d;
  d.Parse(R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Observation","valueString":"a\"b\\c\n\u0001é"},"request":{"method":"PUT"}},
      {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Observation","n":[1,-2,true,null]},"request":{"method":"PUT"}}]})");
  REQUIRE_FALSE(d.HasParseError());
  // A decimal kept as written: "1.10" stays "1.10".
  std::string tagged = std::string(1, kRawNumberTag) + "1.10";
  d["entry"][1]["resource"].AddMember("value", rapidjson::Value(tagged.c_str(), d.GetAllocator()), d.GetAllocator());
  std::string whole = to_fhir_json(d);
  CHECK(whole.find(R"("value":1.10)") != std::string::npos);
  CHECK(whole.find(R"("valueString":"a\"b\\c\n\u0001é")") != std::string::npos);
  // Round trip through a standard parser.
  rapidjson::Document back;
  back.Parse(whole.c_str());
  REQUIRE_FALSE(back.HasParseError());
  CHECK(std::string(back["entry"][0]["resource"]["valueString"].GetString()) == "a\"b\\c\n\x01\xC3\xA9");

  std::string r0 = to_fhir_json(d["entry"][0]["resource"]);
  std::string r1 = to_fhir_json(d["entry"][1]["resource"]);
  rapidjson::StringBuffer sb;
  write_fhir_bundle(d, {r0, r1}, sb);
  CHECK(std::string(sb.GetString(), sb.GetSize()) == whole);
}
