#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include "pipeline/parse/hl7v2/message_structure.h"

using namespace dxnorm::hl7v2;

namespace {

std::string load_error(const std::string& yaml) {
  try {
    (void)StructureRegistry::from_yaml(yaml, "test.yaml");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "ok";
}

}  // namespace

TEST_CASE("builtin structures load and resolve") {
  const StructureRegistry& r = StructureRegistry::builtin();
  for (const char* id : {"ORU_R01", "ADT_A01", "ORM_O01", "OMI_O23", "OML_O21", "MDM_T02", "ACK"}) {
    CAPTURE(id);
    CHECK(r.find(id) != nullptr);
  }
  CHECK(r.find("NOPE_X01") == nullptr);
  CHECK(r.resolve("ORU", "R01", "") == "ORU_R01");
  CHECK(r.resolve("ADT", "A04", "") == "ADT_A01");
  CHECK(r.resolve("ADT", "A08", "") == "ADT_A01");
  CHECK(r.resolve("ADT", "A13", "") == "ADT_A01");
  CHECK(r.resolve("ADT", "A04", "ADT_A01") == "ADT_A01");
  CHECK(r.resolve("MDM", "T02", "") == "MDM_T02");
  CHECK(r.resolve("ACK", "", "") == "ACK");
  CHECK(r.resolve("ACK", "R01", "") == "ACK");
  CHECK(r.resolve("ORU", "R01", "ORU_R01") == "ORU_R01");
  CHECK(r.resolve("ORU", "R01", "BOGUS") == "ORU_R01");  // unknown MSH-9.3: fall back
  CHECK(r.resolve("SIU", "S12", "") == "");
  CHECK(r.resolve("", "", "") == "");
  CHECK(r.resolve(std::string(200, 'A'), "R01", "") == "");

  const GroupDef* oru = r.find("ORU_R01");
  REQUIRE(oru);
  CHECK(oru->items.front().segment == "MSH");
  const StructureItem& pr = oru->items[2];
  REQUIRE(pr.group);
  CHECK(pr.group->name == "PATIENT_RESULT");
  CHECK(pr.repeating);
  CHECK_FALSE(pr.optional);
}

TEST_CASE("from_yaml: a small definition") {
  auto r = StructureRegistry::from_yaml(R"(
structures:
  TST_T01:
    - MSH
    - GROUP*:
        - AAA
        - BBB?
events:
  TST^T02: TST_T01
)",
                                        "inline");
  const GroupDef* t = r->find("TST_T01");
  REQUIRE(t);
  REQUIRE(t->items.size() == 2);
  CHECK(t->items[1].group->name == "GROUP");
  CHECK(t->items[1].optional);
  CHECK(t->items[1].repeating);
  CHECK(t->items[1].group->items[1].optional);
  CHECK_FALSE(t->items[1].group->items[1].repeating);
  CHECK(r->resolve("TST", "T02", "") == "TST_T01");
}

TEST_CASE("from_yaml: malformed definitions throw with line:column") {
  CHECK(load_error("structures:\n  X_Y:\n    - MSH\n    - pid\n").find("test.yaml:4:") == 0);
  CHECK(load_error("structures:\n  X_Y:\n    - MSH\nunknown: 1\n").find("unknown key") != std::string::npos);
  CHECK(load_error("structures:\n  X_Y: []\n").find("non-empty") != std::string::npos);
  CHECK(load_error("structures:\n  X_Y:\n    - MSH\nevents:\n  A^B: NOPE\n").find("undefined structure") !=
        std::string::npos);
  CHECK(load_error("structures:\n  X_Y:\n    - {A: [MSH], B: [MSH]}\n").find("one-key") != std::string::npos);
  CHECK(load_error("structures: [\n").find("test.yaml:") == 0);
  CHECK(load_error("- a\n").find("top level") != std::string::npos);
}
