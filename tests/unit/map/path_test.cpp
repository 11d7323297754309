// Path resolution: nearest segment, groups, repetitions, (*), occurrences,
// relative paths, explicit nulls and escapes.
#include <doctest/doctest.h>

#include "pipeline/map/hl7v2_path.h"
#include "tests/unit/map/map_test_util.h"

using namespace dxnorm::map;
using namespace dxnorm::map::test;

namespace {
std::string get(const ExprResults& r, const std::string& k) {
  auto it = r.values.find(k);
  return it == r.values.end() ? std::string("<absent>") : it->second;
}
}  // namespace

TEST_CASE("parse_hl7_path: the forms authors write") {
  Hl7Path p;
  std::string err;
  REQUIRE(parse_hl7_path("PID-3(2).4.1", p, err));
  CHECK(p.segment == "PID");
  CHECK(p.field == 3);
  CHECK(p.rep == 2);
  CHECK(p.comp == 4);
  CHECK(p.sub == 1);
  REQUIRE(parse_hl7_path("OBX(*)-5(*)", p, err));
  CHECK(p.seg_all);
  CHECK(p.rep_all);
  REQUIRE(parse_hl7_path("PATIENT_RESULT.ORDER_OBSERVATION.OBR-4", p, err));
  CHECK(p.groups == std::vector<std::string>{"PATIENT_RESULT", "ORDER_OBSERVATION"});
  CHECK(p.segment == "OBR");
  REQUIRE(parse_hl7_path("PATIENT_RESULT.ORDER_OBSERVATION", p, err));
  CHECK(p.groups_only());
  REQUIRE(parse_hl7_path(".4.1", p, err));
  CHECK(p.relative);
  CHECK(p.rel == std::vector<int>{4, 1});
  REQUIRE(parse_hl7_path(".", p, err));
  CHECK(p.rel.empty());
  CHECK_FALSE(parse_hl7_path("PID-", p, err));
  CHECK_FALSE(parse_hl7_path("PID-3(x)", p, err));
  CHECK_FALSE(parse_hl7_path("pid-3", p, err));
  CHECK_FALSE(parse_hl7_path(".1.2.3", p, err));
  CHECK_FALSE(parse_hl7_path("MSH-2.1", p, err));
  CHECK(is_segment_name("ZPD"));
  CHECK_FALSE(is_segment_name("PIDX"));
}

TEST_CASE("reading fields, repetitions, components and subcomponents") {
  auto r = eval_exprs({{"field", "PID-5"},
                       {"comp", "PID-5.2"},
                       {"rep2", "PID-3(2).1"},
                       {"rep2_auth", "PID-3(2).4"},
                       {"rep4", "PID-3(4).1"},
                       {"all", "PID-3(*).5 | join(',')"},
                       {"msh1", "MSH-1"},
                       {"msh2", "MSH-2"},
                       {"msh9", "MSH-9.2"},
                       {"missing", "PID-30"},
                       {"seg_occ", "OBX(2)-3.1"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "field") == "DOE");  // a value with components reads as its first
  CHECK(get(r, "comp") == "JOHN");
  CHECK(get(r, "rep2") == "9434765919");
  CHECK(get(r, "rep2_auth") == "NHS");
  CHECK(get(r, "rep4") == "<absent>");
  CHECK(get(r, "all") == "MR,NH,PI");
  CHECK(get(r, "msh1") == "|");
  CHECK(get(r, "msh2") == "^~\\&");
  CHECK(get(r, "msh9") == "A01");
  CHECK(get(r, "missing") == "<absent>");
}

TEST_CASE("escapes are decoded and \"\" is an explicit null") {
  auto r = eval_exprs({{"esc", "PID-5.1"}, {"explicit_null", "PID-8"}, {"explicit_null_exists", "PID-8 | exists"}},
                      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||1||O\\S\\BRIEN\\T\\CO^ANN||19800101|\"\"\r");
  REQUIRE_MESSAGE(r.load_errors.empty(), r.load_errors);
  CHECK(get(r, "esc") == "O^BRIEN&CO");
  CHECK(get(r, "explicit_null") == "<absent>");
  CHECK(get(r, "explicit_null_exists") == "<absent>");
}

TEST_CASE("segment occurrences: OBX(n) counts the segments below the scope (here the message)") {
  auto r = eval_exprs({{"obx2", "OBX(2)-3.1"}, {"obx3", "OBX(3)-3.1"}, {"obx4", "OBX(4)-3.1"}, {"obx_all", "OBX(*)-3.1 | join(',')"}}, kOru);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "obx2") == "WBC");
  CHECK(get(r, "obx3") == "CRP");
  CHECK(get(r, "obx4") == "<absent>");
  CHECK(get(r, "obx_all") == "HB,WBC,CRP");
}

TEST_CASE("nearest segment, groups and relative paths inside iterated scopes") {
  MapDir dir;
  dir.load_tables();
  dir.write("m.yaml", R"Y(mapping: paths
version: '1'
input: {format: hl7v2, messages: [ORU^R01]}
resources:
  - name: obs
    type: Observation
    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION
    id: [OBR-3.1, OBX-1]
    fields:
      status: final
      code: {text: "= OBX-3.2"}
      # PID is outside the OBSERVATION group: found by searching outward.
      valueString: "= PID-5.1 + '/' + OBR-4.1 + '/' + OBX-3.1"
      note:
        - $each: NTE
          text: "= NTE-3"
      identifier:
        - $each: OBX-6
          value: "= .1"
          system: "= .3"
)Y");
  auto m = dir.load("m.yaml");
  REQUIRE_MESSAGE(m, dir.diags.to_string());
  auto r = run(*m, kOru);
  REQUIRE_MESSAGE(r->ok, r->error);
  REQUIRE(r->count("Observation") == 3);
  const auto& o1 = *r->resource(0);
  CHECK(std::string(o1["valueString"].GetString()) == "DOE/CBC/HB");
  CHECK(std::string(o1["note"][0]["text"].GetString()) == "first note");
  CHECK(std::string(o1["identifier"][0]["value"].GetString()) == "g/L");
  CHECK(std::string(o1["identifier"][0]["system"].GetString()) == "UCUM");
  const auto& o2 = *r->resource(1);
  CHECK_FALSE(o2.HasMember("note"));  // the NTE belongs to the first OBX only
  const auto& o3 = *r->resource(2);
  CHECK(std::string(o3["valueString"].GetString()) == "DOE/CRP/CRP");  // its own OBR, not the first
}
