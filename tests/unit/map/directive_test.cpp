// Template directives: $if, $value, $switch, $each, $use, $ref (nearest and
// where/equals, all), $translate with each unmapped policy; resources: for,
// when, id keys (deterministic), on-duplicate-id; code table duplicates.
#include <doctest/doctest.h>

#include <string>

#include <algorithm>
#include <vector>

#include "pipeline/map/mapping_engine.h"
#include "pipeline/map/resource_id.h"
#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "tests/unit/map/map_test_util.h"

using namespace dxnorm::map;
using namespace dxnorm::map::test;

namespace {

const char* kHeader = "mapping: t\nversion: '1'\ninput: {format: hl7v2, messages: [ORU^R01]}\n";

std::unique_ptr<CompiledMapping> load(MapDir& dir, const std::string& body) {
  dir.load_tables();
  dir.write("m.yaml", std::string(kHeader) + body);
  return dir.load("m.yaml");
}

std::string s(const rapidjson::Value& v) { return v.IsString() ? v.GetString() : std::string("<not a string>"); }

// A micro report: culture order FI1 with organism OBX-3 ORG sub-id 1;
// susceptibility order FI2 whose OBR-26 / OBR-29 point to that organism.
const char* kMicro =
    "MSH|^~\\&|LAB|FAC|RCV|RFAC|20240115103000||ORU^R01^ORU_R01|CTRL3|P|2.5.1\r"
    "PID|1||12345^^^HOSP^MR||DOE^JANE\r"
    "OBR|1|PL1|FI1|CULT^Culture^L\r"
    "OBX|1|CWE|ORG^Organism^L|1|STAU^Staphylococcus aureus^L||||||F\r"
    "OBR|2|PL2|FI2|SUSC^Susceptibility^L||||||||||||||||||||||ORG&Organism&L^1|||^FI1\r"
    "OBX|1|SN|OXA^Oxacillin^L|1|<=^0.25||||||F\r"
    "OBX|2|SN|VAN^Vancomycin^L|1|^1||||||F\r";

}  // namespace

TEST_CASE("$if, $value and $switch (comma-separated cases, default, nested in objects)") {
  MapDir dir;
  auto m = load(dir, R"Y(resources:
  - name: obs
    type: Observation
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [OBR-3.1, OBX-1]
    fields:
      status:
        $switch:
          on: OBX-11
          cases: {"F, C": final, P: preliminary}
          default: unknown
      code: {text: "= OBX-3.2"}
      $switch:
        on: OBX-2
        cases:
          NM:
            valueQuantity: {value: "= OBX-5 | decimal", unit: "= OBX-6.1"}
        default:
          valueString: "= OBX-5.2"
      effectiveDateTime:
        $if: "OBX-2 = 'NM'"
        $value: "= OBR-7 | dateTime"
)Y");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  auto r = run(*m, kOru);
  REQUIRE_MESSAGE(r->ok, r->error);
  const auto& o1 = *r->resource(0);
  CHECK(s(o1["status"]) == "final");
  CHECK(s(o1["valueQuantity"]["value"]) == "135");
  CHECK(s(o1["effectiveDateTime"]) == "2024-01-15T09:00:00+00:00");
  CHECK(s((*r->resource(1))["valueQuantity"]["value"]) == "4.50");  // digits as written
  const auto& o3 = *r->resource(2);
  CHECK(s(o3["valueString"]) == "5");
  CHECK_FALSE(o3.HasMember("effectiveDateTime"));
}

TEST_CASE("$each over groups and repetitions, $use of fragments, `for`, `when`") {
  MapDir dir;
  auto m = load(dir, R"Y(fragments:
  Name:
    type: HumanName
    template:
      family: "= .1"
      given: ["= .2"]
resources:
  - name: patient
    type: Patient
    for: PATIENT_RESULT.PATIENT
    id: [PID-3.1]
    fields:
      name:
        - $each: PID-5
          $use: Name
  - name: report
    type: DiagnosticReport
    for: PATIENT_RESULT.ORDER_OBSERVATION
    when: "OBR-4.1 != 'CRP'"
    id: [OBR-3.1]
    fields:
      status: final
      code: {text: "= OBR-4.2"}
      conclusion: "= OBSERVATION.OBX(*)-3.1 | join(',')"
      identifier:
        - $each: OBSERVATION
          value: "= OBX-3.1"
)Y");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  auto r = run(*m, kOru);
  REQUIRE_MESSAGE(r->ok, r->error);
  CHECK(r->count("Patient") == 1);
  CHECK(r->count("DiagnosticReport") == 1);  // `when` drops the CRP order
  CHECK(s((*r->resource(0))["name"][0]["family"]) == "DOE");
  CHECK(s((*r->resource(0))["name"][0]["given"][0]) == "JANE");
  const auto& dr = *r->resource(1);
  CHECK(s(dr["conclusion"]) == "HB,WBC");
  REQUIRE(dr["identifier"].Size() == 2);
  CHECK(s(dr["identifier"][1]["value"]) == "WBC");
}

TEST_CASE("$ref: nearest instance, never a sibling's; where/equals with all") {
  MapDir dir;
  auto m = load(dir, R"Y(resources:
  - name: patient
    type: Patient
    for: PATIENT_RESULT.PATIENT
    id: [PID-3.1]
    fields:
      active: true
  - name: obs
    type: Observation
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [OBR-3.1, OBX-3.1, OBX-4]
    fields:
      status: final
      code: {text: "= OBX-3.1"}
      subject: {$ref: patient}
      hasMember:
        - $if: "OBX-2 = 'CWE'"
          $ref:
            resource: obs
            all: true
            where: "OBR-29.2 + '|' + OBR-26.1.1 + '|' + OBR-26.2"
            equals: "OBR-3.1 + '|' + OBX-3.1 + '|' + OBX-4"
  - name: report
    type: DiagnosticReport
    for: PATIENT_RESULT.ORDER_OBSERVATION
    id: [OBR-3.1]
    fields:
      status: final
      code: {text: "= OBR-4.1"}
      subject: {$ref: patient}
      result:
        - {$each: OBSERVATION, $ref: obs}
)Y");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  auto r = run(*m, kMicro);
  REQUIRE_MESSAGE(r->ok, r->error);
  REQUIRE(r->count("Observation") == 3);
  std::string patient = "urn:uuid:" + s((*r->resource(0))["id"]);
  const auto& org = *r->resource(1);
  CHECK(s(org["subject"]["reference"]) == patient);
  REQUIRE(org.HasMember("hasMember"));
  REQUIRE(org["hasMember"].Size() == 2);
  CHECK(s(org["hasMember"][0]["reference"]) == "urn:uuid:" + s((*r->resource(2))["id"]));
  CHECK(s(org["hasMember"][1]["reference"]) == "urn:uuid:" + s((*r->resource(3))["id"]));
  CHECK_FALSE((*r->resource(2)).HasMember("hasMember"));
  // Each report lists only its own group's results.
  const auto& dr1 = *r->resource(4);
  const auto& dr2 = *r->resource(5);
  REQUIRE(dr1["result"].Size() == 1);
  CHECK(s(dr1["result"][0]["reference"]) == "urn:uuid:" + s(org["id"]));
  CHECK(dr2["result"].Size() == 2);
}

TEST_CASE("$translate: target coding plus the original, for every unmapped policy") {
  for (std::string policy : {"keep", "default", "drop", "error"}) {
    CAPTURE(policy);
    MapDir dir;
    auto m = load(dir, R"Y(resources:
  - name: obs
    type: Observation
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [OBR-3.1, OBX-1]
    fields:
      status: final
      code: {text: x}
      interpretation:
        - $each: OBX-8
          $translate: {table: t-)Y" + policy + R"Y(, text: "= 'flag ' + .1"}
)Y");
    REQUIRE_MESSAGE(m, dir.diags.to_string());
    // OBX-8 = A (known) in the first OBX, Q (unknown) in the second.
    const std::string msg =
        "MSH|^~\\&|LAB|FAC|RCV|RFAC|20240115103000||ORU^R01|C|P|2.5.1\rPID|1||1\rOBR|1||F1|T\r"
        "OBX|1|ST|T1||v|||A|||F\rOBX|2|ST|T2||v|||Q|||F\r";
    auto r = run(*m, msg);
    if (policy == "error") {
      CHECK_FALSE(r->ok);
      CHECK(r->error.find("CODE_UNMAPPED") != std::string::npos);
      continue;
    }
    REQUIRE_MESSAGE(r->ok, r->error);
    const auto& known = (*r->resource(0))["interpretation"][0];
    CHECK(s(known["coding"][0]["system"]) == "http://example.org/target");
    CHECK(s(known["coding"][0]["code"]) == "X");
    CHECK(s(known["coding"][0]["display"]) == "Ex");
    CHECK(s(known["coding"][1]["system"]) == "http://example.org/local");  // the original is kept
    CHECK(s(known["coding"][1]["code"]) == "A");
    CHECK(s(known["text"]) == "flag A");
    const auto& second = *r->resource(1);
    if (policy == "keep") {
      REQUIRE(second["interpretation"][0]["coding"].Size() == 1);
      CHECK(s(second["interpretation"][0]["coding"][0]["code"]) == "Q");
      CHECK(s(second["interpretation"][0]["coding"][0]["system"]) == "http://example.org/local");
    } else if (policy == "default") {
      CHECK(s(second["interpretation"][0]["coding"][0]["code"]) == "UNK");
      CHECK(s(second["interpretation"][0]["coding"][1]["code"]) == "Q");
    } else {
      CHECK_FALSE(second.HasMember("interpretation"));
      CHECK(r->has_issue("CODE_UNMAPPED"));
    }
  }
}

TEST_CASE("ids are deterministic UUIDs of the declared keys; duplicates merge or are disambiguated") {
  MapDir dir;
  auto m = load(dir, R"Y(resources:
  - name: lab
    type: Organization
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [MSH-4.1]
    on-duplicate-id: merge
    fields:
      name: "= MSH-4.1"
  - name: code
    type: Location
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [OBX-11]
    fields:
      name: "= OBX-3.1"
  - name: nokeys
    type: Location
    id: [PID-99]
    fields:
      name: none
)Y");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  auto r1 = run(*m, kOru);
  auto r2 = run(*m, kOru);
  REQUIRE(r1->ok);
  CHECK(r1->count("Organization") == 1);  // three OBX, one laboratory
  CHECK(r1->count("Location") == 4);      // three OBX-11 = F: disambiguated, plus nokeys
  CHECK(r1->has_issue("ID_COLLISION"));
  CHECK(r1->has_issue("ID_KEYS_EMPTY"));
  for (std::size_t i = 0; i < 5; ++i) CHECK(s((*r1->resource(i))["id"]) == s((*r2->resource(i))["id"]));
  std::string_view keys[] = {"FAC"};
  CHECK(s((*r1->resource(0))["id"]) == resource_id("Organization", keys));
  std::string_view k1[] = {"a|b", "c"};
  std::string_view k2[] = {"a", "b|c"};
  CHECK(resource_id("Basic", k1) != resource_id("Basic", k2));
  CHECK(resource_id("Basic", k1) != resource_id("Patient", k1));
  CHECK(resource_id("Basic", k1).size() == 36);
  CHECK(resource_id("Basic", k1)[14] == '5');  // a version 5 (name-based) UUID
}

TEST_CASE("code tables: duplicate and conflicting entries are load errors") {
  MapDir dir;
  dir.write("codes/dup.yaml", "table: dup\nunmapped: drop\nentries:\n  A: X\n  A: X\n  B: Y\n  B: Z\n");
  dir.load_tables();
  std::string d = dir.diags.to_string();
  CHECK(d.find("dup.yaml:5:3: error: duplicate entry for source code 'A' in table dup") != std::string::npos);
  CHECK(d.find("dup.yaml:7:3: error: conflicting entry for source code 'B' in table dup") != std::string::npos);
}

TEST_CASE("reading a segment never borrows it from a sibling instance of the scope's group") {
  // Order 2 has no ORC: ORC-2 read in its scope must be absent, not order 1's.
  MapDir dir;
  auto m = load(dir, R"Y(resources:
  - name: order
    type: ServiceRequest
    for: PATIENT_RESULT.ORDER_OBSERVATION
    id: [OBR-3.1]
    fields:
      status: active
      intent: order
      code: {text: "= OBR-4.1"}
      identifier:
        - value: "= ORC-2.1 ?? 'none'"
      note:
        - text: "= PID-5.1"
)Y");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  const std::string msg =
      "MSH|^~\\&|LAB|FAC|RCV|RFAC|20240115103000||ORU^R01^ORU_R01|C|P|2.5.1\rPID|1||1||DOE^JO\r"
      "ORC|RE|PL1\rOBR|1|PL1|F1|T1\rOBX|1|ST|A||v||||||F\r"
      "OBR|2||F2|T2\rOBX|1|ST|B||v||||||F\r";
  auto r = run(*m, msg);
  REQUIRE_MESSAGE(r->ok, r->error);
  REQUIRE(r->count("ServiceRequest") == 2);
  CHECK(s((*r->resource(0))["identifier"][0]["value"]) == "PL1");
  CHECK(s((*r->resource(1))["identifier"][0]["value"]) == "none");
  // ...while a segment of a different group kind (the PATIENT's PID) is still found outward.
  CHECK(s((*r->resource(1))["note"][0]["text"]) == "DOE");
}

TEST_CASE("whereField with an absent value selects the values whose field is absent") {
  auto r = eval_exprs({{"noid", "OBX-5(*) | whereField(3, PID-30) | join(',')"}},
                      "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\rPID|1||1\rOBR|1||F|T\r"
                      "OBX|1|TX|||line1\rOBX|2|TX|CODE||other\rOBX|3|TX|||line2\r");
  REQUIRE_MESSAGE(r.load_errors.empty(), r.load_errors);
  auto it = r.values.find("noid");
  REQUIRE(it != r.values.end());
  CHECK(it->second == "line1,line2");
}

TEST_CASE("unmapped report: segments no rule read, and with unmapped_fields the fields too") {
  MapDir dir;
  auto m = load(dir,
                "resources:\n"
                "  - name: patient\n    type: Patient\n    for: PATIENT_RESULT.PATIENT\n    id: [\"PID-3.1\"]\n"
                "    fields:\n      identifier: [{value: \"= PID-3.1\"}]\n"
                "      gender: \"= MSH-9.1 | map('t-keep')\"\n");
  REQUIRE(m);
  dxnorm::hl7v2::Hl7v2Parser parser;
  dxnorm::hl7v2::Message msg;
  REQUIRE(parser.parse("MSH|^~\\&|LAB|FAC|RCV|RFAC|20240115103000||ORU^R01^ORU_R01|CTRL9|P|2.5.1\r"
                       "PID|1||12345^^^HOSP^MR||DOE^JANE\r"
                       "OBR|1|PL1|FI1|CULT^Culture^L\r",
                       msg)
              .ok());
  MappingEngine engine;
  auto issues_at = [&](bool fields) {
    Output out;
    ConvertOptions o;
    o.report_unmapped = true;
    o.unmapped_fields = fields;
    REQUIRE(engine.convert(*m, msg, out, o).ok());
    std::vector<std::string> found;
    for (const auto& i : out.issues)
      if (i.code.rfind("UNMAPPED_", 0) == 0) found.push_back(i.code + " " + i.location);
    return found;
  };
  const auto all = issues_at(true);
  CHECK(std::find(all.begin(), all.end(), "UNMAPPED_SEGMENT OBR(1)") != all.end());
  CHECK(std::find(all.begin(), all.end(), "UNMAPPED_FIELD PID(1)-5") != all.end());
  const auto segments = issues_at(false);
  CHECK(segments == std::vector<std::string>{"UNMAPPED_SEGMENT OBR(1)"});
}
