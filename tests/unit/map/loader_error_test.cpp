// Load-time errors: every problem reported at once, each with
// file:line:column, and the mapping rejected.
#include <doctest/doctest.h>

#include <string>

#include "tests/unit/map/map_test_util.h"

using namespace dxnorm::map;
using namespace dxnorm::map::test;

namespace {

// Loads `text` as m.yaml; returns the diagnostics as text (one per line).
std::string load_errors(MapDir& dir, const std::string& text, bool expect_null = true) {
  dir.load_tables();
  dir.write("m.yaml", text);
  auto m = dir.load("m.yaml");
  CHECK((m == nullptr) == expect_null);
  return dir.diags.to_string();
}

bool has_line(const std::string& diags, const std::string& needle) {
  if (diags.find(needle) != std::string::npos) return true;
  MESSAGE("not found: " << needle << "\nin:\n" << diags);
  return false;
}

const char* kHead = "mapping: t\nversion: '1'\ninput: {format: hl7v2, messages: [ORU^R01]}\n";

}  // namespace

TEST_CASE("unknown FHIR element, unknown key and wrong shapes, all reported with file:line:column") {
  MapDir dir;
  std::string d = load_errors(dir, std::string(kHead) +
                                       "resources:\n"                          // 4
                                       "  - name: obs\n"                       // 5
                                       "    type: Observation\n"               // 6
                                       "    id: [OBX-1]\n"                     // 7
                                       "    colour: red\n"                     // 8
                                       "    fields:\n"                         // 9
                                       "      status: final\n"                 // 10
                                       "      code: {text: x}\n"               // 11
                                       "      valu: \"= OBX-5\"\n"             // 12
                                       "      value: \"= OBX-5\"\n"            // 13
                                       "      category: [x]\n"                 // 14
                                       "      $frobnicate: 1\n");              // 15
  std::string f = dir.path().string() + "/m.yaml:";
  CHECK(has_line(d, f + "8:5: error: unknown key 'colour' in resource"));
  CHECK(has_line(d, f + "12:7: error: unknown FHIR element 'valu' in Observation"));
  CHECK(has_line(d, f + "13:7: error: 'value' is a choice: name the type, e.g. valueString"));
  CHECK(has_line(d, f + "15:7: error: unknown directive '$frobnicate'"));
  CHECK(has_line(d, f + "14:18: error: this element is a CodeableConcept: give its elements as a map"));
}

TEST_CASE("unknown top-level key, missing parts, unknown resource type") {
  MapDir dir;
  std::string d = load_errors(dir, "mapping: t\nversoin: '1'\ninput: {format: hl7v2, messages: [ORU^R01]}\n"
                                   "resources:\n  - name: x\n    type: Observbation\n    id: [OBX-1]\n    fields: {status: final}\n");
  std::string f = dir.path().string() + "/m.yaml:";
  CHECK(has_line(d, f + "2:1: error: unknown key 'versoin'"));
  CHECK(has_line(d, "error: missing 'version'"));
  CHECK(has_line(d, f + "6:11: error: unknown FHIR resource type 'Observbation'"));
}

TEST_CASE("expression errors point into the expression: unknown function, unknown table, bad path") {
  MapDir dir;
  std::string d = load_errors(dir, std::string(kHead) +
                                       "resources:\n"
                                       "  - name: obs\n"
                                       "    type: Observation\n"
                                       "    id: [OBX-1]\n"
                                       "    fields:\n"
                                       "      status: \"= OBX-11 | mapp('t-keep')\"\n"      // 9
                                       "      code: {text: \"= OBX-3 | map('nope')\"}\n"    // 10
                                       "      valueString: \"= OBX-5(x)\"\n"                // 11
                                       "      issued: \"= OBX-14 | instant(\"\n");          // 12
  std::string f = dir.path().string() + "/m.yaml:";
  // Column of the error inside the quoted scalar: 1-based column of the
  // scalar + 1 for the quote + the offset in the expression (after '=').
  CHECK(has_line(d, f + "9:"));
  CHECK(has_line(d, "unknown function 'mapp' (known: date, dateTime"));
  CHECK(has_line(d, f + "10:"));
  CHECK(has_line(d, "unknown code table 'nope'"));
  CHECK(has_line(d, f + "11:"));
  CHECK(has_line(d, "OBX-5(x)': unexpected '('"));
  CHECK(has_line(d, f + "12:"));
}

TEST_CASE("segment not in the message structure, unknown group, $ref to an unknown resource, wrong fragment type") {
  MapDir dir;
  std::string d = load_errors(dir, std::string(kHead) +
                                       "fragments:\n"                                   // 4
                                       "  Name:\n"                                      // 5
                                       "    type: HumanName\n"                          // 6
                                       "    template: {family: \"= .1\"}\n"             // 7
                                       "resources:\n"                                   // 8
                                       "  - name: obs\n"                                // 9
                                       "    type: Observation\n"                        // 10
                                       "    for: PATIENT_RESULT.ORDER_OBSERVATIONS\n"   // 11
                                       "    id: [OBX-1]\n"                              // 12
                                       "    fields:\n"                                  // 13
                                       "      status: \"= EVN-1\"\n"                    // 14
                                       "      code: {$use: Name}\n"                     // 15
                                       "      subject: {$ref: patient}\n"               // 16
                                       "      valueString: \"= ZXY-1\"\n");             // 17
  std::string f = dir.path().string() + "/m.yaml:";
  CHECK(has_line(d, f + "11:10: error: group ORDER_OBSERVATIONS does not exist in message structure ORU_R01"));
  CHECK(has_line(d, f + "14:"));
  CHECK(has_line(d, "segment EVN cannot occur in message structure ORU_R01"));
  CHECK(has_line(d, f + "15:20: error: fragment 'Name' makes a HumanName, but this element is a CodeableConcept"));
  CHECK(has_line(d, f + "16:23: error: $ref to 'patient', a resource this mapping never creates"));
  // Z-segments are vendor-defined: accepted anywhere.
  CHECK(d.find("ZXY") == std::string::npos);
}

TEST_CASE("$ref outside a Reference, $translate outside a CodeableConcept, $switch without on, duplicate case") {
  MapDir dir;
  std::string d = load_errors(dir, std::string(kHead) +
                                       "resources:\n"
                                       "  - name: obs\n"
                                       "    type: Observation\n"
                                       "    id: [OBX-1]\n"
                                       "    fields:\n"
                                       "      status: {$switch: {cases: {F: final, \"F, C\": final}}}\n"
                                       "      code: {$ref: obs}\n"
                                       "      valueQuantity: {$translate: t-keep}\n");
  CHECK(has_line(d, "error: $switch needs 'on'"));
  CHECK(has_line(d, "error: case 'F' appears twice in this $switch"));
  CHECK(has_line(d, "error: $ref makes a Reference, but this element is a CodeableConcept"));
  CHECK(has_line(d, "error: $translate makes a CodeableConcept, but this element is a Quantity"));
}

TEST_CASE("a valid mapping loads without errors") {
  MapDir dir;
  std::string d = load_errors(dir, std::string(kHead) +
                                       "resources:\n  - name: obs\n    type: Observation\n"
                                       "    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION\n    id: [OBX-1]\n"
                                       "    fields: {status: final, code: {text: \"= OBX-3.2\"}}\n",
                              false);
  CHECK(d.empty());
}
