// A realistic dxnorm-shaped lab result: a transaction Bundle with Patient,
// Organization, Practitioner, ServiceRequest, Specimen, DiagnosticReport and
// `results` Observations (14 gives 20 entries, like a full blood count).
// All identifiers are synthetic. Entry order is fixed so tests can address
// entries by index:
//   0 Patient, 1 Organization, 2 Practitioner, 3 ServiceRequest,
//   4 Specimen, 5 DiagnosticReport, 6.. Observations.
#pragma once

#include <rapidjson/document.h>

#include <cstdio>
#include <string>

namespace dxnorm::testing {

inline std::string uuid(int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "urn:uuid:6f1c2a4e-0000-4000-8000-%012d", n);
  return buf;
}

inline std::string lab_bundle_json(int results = 14) {
  auto entry = [](int n, const std::string& type, const std::string& id, const std::string& body) {
    return R"({"fullUrl":")" + uuid(n) + R"(","resource":{"resourceType":")" + type + R"(","id":")" + id + "\"," +
           body + R"(},"request":{"method":"PUT","url":")" + type + "/" + id + "\"}}";
  };
  std::string s = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  s += entry(1, "Patient", "pat-1",
             R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number","value":"9000000009"}],)"
             R"("name":[{"family":"TESTPATIENT","given":["ALPHA"]}],"gender":"female","birthDate":"1970-01-01")");
  s += ',';
  s += entry(2, "Organization", "org-1",
             R"("identifier":[{"system":"https://fhir.nhs.uk/Id/ods-organization-code","value":"RX1"}],"name":"Test Pathology")");
  s += ',';
  s += entry(3, "Practitioner", "prac-1", R"("name":[{"family":"TESTDOCTOR","prefix":["Dr"]}])");
  s += ',';
  s += entry(4, "ServiceRequest", "sr-1",
             R"("status":"active","intent":"order","code":{"coding":[{"system":"http://snomed.info/sct","code":"26604007","display":"Full blood count"}]},)"
             R"("subject":{"reference":")" + uuid(1) + R"("},"requester":{"reference":")" + uuid(3) + R"("})");
  s += ',';
  s += entry(5, "Specimen", "spec-1",
             R"("status":"available","type":{"text":"Blood"},"subject":{"reference":")" + uuid(1) +
                 R"("},"collection":{"collectedDateTime":"2024-03-01T09:30:00+00:00"})");
  s += ',';
  std::string result_refs;
  for (int i = 0; i < results; ++i) {
    if (i) result_refs += ',';
    result_refs += R"({"reference":")" + uuid(100 + i) + "\"}";
  }
  s += entry(6, "DiagnosticReport", "dr-1",
             R"("status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0074","code":"HM"}]}],)"
             R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"26604007"}]},"subject":{"reference":")" +
                 uuid(1) + R"("},"effectiveDateTime":"2024-03-01T09:30:00+00:00","issued":"2024-03-01T12:00:00.000+00:00",)"
                 R"("performer":[{"reference":")" + uuid(2) + R"("}],"basedOn":[{"reference":")" + uuid(4) +
                 R"("}],"specimen":[{"reference":")" + uuid(5) + R"("}],"result":[)" + result_refs + "]");
  for (int i = 0; i < results; ++i) {
    s += ',';
    s += entry(100 + i, "Observation", "obs-" + std::to_string(i),
               R"("status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],)"
               R"("code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin"}]},)"
               R"("subject":{"reference":")" + uuid(1) + R"("},"effectiveDateTime":"2024-03-01T09:30:00+00:00",)"
               R"("valueQuantity":{"value":13.)" + std::to_string(i) +
                   R"(,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},)"
                   R"("interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"N"}]}],)"
                   R"("referenceRange":[{"low":{"value":12,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},)"
                   R"("high":{"value":16,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"}}],)"
                   R"("specimen":{"reference":")" + uuid(5) + R"("},"performer":[{"reference":")" + uuid(2) + R"("}])");
  }
  s += "]}";
  return s;
}

}  // namespace dxnorm::testing
