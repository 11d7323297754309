// The integration engineer's tools, end to end through the real binary:
// `dxnorm test` (pass, fail with a readable diff, --update, expect.yaml
// errors / warnings / assertions, --unmapped), `dxnorm convert --trace`
// (rule file:line:column and input location per element; .trace.tsv with
// --out) and the unmapped report of convert (a Z-segment, an unread field).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/lint/cli_test_util.h"

using namespace dxnorm::clitest;

namespace {

// Line numbers on the right (the trace names them).
const char* kMapping =
    "mapping: lab-oru\n"                                                                       // 1
    "version: '1'\n"                                                                           // 2
    "input: {format: hl7v2, messages: [ORU^R01]}\n"                                            // 3
    "resources:\n"                                                                             // 4
    "  - name: patient\n"                                                                      // 5
    "    type: Patient\n"                                                                      // 6
    "    for: PATIENT_RESULT.PATIENT\n"                                                        // 7
    "    id: [PID-3.1]\n"                                                                      // 8
    "    fields:\n"                                                                            // 9
    "      identifier:\n"                                                                      // 10
    "        - {system: \"https://fhir.nhs.uk/Id/nhs-number\", value: \"= PID-3.1 | nhsNumber\"}\n"  // 11
    "        - {system: \"urn:local:mrn\", value: \"= PID-3.1\"}\n"                            // 12
    "      gender: \"= PID-8 | map('t-sex')\"\n"                                               // 13
    "  - name: obs\n"                                                                          // 14
    "    type: Observation\n"                                                                  // 15
    "    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION\n"                                  // 16
    "    id: [PID-3.1, OBX-1]\n"                                                               // 17
    "    fields:\n"                                                                            // 18
    "      status: final\n"                                                                    // 19
    "      code: {text: \"= OBX-3.2\"}\n"                                                      // 20
    "      subject: {$ref: patient}\n"                                                         // 21
    "      valueString: \"= OBX-5\"\n";                                                        // 22

// PID-5 and PID-7 are never read; ZXT is a local Z-segment no rule reads.
const char* kMessage =
    "MSH|^~\\&|LAB|HOSP|EPR|HOSP|20240715103000||ORU^R01|MSG001|P|2.5\r"
    "PID|1||12345^^^HOSP^MR||Smith^John||19800101|M\r"
    "OBR|1|ORD1|FIL1|CBC^Blood count\r"
    "OBX|1|NM|718-7^Hemoglobin^LN||135|g/L|||||F\r"
    "OBX|2|ST|NOTE^Note^L||all good||||||F\r"
    "ZXT|1|custom\r";

// What the mapping gives for kMessage (ids are deterministic).
const char* kExpected =
    R"({"resourceType":"Bundle","id":"48bbd3d5-1812-5493-9835-5f192d98a49f","type":"transaction","entry":[)"
    R"({"fullUrl":"urn:uuid:f725daaf-b510-562e-aba9-76b01a9f6661","resource":{"resourceType":"Patient","id":"f725daaf-b510-562e-aba9-76b01a9f6661",)"
    R"("identifier":[{"system":"https://fhir.nhs.uk/Id/nhs-number"},{"system":"urn:local:mrn","value":"12345"}],"gender":"male"},)"
    R"("request":{"method":"PUT","url":"Patient/f725daaf-b510-562e-aba9-76b01a9f6661"}},)"
    R"({"fullUrl":"urn:uuid:8dda535c-7198-57b1-9a02-2d81dbe1632f","resource":{"resourceType":"Observation","id":"8dda535c-7198-57b1-9a02-2d81dbe1632f",)"
    R"("status":"final","code":{"text":"Hemoglobin"},"subject":{"reference":"urn:uuid:f725daaf-b510-562e-aba9-76b01a9f6661"},"valueString":"135"},)"
    R"("request":{"method":"PUT","url":"Observation/8dda535c-7198-57b1-9a02-2d81dbe1632f"}},)"
    R"({"fullUrl":"urn:uuid:68bf33ff-29aa-5785-958e-343d9d443baf","resource":{"resourceType":"Observation","id":"68bf33ff-29aa-5785-958e-343d9d443baf",)"
    R"("status":"final","code":{"text":"Note"},"subject":{"reference":"urn:uuid:f725daaf-b510-562e-aba9-76b01a9f6661"},"valueString":"all good"},)"
    R"("request":{"method":"PUT","url":"Observation/68bf33ff-29aa-5785-958e-343d9d443baf"}}]})"
    "\n";

const std::string kTests = "mappings/hl7v2/lab.tests/";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto p = text.find(from);
  REQUIRE_MESSAGE(p != std::string::npos, "not found: " << from);
  return text.replace(p, from.size(), to);
}

struct DevTree : Tree {
  DevTree() {
    write("mappings/codes/t-sex.yaml", kSexTable);
    write("mappings/hl7v2/lab.yaml", kMapping);
    write(kTests + "cbc.hl7", kMessage);
    write(kTests + "cbc.expected.json", kExpected);
  }
  Run test(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"test", "--mappings", "mappings"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_dxnorm(path(), args);
  }
};

bool has_line(const std::string& text, const std::string& line) {
  for (const auto& l : lines(text))
    if (l == line) return true;
  return false;
}

}  // namespace

TEST_CASE("dxnorm test: a passing case") {
  DevTree t;
  auto r = t.test();
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "1 passed, 0 failed\n");
  auto v = t.test({"--verbose"});
  CHECK(v.out == "PASS " + kTests + "cbc.hl7\n1 passed, 0 failed\n");
  // The mapping file as the argument runs its .tests/.
  auto m = run_dxnorm(t.path(), {"test", "--mappings", "mappings", "mappings/hl7v2/lab.yaml"});
  CHECK(m.status == 0);
  CHECK(m.out == "1 passed, 0 failed\n");
}

TEST_CASE("dxnorm test: a failing case prints path, expected and actual per difference, then the count; exit 1") {
  DevTree t;
  std::string exp = replaced(kExpected, R"("valueString":"135")", R"("valueString":"136")");
  exp = replaced(exp, R"(,"gender":"male")", "");                           // actual has it: not expected
  exp = replaced(exp, R"("valueString":"all good"},)", R"("valueString":"all good","issued":"2024-07-15"},)");  // missing
  t.write(kTests + "cbc.expected.json", exp);
  t.write(kTests + "other.hl7", kMessage);
  t.write(kTests + "other.expected.json", kExpected);
  auto r = t.test();
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.out ==
        "FAIL " + kTests + "cbc.hl7\n"
        "  entry[0].resource.gender: not expected\n"
        "    actual:   \"male\"\n"
        "  entry[1].resource.valueString: different values\n"
        "    expected: \"136\"\n"
        "    actual:   \"135\"\n"
        "  entry[2].resource.issued: missing in actual\n"
        "    expected: \"2024-07-15\"\n"
        "1 passed, 1 failed\n");
}

TEST_CASE("dxnorm test: a case without an expected file fails and says how to write it") {
  DevTree t;
  t.remove(kTests + "cbc.expected.json");
  auto r = t.test();
  CHECK(r.status == 1);
  CHECK(r.out == "FAIL " + kTests + "cbc.hl7\n  no cbc.expected.json (write it with --update after reviewing the output)\n"
                 "0 passed, 1 failed\n");
}

TEST_CASE("dxnorm test --update rewrites the expected files, then the cases pass") {
  DevTree t;
  t.write(kTests + "cbc.expected.json", replaced(kExpected, R"("valueString":"135")", R"("valueString":"136")"));
  t.write(kTests + "new.hl7", kMessage);  // no expected file yet
  REQUIRE(t.test().status == 1);
  auto u = t.test({"--update"});
  INFO(u.out << u.err);
  CHECK(u.status == 0);
  CHECK(u.out == "UPDATED " + kTests + "cbc.hl7\nUPDATED " + kTests + "new.hl7\n"
                 "2 expected file(s) rewritten: review them with git diff\n2 passed, 0 failed\n");
  CHECK(t.read(kTests + "cbc.expected.json").find(R"("valueString": "135")") != std::string::npos);
  CHECK(t.exists(kTests + "new.expected.json"));
  auto r = t.test();
  CHECK(r.status == 0);
  CHECK(r.out == "2 passed, 0 failed\n");

  // A deliberate mapping change: fails, --update, passes again.
  t.write("mappings/hl7v2/lab.yaml", replaced(kMapping, "      status: final\n", "      status: preliminary\n"));
  auto f = t.test();
  CHECK(f.status == 1);
  CHECK(has_line(f.out, "  entry[1].resource.status: different values"));
  CHECK(has_line(f.out, "0 passed, 2 failed"));
  CHECK(t.test({"--update"}).status == 0);
  CHECK(t.test().out == "2 passed, 0 failed\n");
}

TEST_CASE("dxnorm test: expect.yaml with an expected error, and expected-error.txt") {
  DevTree t;
  t.write(kTests + "no_msh.hl7", "PID|1||12345\r");
  t.write(kTests + "no_msh.expect.yaml", "error: {stage: parse, code: HL7_NO_MSH}\n");
  t.write(kTests + "no_msh2.hl7", "PID|1||12345\r");
  t.write(kTests + "no_msh2.expected-error.txt", "parse HL7_NO_MSH at input\n");
  auto r = t.test();
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "3 passed, 0 failed\n");

  t.write(kTests + "no_msh.expect.yaml", "error: {stage: parse, code: HL7_BAD_DELIMITERS}\n");
  t.write(kTests + "cbc.expect.yaml", "error: {stage: map, code: MAP_ERROR}\n");
  auto f = t.test();
  CHECK(f.status == 1);
  CHECK(f.out == "FAIL " + kTests + "cbc.hl7\n  expected error 'map MAP_ERROR', got success\n"
                 "FAIL " + kTests + "no_msh.hl7\n  expected error 'parse HL7_BAD_DELIMITERS', got 'parse HL7_NO_MSH at input'\n"
                 "1 passed, 2 failed\n");
}

TEST_CASE("dxnorm test: expect.yaml warnings and assertions (equals, count, exists, where, index)") {
  DevTree t;
  t.write(kTests + "cbc.expect.yaml",
          "warnings: [NHS_NUMBER_INVALID]\n"
          "assert:\n"
          "  - {path: Observation.valueString, equals: \"135\"}\n"
          "  - {path: Observation, count: 2}\n"
          "  - {path: \"Patient.identifier[1].value\", equals: \"12345\"}\n"
          "  - path: \"Patient.identifier.where(system='urn:local:mrn').value\"\n"
          "    equals: \"12345\"\n"
          "  - path: \"Patient.identifier.where(system='https://fhir.nhs.uk/Id/nhs-number').value\"\n"
          "    exists: false\n"
          "  - {path: Bundle.type, equals: transaction}\n");
  auto r = t.test();
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "1 passed, 0 failed\n");

  // Assertions only (no expected.json) are enough for a case.
  t.remove(kTests + "cbc.expected.json");
  CHECK(t.test().out == "1 passed, 0 failed\n");

  t.write(kTests + "cbc.expect.yaml",
          "warnings: [NHS_NUMBER_INVALID, DATE_INVALID]\n"
          "assert:\n"
          "  - {path: Observation.valueString, equals: \"136\"}\n"
          "  - {path: Observation, count: 3}\n"
          "  - {path: Patient.gender, exists: false}\n"
          "  - {path: Specimen.id, equals: x}\n");
  auto f = t.test();
  CHECK(f.status == 1);
  CHECK(f.out == "FAIL " + kTests + "cbc.hl7\n"
                 "  expected a DATE_INVALID warning\n"
                 "  Observation.valueString: different values\n"
                 "    expected: 136\n"
                 "    actual:   135\n"
                 "  Observation: count\n"
                 "    expected: 3\n"
                 "    actual:   2\n"
                 "  Patient.gender: exists\n"
                 "    expected: false\n"
                 "    actual:   true\n"
                 "  Specimen.id: different values\n"
                 "    expected: x\n"
                 "    actual:   (nothing)\n"
                 "0 passed, 1 failed\n");
}

TEST_CASE("dxnorm test --unmapped lists the Z-segment and the fields no rule read") {
  DevTree t;
  auto r = t.test({"--unmapped"});
  INFO(r.out << r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "  unmapped in cbc.hl7: MSH(1) PID(1)-5 PID(1)-7 OBR(1) OBX(1)-2 OBX(1)-6 OBX(1)-11 OBX(2)-2 OBX(2)-11 "
                 "ZXT(1)\n1 passed, 0 failed\n");
  // Reading PID-5 removes it from the report.
  t.write("mappings/hl7v2/lab.yaml",
          replaced(kMapping, "      gender:", "      name: [{family: \"= PID-5.1\", given: [\"= PID-5.2\"]}]\n      gender:"));
  (void)t.test({"--update"});
  auto r2 = t.test({"--unmapped"});
  CHECK(r2.out.find("PID(1)-5") == std::string::npos);
  CHECK(r2.out.find("PID(1)-7 OBR(1)") != std::string::npos);
  CHECK(r2.out.find("ZXT(1)") != std::string::npos);
}

TEST_CASE("dxnorm convert: the unmapped report names the Z-segment (and, on request, unread fields)") {
  DevTree t;
  auto r = run_dxnorm(t.path(), {"convert", "--mappings", "mappings", kTests + "cbc.hl7"});
  INFO(r.err);
  CHECK(r.status == 0);
  const std::string where = kTests + "cbc.hl7#1 (control id MSG001): ";
  CHECK(has_line(r.err, where + "info: segments no rule read: MSH(1), OBR(1), ZXT(1)"));
  CHECK(r.err.find("fields no rule read") == std::string::npos);
  auto f = run_dxnorm(t.path(), {"convert", "--mappings", "mappings", "--unmapped-fields", kTests + "cbc.hl7"});
  CHECK(has_line(f.err, where + "info: segments no rule read: MSH(1), OBR(1), ZXT(1)"));
  CHECK(has_line(f.err, where + "info: fields no rule read: PID(1)-5, PID(1)-7, OBX(1)-2, OBX(1)-6, OBX(1)-11, OBX(2)-2, "
                                "OBX(2)-11"));
  auto q = run_dxnorm(t.path(), {"convert", "--mappings", "mappings", "--quiet", kTests + "cbc.hl7"});
  CHECK(q.err.find("no rule read") == std::string::npos);
}

TEST_CASE("dxnorm convert --trace: each element's rule file:line:column and input location") {
  DevTree t;
  const std::string m = "mappings/hl7v2/lab.yaml";
  auto r = run_dxnorm(t.path(), {"convert", "--mappings", "mappings", "--trace", kTests + "cbc.hl7"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out == kExpected);  // the output itself is unchanged
  const std::vector<std::string> want = {
      "Bundle.entry[0].resource.identifier[1].system\t" + m + ":12:20\t(literal)",
      "Bundle.entry[0].resource.identifier[1].value\t" + m + ":12:44\tPID(1)-3.1",
      "Bundle.entry[0].resource.gender\t" + m + ":13:15\tPID(1)-8",
      "Bundle.entry[1].resource.status\t" + m + ":19:15\t(literal)",
      "Bundle.entry[1].resource.code.text\t" + m + ":20:20\tOBX(1)-3.2",
      "Bundle.entry[1].resource.subject.reference\t" + m + ":21:23\t(reference to patient)",
      "Bundle.entry[1].resource.valueString\t" + m + ":22:20\tOBX(1)-5",
      "Bundle.entry[2].resource.valueString\t" + m + ":22:20\tOBX(2)-5",
  };
  for (const auto& w : want) CHECK_MESSAGE(has_line(r.err, "trace: " + w), w);

  auto o = run_dxnorm(t.path(), {"convert", "--mappings", "mappings", "--trace", "--out", "out", kTests + "cbc.hl7"});
  CHECK(o.status == 0);
  REQUIRE(t.exists("out/cbc.hl7.1.json"));
  REQUIRE(t.exists("out/cbc.hl7.1.trace.tsv"));
  CHECK(o.err.find("trace: ") == std::string::npos);
  std::string tsv = t.read("out/cbc.hl7.1.trace.tsv");
  auto tl = lines(tsv);
  REQUIRE(!tl.empty());
  CHECK(tl[0] == "fhir_path\trule\tinput");
  for (const auto& w : want) CHECK_MESSAGE(has_line(tsv, w), w);
  // Every element of the output has a trace line.
  for (std::size_t i = 1; i < tl.size(); ++i) CHECK(std::count(tl[i].begin(), tl[i].end(), '\t') == 2);
}
