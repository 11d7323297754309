#include "pipeline/core/fhir_schema.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <stdexcept>

using dxnorm::fhir::ElementDef;
using dxnorm::fhir::FhirSchema;
using dxnorm::fhir::TypeDef;

namespace {
bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}
}  // namespace

TEST_CASE("builtin schema knows the resources dxnorm emits") {
  const FhirSchema& s = FhirSchema::builtin();
  for (const char* r : {"Bundle", "Patient", "DiagnosticReport", "Observation", "Specimen", "ServiceRequest",
                        "Practitioner", "PractitionerRole", "Organization", "ImagingStudy", "Endpoint",
                        "Encounter", "Location", "Provenance", "MessageHeader", "DocumentReference",
                        "OperationOutcome", "RelatedPerson", "Device"}) {
    CAPTURE(r);
    CHECK(s.is_resource(r));
  }
  CHECK_FALSE(s.is_resource("Quantity"));
  CHECK_FALSE(s.is_resource("NoSuchThing"));
  CHECK(s.is_primitive("dateTime"));
  CHECK(s.is_primitive("positiveInt"));
  CHECK_FALSE(s.is_primitive("Quantity"));
  CHECK(s.source().find("4.0.1") != std::string::npos);
  CHECK(&FhirSchema::builtin() == &s);  // parsed once
}

TEST_CASE("elements: cardinality, types, targets, required codes") {
  const FhirSchema& s = FhirSchema::builtin();
  const TypeDef* obs = s.type("Observation");
  REQUIRE(obs);
  CHECK(obs->kind == TypeDef::Kind::kResource);

  const ElementDef* status = obs->find("status");
  REQUIRE(status);
  CHECK(status->min == 1);
  CHECK(status->max == 1);
  CHECK(status->types == std::vector<std::string>{"code"});
  CHECK(contains(status->required_codes, "final"));
  CHECK(contains(status->required_codes, "entered-in-error"));
  CHECK_FALSE(contains(status->required_codes, "done"));

  const ElementDef* subject = obs->find("subject");
  REQUIRE(subject);
  CHECK(contains(subject->target_profiles, "Patient"));
  CHECK(contains(subject->target_profiles, "Group"));
  CHECK_FALSE(contains(subject->target_profiles, "Practitioner"));

  const ElementDef* performer = obs->find("performer");
  REQUIRE(performer);
  CHECK(performer->max == ElementDef::kUnbounded);

  const ElementDef* id = obs->find("id");
  REQUIRE(id);
  CHECK(id->types == std::vector<std::string>{"id"});

  CHECK(obs->find("resourceType") == nullptr);
  CHECK(obs->find("valueFoo") == nullptr);
  CHECK(obs->find("value") == nullptr);
}

TEST_CASE("choice elements resolve with the capitalised type suffix") {
  const FhirSchema& s = FhirSchema::builtin();
  const TypeDef* obs = s.type("Observation");
  REQUIRE(obs);
  std::string choice;
  const ElementDef* v = obs->find("valueQuantity", &choice);
  REQUIRE(v);
  CHECK(v->name == "value[x]");
  CHECK(v->is_choice());
  CHECK(choice == "Quantity");
  CHECK(obs->find("valueString", &choice) == v);
  CHECK(choice == "string");
  CHECK(obs->find("valueDateTime", &choice) == v);
  CHECK(choice == "dateTime");
  CHECK(obs->find("effectiveInstant", &choice)->name == "effective[x]");
  CHECK(choice == "instant");
  CHECK(obs->find("valuedateTime") == nullptr);  // suffix must be capitalised
  CHECK(obs->find("valueInstant") == nullptr);   // not among value[x]'s types

  std::size_t index = 99;
  const ElementDef* e = obs->resolve("valueCodeableConcept", &index);
  REQUIRE(e);
  REQUIRE(index < e->type_defs.size());
  REQUIRE(e->type_defs[index]);
  CHECK(e->type_defs[index]->name == "CodeableConcept");
  CHECK(obs->find("status", &choice) == obs->find("status"));
  CHECK(choice.empty());
}

TEST_CASE("backbone elements and contentReference") {
  const FhirSchema& s = FhirSchema::builtin();
  const TypeDef* rr = s.type("Observation.referenceRange");
  REQUIRE(rr);
  CHECK(rr->kind == TypeDef::Kind::kBackbone);
  CHECK(rr->find("low"));
  CHECK(rr->find("modifierExtension"));

  const ElementDef* comp = s.type("Observation")->find("component");
  REQUIRE(comp);
  REQUIRE(comp->backbone);
  CHECK(comp->backbone->name == "Observation.component");
  const ElementDef* crr = comp->backbone->find("referenceRange");
  REQUIRE(crr);
  CHECK(crr->backbone == rr);
  CHECK(crr->types == std::vector<std::string>{"BackboneElement"});

  const TypeDef* req = s.type("Bundle.entry.request");
  REQUIRE(req);
  CHECK(req->find("method")->min == 1);
  CHECK(contains(req->find("method")->required_codes, "PUT"));
  const ElementDef* entry_link = s.type("Bundle.entry")->find("link");
  REQUIRE(entry_link);
  CHECK(entry_link->backbone == s.type("Bundle.link"));

  const TypeDef* repeat = s.type("Timing.repeat");  // datatype backbone (type Element)
  REQUIRE(repeat);
  CHECK(repeat->find("boundsPeriod"));
}

TEST_CASE("primitives carry JSON kind and regex") {
  const FhirSchema& s = FhirSchema::builtin();
  CHECK(s.type("boolean")->json == TypeDef::Json::kBoolean);
  CHECK(s.type("decimal")->json == TypeDef::Json::kNumber);
  CHECK(s.type("positiveInt")->json == TypeDef::Json::kNumber);
  CHECK(s.type("dateTime")->json == TypeDef::Json::kString);
  CHECK(s.type("Quantity")->json == TypeDef::Json::kObject);
  CHECK(s.primitive_regex("id") == R"([A-Za-z0-9\-\.]{1,64})");
  CHECK(s.primitive_regex("dateTime").starts_with("([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"));
  CHECK(s.primitive_regex("xhtml").empty());
  CHECK(s.primitive_regex("Quantity").empty());
  CHECK(s.type("Observation")->index < s.type_count());
}

TEST_CASE("from_json rejects malformed definitions") {
  CHECK_THROWS_AS(FhirSchema::from_json("{"), std::runtime_error);
  CHECK_THROWS_AS(FhirSchema::from_json("[]"), std::runtime_error);
  CHECK_THROWS_AS(FhirSchema::from_json(R"({"types":[{"name":"X","kind":"weird","elements":[]}]})"),
                  std::runtime_error);
  CHECK_THROWS_AS(
      FhirSchema::from_json(R"({"types":[{"name":"X","kind":"complex","elements":[{"name":"a","types":["string"],"valueSet":"urn:nope"}]}]})"),
      std::runtime_error);
  CHECK_THROWS_AS(
      FhirSchema::from_json(R"({"types":[{"name":"X","kind":"complex","elements":[{"name":"a","contentReference":"Y.b"}]}]})"),
      std::runtime_error);
  auto tiny = FhirSchema::from_json(
      R"({"primitives":{"string":{"json":"string"}},"valueSets":{"u":["a","b"]},"types":[{"name":"string","kind":"primitive","elements":[]},)"
      R"({"name":"X","kind":"resource","elements":[{"name":"a","min":1,"max":"*","types":["string"],"valueSet":"u"}]}]})");
  REQUIRE(tiny->type("X"));
  CHECK(tiny->is_resource("X"));
  CHECK(tiny->type("X")->find("a")->max == ElementDef::kUnbounded);
  CHECK(tiny->type("X")->find("a")->required_codes.size() == 2);
  CHECK(tiny->type("X")->find("a")->type_defs[0] == tiny->type("string"));
}
