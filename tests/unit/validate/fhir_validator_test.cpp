#include "pipeline/validate/fhir_validator.h"

#include <doctest/doctest.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <ctime>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lab_bundle.h"

using dxnorm::Issues;
using dxnorm::validate::FhirValidator;
using dxnorm::testing::lab_bundle_json;
using dxnorm::testing::uuid;

namespace {

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

rapidjson::Document fixture(const std::string& name) {
  std::ifstream in(std::string(DXNORM_SOURCE_DIR) + "/tests/fixtures/fhir/" + name);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str());
}

void set(rapidjson::Document& d, const char* pointer, const std::string& json) {
  rapidjson::Document v(&d.GetAllocator());
  v.Parse(json.c_str());
  REQUIRE_FALSE(v.HasParseError());
  rapidjson::Pointer(pointer).Set(d, rapidjson::Value(v, d.GetAllocator()));
}

void erase(rapidjson::Document& d, const char* pointer) { REQUIRE(rapidjson::Pointer(pointer).Erase(d)); }

std::string dump(const Issues& issues) {
  std::string s;
  for (const auto& i : issues) s += "\n  " + i.code + " " + i.location + ": " + i.message;
  return s;
}

bool has(const Issues& issues, std::string_view code, std::string_view location) {
  for (const auto& i : issues) {
    if (i.code == code && i.location == location) return true;
  }
  return false;
}

// Makes equal strings of v (member names and values) share one address, as
// the map stage's output does: names and constants are StringRefs into its
// plan, and an entry's fullUrl and the references to it are one string. The
// validator may take a string it has already seen at the same address as
// already checked; the answers must be the same as for copies. `pool` must
// outlive v.
void share_strings(rapidjson::Value& v, std::set<std::string>& pool) {
  const auto shared = [&pool](const rapidjson::Value& s) {
    const std::string& text = *pool.emplace(s.GetString(), s.GetStringLength()).first;
    return rapidjson::Value(rapidjson::StringRef(text.data(), text.size()));
  };
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      m.name = shared(m.name);
      share_strings(m.value, pool);
    }
  } else if (v.IsArray()) {
    for (auto& x : v.GetArray()) share_strings(x, pool);
  } else if (v.IsString()) {
    v = shared(v);
  }
}

std::string render(const dxnorm::Status& st, const Issues& issues) {
  std::string s = st.ok() ? "OK" : st.error().location + ": " + st.error().message;
  return s + dump(issues);
}

std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return buf.GetString();
}

// One way of breaking the lab Bundle, and where the validator must say so.
struct Variant {
  const char* name;
  std::function<void(rapidjson::Document&)> mutate;
  const char* code;      // nullptr: still valid
  const char* location;
};

std::vector<Variant> variants() {
  return {
      {"valid", [](auto&) {}, nullptr, nullptr},
      {"relative-reference", [](auto& d) { set(d, "/entry/6/resource/subject/reference", R"("Patient/pat-1")"); },
       nullptr, nullptr},
      {"conditional-reference-in-transaction",
       [](auto& d) { set(d, "/entry/6/resource/subject/reference", R"("Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009")"); },
       nullptr, nullptr},
      {"extensions-and-narrative",
       [](auto& d) {
         set(d, "/entry/0/resource/extension",
             R"([{"url":"https://example.org/ext/a","valueString":"x"},{"url":"https://example.org/ext/b","extension":[{"url":"c","valueBoolean":true}]}])");
         set(d, "/entry/0/resource/modifierExtension", R"([{"url":"https://example.org/ext/m","valueCode":"y"}])");
         set(d, "/entry/0/resource/_birthDate", R"({"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1970-01-01T10:00:00Z"}]})");
         set(d, "/entry/0/resource/name/0/given", R"(["ALPHA",null])");
         set(d, "/entry/0/resource/name/0/_given", R"([null,{"extension":[{"url":"https://example.org/ext/g","valueString":"x"}]}])");
         set(d, "/entry/0/resource/text", R"({"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>Test</p></div>"})");
       },
       nullptr, nullptr},
      {"contained-referenced",
       [](auto& d) {
         set(d, "/entry/6/resource/contained", R"([{"resourceType":"Practitioner","id":"p1","name":[{"family":"X"}]}])");
         set(d, "/entry/6/resource/performer/0/reference", R"("#p1")");
       },
       nullptr, nullptr},
      {"component-with-value-and-data-absent",  // obs-6 is not defined on components in R4
       [](auto& d) {
         set(d, "/entry/6/resource/component",
             R"([{"code":{"text":"a"},"valueQuantity":{"value":1},"dataAbsentReason":{"text":"x"}}])");
       },
       nullptr, nullptr},
      {"data-absent-without-value",
       [](auto& d) {
         erase(d, "/entry/6/resource/valueQuantity");
         set(d, "/entry/6/resource/dataAbsentReason", R"({"text":"not performed"})");
       },
       nullptr, nullptr},

      {"unknown-resource-type", [](auto& d) { set(d, "/entry/0/resource/resourceType", R"("Patientx")"); },
       "FHIR_RESOURCE_TYPE", "Bundle.entry[0].resource"},
      {"unknown-element", [](auto& d) { set(d, "/entry/6/resource/valueQty", R"({"value":1})"); },
       "FHIR_UNKNOWN_ELEMENT", "Bundle.entry[6].resource.valueQty"},
      {"unknown-choice-type", [](auto& d) { set(d, "/entry/6/resource/effectiveDate", R"("2024-03-01")"); },
       "FHIR_UNKNOWN_ELEMENT", "Bundle.entry[6].resource.effectiveDate"},
      {"unknown-nested-element", [](auto& d) { set(d, "/entry/6/resource/referenceRange/0/lowest", R"({"value":1})"); },
       "FHIR_UNKNOWN_ELEMENT", "Bundle.entry[6].resource.referenceRange[0].lowest"},
      {"missing-required", [](auto& d) { erase(d, "/entry/6/resource/status"); }, "FHIR_CARDINALITY",
       "Bundle.entry[6].resource.status"},
      {"missing-required-nested", [](auto& d) { erase(d, "/entry/2/request/method"); }, "FHIR_CARDINALITY",
       "Bundle.entry[2].request.method"},
      {"array-for-single", [](auto& d) { set(d, "/entry/6/resource/subject", "[{\"reference\":\"" + uuid(1) + "\"}]"); },
       "FHIR_CARDINALITY", "Bundle.entry[6].resource.subject"},
      {"single-for-array", [](auto& d) { set(d, "/entry/6/resource/performer", "{\"reference\":\"" + uuid(2) + "\"}"); },
       "FHIR_CARDINALITY", "Bundle.entry[6].resource.performer"},
      {"two-choice-types", [](auto& d) { set(d, "/entry/6/resource/valueString", R"("13.1")"); }, "FHIR_CARDINALITY",
       "Bundle.entry[6].resource.valueString"},
      {"string-for-decimal", [](auto& d) { set(d, "/entry/6/resource/valueQuantity/value", R"("13.1")"); },
       "FHIR_TYPE", "Bundle.entry[6].resource.valueQuantity.value"},
      {"string-for-boolean", [](auto& d) { set(d, "/entry/0/resource/active", R"("true")"); }, "FHIR_TYPE",
       "Bundle.entry[0].resource.active"},
      {"number-for-string", [](auto& d) { set(d, "/entry/0/resource/name/0/family", "42"); }, "FHIR_TYPE",
       "Bundle.entry[0].resource.name[0].family"},
      {"string-for-object", [](auto& d) { set(d, "/entry/6/resource/code", R"("718-7")"); }, "FHIR_TYPE",
       "Bundle.entry[6].resource.code"},
      {"bad-dateTime", [](auto& d) { set(d, "/entry/6/resource/effectiveDateTime", R"("2024-03-01 09:30")"); },
       "FHIR_FORMAT", "Bundle.entry[6].resource.effectiveDateTime"},
      {"dateTime-without-zone", [](auto& d) { set(d, "/entry/6/resource/effectiveDateTime", R"("2024-03-01T09:30:00")"); },
       "FHIR_FORMAT", "Bundle.entry[6].resource.effectiveDateTime"},
      {"bad-instant", [](auto& d) { set(d, "/entry/5/resource/issued", R"("2024-03-01")"); }, "FHIR_FORMAT",
       "Bundle.entry[5].resource.issued"},
      {"bad-date", [](auto& d) { set(d, "/entry/0/resource/birthDate", R"("1970-13-01")"); }, "FHIR_FORMAT",
       "Bundle.entry[0].resource.birthDate"},
      {"bad-id", [](auto& d) { set(d, "/entry/3/resource/id", R"("sr_1")"); }, "FHIR_FORMAT",
       "Bundle.entry[3].resource.id"},
      {"bad-integer", [](auto& d) { set(d, "/entry/0/resource/multipleBirthInteger", "1.5"); }, "FHIR_FORMAT",
       "Bundle.entry[0].resource.multipleBirthInteger"},
      {"bad-code", [](auto& d) { set(d, "/entry/6/resource/code/coding/0/code", R"(" 718-7")"); }, "FHIR_FORMAT",
       "Bundle.entry[6].resource.code.coding[0].code"},
      {"bad-uri", [](auto& d) { set(d, "/entry/6/resource/code/coding/0/system", R"("http://loinc org")"); },
       "FHIR_FORMAT", "Bundle.entry[6].resource.code.coding[0].system"},
      {"code-not-in-value-set", [](auto& d) { set(d, "/entry/6/resource/status", R"("done")"); }, "FHIR_CODE",
       "Bundle.entry[6].resource.status"},
      {"http-verb-not-in-value-set", [](auto& d) { set(d, "/entry/0/request/method", R"("UPSERT")"); }, "FHIR_CODE",
       "Bundle.entry[0].request.method"},
      {"gender-not-in-value-set", [](auto& d) { set(d, "/entry/0/resource/gender", R"("F")"); }, "FHIR_CODE",
       "Bundle.entry[0].resource.gender"},
      {"empty-string", [](auto& d) { set(d, "/entry/0/resource/name/0/family", R"("")"); }, "FHIR_EMPTY",
       "Bundle.entry[0].resource.name[0].family"},
      {"empty-array", [](auto& d) { set(d, "/entry/0/resource/name/0/given", "[]"); }, "FHIR_EMPTY",
       "Bundle.entry[0].resource.name[0].given"},
      {"empty-object", [](auto& d) { set(d, "/entry/6/resource/valueQuantity", "{}"); }, "FHIR_EMPTY",
       "Bundle.entry[6].resource.valueQuantity"},
      {"null-value", [](auto& d) { set(d, "/entry/5/resource/issued", "null"); }, "FHIR_EMPTY",
       "Bundle.entry[5].resource.issued"},
      {"null-in-array", [](auto& d) { set(d, "/entry/0/resource/name/0/given", R"(["ALPHA",null])"); }, "FHIR_EMPTY",
       "Bundle.entry[0].resource.name[0].given[1]"},
      {"ele-1-only-id", [](auto& d) { set(d, "/entry/6/resource/method", R"({"id":"m1"})"); }, "FHIR_INVARIANT",
       "Bundle.entry[6].resource.method"},
      {"obs-6", [](auto& d) { set(d, "/entry/6/resource/dataAbsentReason", R"({"text":"x"})"); }, "FHIR_INVARIANT",
       "Bundle.entry[6].resource.dataAbsentReason"},
      {"obs-3", [](auto& d) { set(d, "/entry/6/resource/referenceRange/0", R"({"type":{"text":"normal"}})"); },
       "FHIR_INVARIANT", "Bundle.entry[6].resource.referenceRange[0]"},
      {"extension-without-url", [](auto& d) { set(d, "/entry/0/resource/extension", R"([{"valueString":"x"}])"); },
       "FHIR_CARDINALITY", "Bundle.entry[0].resource.extension[0].url"},
      {"ext-1", [](auto& d) {
         set(d, "/entry/0/resource/extension", R"([{"url":"https://example.org/e","valueString":"x","extension":[{"url":"a","valueString":"y"}]}])");
       },
       "FHIR_INVARIANT", "Bundle.entry[0].resource.extension[0].extension"},
      {"bad-xhtml", [](auto& d) { set(d, "/entry/0/resource/text", R"({"status":"generated","div":"plain text"})"); },
       "FHIR_FORMAT", "Bundle.entry[0].resource.text.div"},
      {"primitive-extension-on-complex", [](auto& d) { set(d, "/entry/6/resource/_code", R"({"id":"x"})"); },
       "FHIR_UNKNOWN_ELEMENT", "Bundle.entry[6].resource._code"},
      {"missing-fullUrl", [](auto& d) { erase(d, "/entry/2/fullUrl"); }, "FHIR_BUNDLE_ENTRY", "Bundle.entry[2]"},
      {"bad-fullUrl", [](auto& d) { set(d, "/entry/2/fullUrl", R"("urn:uuid:not-a-uuid")"); }, "FHIR_BUNDLE_ENTRY",
       "Bundle.entry[2].fullUrl"},
      {"duplicate-fullUrl", [](auto& d) { set(d, "/entry/2/fullUrl", "\"" + uuid(2) + "\""); }, "FHIR_INVARIANT",
       "Bundle.entry[2].fullUrl"},
      {"missing-request", [](auto& d) { erase(d, "/entry/2/request"); }, "FHIR_INVARIANT", "Bundle.entry[2]"},
      {"missing-request-url", [](auto& d) { erase(d, "/entry/2/request/url"); }, "FHIR_CARDINALITY",
       "Bundle.entry[2].request.url"},
      {"put-url-wrong-id", [](auto& d) { set(d, "/entry/2/request/url", R"("Practitioner/prac-2")"); },
       "FHIR_BUNDLE_ENTRY", "Bundle.entry[2].request.url"},
      {"put-url-wrong-type", [](auto& d) { set(d, "/entry/2/request/url", R"("Patient/prac-1")"); },
       "FHIR_BUNDLE_ENTRY", "Bundle.entry[2].request.url"},
      {"urn-uuid-unresolved", [](auto& d) { set(d, "/entry/6/resource/subject/reference", "\"" + uuid(999) + "\""); },
       "FHIR_REFERENCE_UNRESOLVED", "Bundle.entry[6].resource.subject.reference"},
      {"relative-unresolved", [](auto& d) { set(d, "/entry/6/resource/subject/reference", R"("Patient/pat-9")"); },
       "FHIR_REFERENCE_UNRESOLVED", "Bundle.entry[6].resource.subject.reference"},
      {"wrong-target-type", [](auto& d) { set(d, "/entry/6/resource/subject/reference", "\"" + uuid(2) + "\""); },
       "FHIR_REFERENCE_TARGET", "Bundle.entry[6].resource.subject.reference"},
      {"wrong-relative-target-type",
       [](auto& d) { set(d, "/entry/5/resource/result/0/reference", R"("Patient/pat-1")"); }, "FHIR_REFERENCE_TARGET",
       "Bundle.entry[5].resource.result[0].reference"},
      {"malformed-reference", [](auto& d) { set(d, "/entry/6/resource/subject/reference", R"("patient 1")"); },
       "FHIR_REFERENCE", "Bundle.entry[6].resource.subject.reference"},
      {"conditional-reference-in-collection",
       [](auto& d) {
         set(d, "/type", R"("collection")");
         for (rapidjson::SizeType i = 0; i < d["entry"].Size(); ++i) d["entry"][i].RemoveMember("request");
         set(d, "/entry/6/resource/subject/reference", R"("Patient?identifier=x")");
       },
       "FHIR_REFERENCE", "Bundle.entry[6].resource.subject.reference"},
      {"contained-unreferenced",
       [](auto& d) { set(d, "/entry/6/resource/contained", R"([{"resourceType":"Practitioner","id":"p1"}])"); },
       "FHIR_INVARIANT", "Bundle.entry[6].resource.contained[0]"},
      {"contained-reference-unresolved", [](auto& d) { set(d, "/entry/6/resource/performer/0/reference", R"("#p9")"); },
       "FHIR_REFERENCE_UNRESOLVED", "Bundle.entry[6].resource.performer[0].reference"},
      {"contained-nested",
       [](auto& d) {
         set(d, "/entry/6/resource/contained",
             R"([{"resourceType":"Practitioner","id":"p1","contained":[{"resourceType":"Organization","id":"o1"}]}])");
         set(d, "/entry/6/resource/performer/0/reference", R"("#p1")");
       },
       "FHIR_INVARIANT", "Bundle.entry[6].resource.contained[0].contained"},
  };
}

}  // namespace

TEST_CASE("official R4 examples pass") {
  const FhirValidator v;
  for (const char* name : {"observation-example-f001-glucose.json", "patient-example.json",
                           "servicerequest-example-lipid.json", "specimen-example-isolate.json",
                           "imagingstudy-example-xr.json"}) {
    CAPTURE(name);
    auto d = fixture(name);
    Issues issues;
    const auto st = v.validate_resource(d, d["resourceType"].GetString(), issues);
    CHECK_MESSAGE(st.ok(), dump(issues));
    CHECK(issues.empty());
  }
}

TEST_CASE("official example Bundle: relative references outside it are a policy") {
  auto d = fixture("diagnosticreport-example-f202-bloodculture.json");
  Issues issues;
  FhirValidator::Options lenient;
  lenient.require_local_references = false;
  const auto ok = FhirValidator(dxnorm::fhir::FhirSchema::builtin(), lenient).validate_bundle(d, issues);
  CHECK_MESSAGE(ok.ok(), dump(issues));

  issues.clear();
  const auto strict = FhirValidator().validate_bundle(d, issues);
  REQUIRE_FALSE(strict.ok());
  CHECK(has(issues, "FHIR_REFERENCE_UNRESOLVED", "Bundle.entry[0].resource.subject.reference"));
}

TEST_CASE("the lab Bundle is valid, and each way of breaking it is reported at its path") {
  const FhirValidator v;
  for (const auto& var : variants()) {
    CAPTURE(var.name);
    auto d = parse(lab_bundle_json());
    var.mutate(d);
    Issues issues;
    const auto st = v.validate_bundle(d, issues);
    if (!var.code) {
      CHECK_MESSAGE(st.ok(), dump(issues));
      continue;
    }
    REQUIRE_MESSAGE(!st.ok(), var.name);
    CHECK_MESSAGE(has(issues, var.code, var.location), dump(issues));
    CHECK(st.error().code == dxnorm::StatusCode::kInvalidInput);
    CHECK(st.error().stage == dxnorm::Stage::kValidate);
    CHECK(st.error().error_code == "FHIR_INVALID");
    CHECK(st.error().location == issues.front().location);
    for (const auto& i : issues) CHECK(i.severity == dxnorm::Severity::kError);
  }
}

TEST_CASE("messages name the rule and the path, not the value") {
  const FhirValidator v;
  auto d = parse(lab_bundle_json(1));
  set(d, "/entry/0/resource/birthDate", R"("1970-02-3x")");
  set(d, "/entry/0/resource/name/0/family", R"("O'HARA  ")");
  set(d, "/entry/6/resource/status", R"("SECRETVALUE")");
  Issues issues;
  REQUIRE_FALSE(v.validate_bundle(d, issues).ok());
  REQUIRE(issues.size() == 2);
  for (const auto& i : issues) {
    CHECK(i.message.find("1970") == std::string::npos);
    CHECK(i.message.find("SECRETVALUE") == std::string::npos);
  }
  CHECK(issues[0].message == "not a valid date");
  CHECK(issues[1].message.find("http://hl7.org/fhir/ValueSet/observation-status") != std::string::npos);
  CHECK(issues[1].message.find("final") != std::string::npos);  // allowed codes are FHIR's, not patient data
}

TEST_CASE("relative-reference policy can be relaxed") {
  auto d = parse(lab_bundle_json(1));
  set(d, "/entry/6/resource/subject/reference", R"("Patient/elsewhere")");
  FhirValidator::Options lenient;
  lenient.require_local_references = false;
  Issues issues;
  CHECK(FhirValidator(dxnorm::fhir::FhirSchema::builtin(), lenient).validate_bundle(d, issues).ok());
  set(d, "/entry/6/resource/subject/reference", R"("Practitioner/elsewhere")");
  CHECK_FALSE(FhirValidator(dxnorm::fhir::FhirSchema::builtin(), lenient).validate_bundle(d, issues).ok());
  CHECK(has(issues, "FHIR_REFERENCE_TARGET", "Bundle.entry[6].resource.subject.reference"));
}

TEST_CASE("validate_bundle and validate_resource on odd input") {
  const FhirValidator v;
  Issues issues;
  auto obs = parse(R"({"resourceType":"Observation","status":"final","code":{"text":"x"}})");
  CHECK_FALSE(v.validate_bundle(obs, issues).ok());
  CHECK(has(issues, "FHIR_RESOURCE_TYPE", "Bundle"));

  issues.clear();
  CHECK(v.validate_resource(obs, "Observation", issues).ok());

  issues.clear();
  auto arr = parse("[]");
  CHECK_FALSE(v.validate_resource(arr, "X", issues).ok());
  CHECK(has(issues, "FHIR_TYPE", "X"));

  issues.clear();
  auto no_type = parse(R"({"id":"a"})");
  CHECK_FALSE(v.validate_resource(no_type, "X", issues).ok());
  CHECK(has(issues, "FHIR_RESOURCE_TYPE", "X"));

  issues.clear();  // a urn:uuid reference outside a Bundle cannot resolve
  auto lone = parse(R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":")" +
                    uuid(1) + "\"}}");
  CHECK_FALSE(v.validate_resource(lone, "Observation", issues).ok());
  CHECK(has(issues, "FHIR_REFERENCE_UNRESOLVED", "Observation.subject.reference"));

  issues.clear();  // message Bundles start with a MessageHeader
  auto msg = parse(R"({"resourceType":"Bundle","type":"message","entry":[{"fullUrl":")" + uuid(1) +
                   R"(","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"}}}]})");
  CHECK_FALSE(v.validate_bundle(msg, issues).ok());
  CHECK(has(issues, "FHIR_INVARIANT", "Bundle"));
}

// Writes every variant to $DXNORM_VALIDATE_DUMP/<name>.json with our verdict,
// for a by-hand comparison with an independent validator. Not run by ctest.
TEST_CASE("dump variants for cross-checking" * doctest::skip()) {
  const char* dir = std::getenv("DXNORM_VALIDATE_DUMP");
  REQUIRE(dir);
  const FhirValidator v;
  for (const auto& var : variants()) {
    auto d = parse(lab_bundle_json(2));
    var.mutate(d);
    std::ofstream(std::string(dir) + "/" + var.name + ".json") << to_json(d) << "\n";
    Issues issues;
    const bool ok = v.validate_bundle(d, issues).ok();
    std::cout << (ok ? "valid   " : "invalid ") << var.name << (ok ? "" : dump(issues)) << "\n";
  }
}

// Measures the per-message cost on a 14-result report (20 entries), in
// process CPU time so that a busy machine inflates it less.
// Run with: validate_tests --no-skip -tc="*timing*"
TEST_CASE("timing: 14-result lab Bundle" * doctest::skip()) {
  const FhirValidator v;
  auto d = parse(lab_bundle_json(14));
  const char* runs_env = std::getenv("DXNORM_TIMING_RUNS");
  const int runs = runs_env ? std::atoi(runs_env) : 20000;
  Issues issues;
  int failures = 0;
  const std::clock_t c0 = std::clock();
  for (int i = 0; i < runs; ++i) {
    issues.clear();
    failures += !v.validate_bundle(d, issues).ok();
  }
  const std::clock_t c1 = std::clock();
  CHECK(failures == 0);
  const double us = 1e6 * static_cast<double>(c1 - c0) / CLOCKS_PER_SEC / runs;
  std::cout << "validate_bundle, 14 results / 20 entries: " << us << " us CPU per Bundle\n";
}

TEST_CASE("a relative reference Type/<uuid> may name a resource of another message; other ids may not") {
  const FhirValidator v;
  auto d = parse(lab_bundle_json());
  set(d, "/entry/6/resource/subject/reference", R"("Patient/0b6d3c9e-8a4f-5e21-9c3d-1f2e3a4b5c6d")");
  Issues issues;
  CHECK_MESSAGE(v.validate_bundle(d, issues).ok(), dump(issues));
  // The target type is still checked.
  set(d, "/entry/6/resource/subject/reference", R"("Organization/0b6d3c9e-8a4f-5e21-9c3d-1f2e3a4b5c6d")");
  issues.clear();
  CHECK_FALSE(v.validate_bundle(d, issues).ok());
  // Off: strict again.
  FhirValidator::Options strict;
  strict.allow_external_uuid_references = false;
  set(d, "/entry/6/resource/subject/reference", R"("Patient/0b6d3c9e-8a4f-5e21-9c3d-1f2e3a4b5c6d")");
  issues.clear();
  CHECK_FALSE(FhirValidator(dxnorm::fhir::FhirSchema::builtin(), strict).validate_bundle(d, issues).ok());
}

TEST_CASE("strings shared between values, as the map stage writes them, get the answers their copies get") {
  const FhirValidator v;
  std::vector<Variant> cases = variants();
  // References that share their string with an entry's fullUrl (or with
  // each other) but are wrong in another way: a target type the element
  // does not allow, a fullUrl given twice (bdl-7; a reference resolves to
  // the first entry), a reference to the second of two equal fullUrls.
  cases.push_back({"shared-reference-wrong-target",
                   [](auto& d) { set(d, "/entry/6/resource/subject/reference", "\"" + uuid(2) + "\""); }, nullptr, nullptr});
  cases.push_back({"shared-duplicate-fullUrl",
                   [](auto& d) { set(d, "/entry/2/fullUrl", "\"" + uuid(1) + "\""); }, nullptr, nullptr});
  cases.push_back({"shared-duplicate-fullUrl-other-type",
                   [](auto& d) {
                     set(d, "/entry/0/fullUrl", "\"" + uuid(2) + "\"");
                     set(d, "/entry/6/resource/performer/0/reference", "\"" + uuid(2) + "\"");
                   },
                   nullptr, nullptr});
  cases.push_back({"shared-reference-unresolved",
                   [](auto& d) { set(d, "/entry/6/resource/subject/reference", "\"" + uuid(99) + "\""); }, nullptr, nullptr});
  for (const auto& var : cases) {
    CAPTURE(var.name);
    auto copied = parse(lab_bundle_json(3));
    var.mutate(copied);
    auto shared = parse(lab_bundle_json(3));
    var.mutate(shared);
    std::set<std::string> pool;
    share_strings(shared, pool);
    Issues copied_issues, shared_issues;
    const auto copied_status = v.validate_bundle(copied, copied_issues);
    const auto shared_status = v.validate_bundle(shared, shared_issues);
    CHECK(render(shared_status, shared_issues) == render(copied_status, copied_issues));
    if (var.code) CHECK_FALSE(shared_status.ok());
  }
}
