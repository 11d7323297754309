// `dxnorm lint` on broken mapping trees, one broken mapping (or table, or
// config) per rule: the exact `file:line:column: severity: message` lines
// and the exit status (1 on errors; 0 with warnings only, 1 with --werror).
// Each case writes a clean tree to a temp dir (config, mappings/codes,
// mappings/hl7v2/lab.yaml with its lab.tests/), breaks one thing, and runs
// the real binary there with `--config dxnorm.yaml`, so paths print relative.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/lint/cli_test_util.h"

using namespace dxnorm::clitest;

namespace {

const char* kConfig =
    "inputs:\n"
    "  - topic: hl7v2.in\n"
    "    format: hl7v2\n"
    "mappings: mappings\n";

// A clean mapping; line numbers on the right.
const char* kMapping =
    "mapping: lab-oru\n"                                       // 1
    "version: '1'\n"                                           // 2
    "input: {format: hl7v2, messages: [ORU^R01]}\n"            // 3
    "fragments:\n"                                             // 4
    "  Obs_Common:\n"                                          // 5
    "    type: Observation\n"                                  // 6
    "    template:\n"                                          // 7
    "      status: final\n"                                    // 8
    "      code: {text: \"= OBX-3.2\"}\n"                      // 9
    "resources:\n"                                             // 10
    "  - name: patient\n"                                      // 11
    "    type: Patient\n"                                      // 12
    "    for: PATIENT_RESULT.PATIENT\n"                        // 13
    "    id: [PID-3.1]\n"                                      // 14
    "    fields:\n"                                            // 15
    "      gender: \"= PID-8 | map('t-sex')\"\n"               // 16
    "  - name: obs\n"                                          // 17
    "    type: Observation\n"                                  // 18
    "    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION\n"  // 19
    "    id: [PID-3.1, OBX-1]\n"                               // 20
    "    fields:\n"                                            // 21
    "      $use: Obs_Common\n"                                 // 22
    "      subject: {$ref: patient}\n"                         // 23
    "      valueString: \"= OBX-5\"\n";                        // 24

const std::string kLab = "mappings/hl7v2/lab.yaml";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto p = text.find(from);
  REQUIRE_MESSAGE(p != std::string::npos, "not in the mapping: " << from);
  return text.replace(p, from.size(), to);
}

struct LintTree : Tree {
  LintTree() {
    write("dxnorm.yaml", kConfig);
    write("mappings/codes/t-sex.yaml", kSexTable);
    write(kLab, kMapping);
    mkdir("mappings/hl7v2/lab.tests");
  }
  // The mapping with `from` replaced by `to`.
  void edit(const std::string& from, const std::string& to) { write(kLab, replaced(kMapping, from, to)); }
  Run lint(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"lint", "--config", "dxnorm.yaml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_dxnorm(path(), args);
  }
};

// stdout must be exactly `expected` then the summary line. An expected line
// ending in "..." matches any line it begins (long lists of known names).
void check_output(const Run& r, const std::vector<std::string>& expected, int errors, int warnings) {
  INFO("stdout:\n" << r.out << "stderr:\n" << r.err);
  auto got = lines(r.out);
  REQUIRE(got.size() == expected.size() + 1);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const std::string& e = expected[i];
    if (e.size() > 3 && e.ends_with("..."))
      CHECK(got[i].rfind(e.substr(0, e.size() - 3), 0) == 0);
    else
      CHECK(got[i] == e);
  }
  CHECK(got.back() == std::to_string(errors) + " error(s), " + std::to_string(warnings) + " warning(s)");
}

}  // namespace

TEST_CASE("the clean tree lints clean, with and without --werror") {
  LintTree t;
  auto r = t.lint();
  check_output(r, {}, 0, 0);
  CHECK(r.status == 0);
  CHECK(t.lint({"--werror"}).status == 0);
}

TEST_SUITE("warnings: exit 0, or 1 with --werror") {
  TEST_CASE("constant $if condition: the rule can never fire") {
    LintTree t;
    t.edit("      valueString: \"= OBX-5\"\n",
           "      valueString:\n"                 // 24
           "        $if: \"false\"\n"             // 25
           "        $value: \"= OBX-5\"\n");      // 26
    auto r = t.lint();
    check_output(r, {kLab + ":25:14: warning: $if condition is constant (always false): the rule can never fire"}, 0, 1);
    CHECK(r.status == 0);
    auto w = t.lint({"--werror"});
    CHECK(w.status == 1);
    CHECK(w.out == r.out);
  }

  TEST_CASE("constant when condition: the resource does not depend on the message") {
    LintTree t;
    t.edit("    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION\n",
           "    for: PATIENT_RESULT.ORDER_OBSERVATION.OBSERVATION\n"
           "    when: \"true\"\n");  // 20
    auto r = t.lint();
    check_output(r, {kLab + ":20:11: warning: when condition is constant (always true): the rule does not depend on the message"},
                 0, 1);
    CHECK(r.status == 0);
    CHECK(t.lint({"--werror"}).status == 1);
  }

  TEST_CASE("$switch on a literal") {
    LintTree t;
    t.edit("      valueString: \"= OBX-5\"\n",
           "      valueString:\n"
           "        $switch: {on: \"'NM'\", cases: {NM: x}, default: y}\n");  // 25, `"'NM'"` at column 23
    auto r = t.lint();
    check_output(r, {kLab + ":25:23: warning: $switch value is constant ('NM'): the same case is taken for every message"},
                 0, 1);
    CHECK(r.status == 0);
    CHECK(t.lint({"--werror"}).status == 1);
  }

  TEST_CASE("element written twice: by the fragment, then by the object; $overrides silences it") {
    LintTree t;
    t.edit("      valueString: \"= OBX-5\"\n",
           "      valueString: \"= OBX-5\"\n"
           "      status: preliminary\n");  // 25
    auto r = t.lint();
    check_output(r, {kLab + ":25:7: warning: 'status' is written twice: this value replaces the one written at " + kLab + ":8"},
                 0, 1);
    CHECK(r.status == 0);
    CHECK(t.lint({"--werror"}).status == 1);

    t.edit("      valueString: \"= OBX-5\"\n",
           "      valueString: \"= OBX-5\"\n"
           "      status: preliminary\n"
           "      $overrides: [status]\n");
    auto q = t.lint({"--werror"});
    check_output(q, {}, 0, 0);
    CHECK(q.status == 0);
  }

  TEST_CASE("element written twice: by a $switch case, then by the object") {
    LintTree t;
    t.edit("      valueString: \"= OBX-5\"\n",
           "      $switch:\n"                                  // 24
           "        on: OBX-2\n"                               // 25
           "        cases:\n"                                  // 26
           "          NM: {valueString: \"= OBX-5\"}\n"        // 27
           "      valueString: \"= OBX-5\"\n");                // 28
    auto r = t.lint();
    check_output(r,
                 {kLab + ":28:7: warning: 'valueString' is written twice: this value replaces the one written at " + kLab +
                  ":27"},
                 0, 1);
    CHECK(r.status == 0);
  }

  TEST_CASE("fragment never used") {
    LintTree t;
    t.edit("      $use: Obs_Common\n", "      status: final\n      code: {text: x}\n");
    auto r = t.lint();
    check_output(r, {kLab + ":5:3: warning: fragment 'Obs_Common' is never used"}, 0, 1);  // at its name
    CHECK(r.status == 0);
  }

  TEST_CASE("code table no mapping uses") {
    LintTree t;
    t.write("mappings/codes/t-unused.yaml", "table: t-unused\nentries:\n  A: x\n");
    auto r = t.lint();
    check_output(r, {"mappings/codes/t-unused.yaml:1:1: warning: code table 't-unused' is not used by any mapping"}, 0, 1);
    CHECK(r.status == 0);
    CHECK(t.lint({"--werror"}).status == 1);
  }

  TEST_CASE("mapping without fixtures") {
    LintTree t;
    t.remove("mappings/hl7v2/lab.tests");
    auto r = t.lint();
    check_output(r, {kLab + ":1:1: warning: mapping 'lab-oru' has no fixtures (lab.tests/; see dxnorm test)"}, 0, 1);
    CHECK(r.status == 0);
  }

  TEST_CASE("mapping no input of the config routes to") {
    LintTree t;
    t.write("dxnorm.yaml",
            "inputs:\n"
            "  - topic: hl7v2.in\n"
            "    format: hl7v2\n"
            "    mapping: lab-oru\n"
            "mappings: mappings\n");
    t.write("mappings/hl7v2/adt.yaml",
            "mapping: lab-adt\nversion: '1'\ninput: {format: hl7v2, messages: [ADT^A01]}\nresources:\n"
            "  - name: patient\n    type: Patient\n    id: [PID-3.1]\n    fields:\n"
            "      gender: \"= PID-8 | map('t-sex')\"\n");
    t.mkdir("mappings/hl7v2/adt.tests");
    auto r = t.lint();
    check_output(r, {"mappings/hl7v2/adt.yaml:1:1: warning: no input of dxnorm.yaml routes to mapping 'lab-adt' (format hl7v2)"},
                 0, 1);
    CHECK(r.status == 0);
    CHECK(t.lint({"--werror"}).status == 1);
  }
}

TEST_SUITE("errors: exit 1") {
  TEST_CASE("unknown key") {
    LintTree t;
    t.edit("    type: Patient\n", "    type: Patient\n    colour: red\n");  // 13
    auto r = t.lint();
    check_output(r,
                 {kLab + ":13:5: error: unknown key 'colour' in resource (expected name, type, description, for, when, id, "
                         "on-duplicate-id, fields)"},
                 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("unknown FHIR element") {
    LintTree t;
    t.edit("valueString:", "valueStrin:");
    auto r = t.lint();
    check_output(r, {kLab + ":24:7: error: unknown FHIR element 'valueStrin' in Observation (elements: meta, identifier, ..."},
                 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("bad path: the column points into the expression") {
    LintTree t;
    t.edit("\"= OBX-5\"", "\"= OBX-5(x)\"");
    auto r = t.lint();
    check_output(r, {kLab + ":24:28: error: in expression 'OBX-5(x)': unexpected '('"}, 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("path to a group the message structure lacks") {
    LintTree t;
    t.edit("    for: PATIENT_RESULT.PATIENT\n", "    for: PATIENT_RESULT.PATIENTS\n");
    auto r = t.lint();
    REQUIRE(lines(r.out).size() == 2);
    CHECK(lines(r.out)[0].rfind(kLab + ":13:10: error: ", 0) == 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("unknown function") {
    LintTree t;
    t.edit("\"= OBX-5\"", "\"= OBX-5 | frob\"");
    auto r = t.lint();
    check_output(r, {kLab + ":24:31: error: in expression 'OBX-5 | frob': unknown function 'frob' (known: date, ..."}, 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("unknown code table (and no 'unused table' noise for the table the broken mapping uses)") {
    LintTree t;
    t.edit("map('t-sex')", "map('t-sexx')");
    auto r = t.lint();
    check_output(r,
                 {kLab + ":16:26: error: in expression 'PID-8 | map('t-sexx')': unknown code table 't-sexx' (tables live in "
                         "mappings/codes/)"},
                 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("$ref to a resource the mapping never creates") {
    LintTree t;
    t.edit("{$ref: patient}", "{$ref: patients}");
    auto r = t.lint();
    check_output(r, {kLab + ":23:23: error: $ref to 'patients', a resource this mapping never creates (resources: obs, patient)"},
                 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("YAML syntax error") {
    LintTree t;
    t.edit("    id: [PID-3.1]\n", "    id: [PID-3.1\n");
    auto r = t.lint();
    check_output(r, {kLab + ":15:11: error: YAML syntax: end of sequence flow not found"}, 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("code table with a duplicate entry") {
    LintTree t;
    t.write("mappings/codes/t-sex.yaml", std::string(kSexTable) + "  M: male\n");  // 7
    auto r = t.lint();
    check_output(r, {"mappings/codes/t-sex.yaml:7:3: error: duplicate entry for source code 'M' in table t-sex"}, 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("code table with a conflicting entry (case-insensitive table: f is F)") {
    LintTree t;
    t.write("mappings/codes/t-sex.yaml", "table: t-sex\ncase-sensitive: false\nentries:\n  M: male\n  F: female\n"
                                         "  f: male\n");  // 6
    auto r = t.lint();
    check_output(r, {"mappings/codes/t-sex.yaml:6:3: error: conflicting entry for source code 'f' in table t-sex"}, 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("two mappings route the same message type") {
    LintTree t;
    t.write("mappings/hl7v2/lab2.yaml", replaced(kMapping, "mapping: lab-oru", "mapping: lab-oru-2"));
    t.mkdir("mappings/hl7v2/lab2.tests");
    auto r = t.lint();
    check_output(r,
                 {"mappings/hl7v2/lab2.yaml:1:1: error: message ORU^R01 is routed by both lab-oru and lab-oru-2 (narrow one "
                  "with input.sending-application / sending-facility)"},
                 1, 0);
    CHECK(r.status == 1);
  }

  TEST_CASE("an input names a mapping that does not exist") {
    LintTree t;
    t.write("dxnorm.yaml",
            "inputs:\n"
            "  - topic: hl7v2.in\n"        // 2
            "    format: hl7v2\n"
            "    mapping: lab-orux\n"
            "mappings: mappings\n");
    auto r = t.lint();
    check_output(r,
                 {"dxnorm.yaml:2:5: error: input hl7v2.in names mapping 'lab-orux', which does not exist",
                  kLab + ":1:1: warning: no input of dxnorm.yaml routes to mapping 'lab-oru' (format hl7v2)"},
                 1, 1);
    CHECK(r.status == 1);
  }

  TEST_CASE("every problem at once, sorted by file and line") {
    LintTree t;
    std::string m = replaced(kMapping, "    type: Patient\n", "    type: Patient\n    colour: red\n");  // 13
    m = replaced(m, "valueString:", "valueStrin:");                                                     // 25
    t.write(kLab, m);
    t.write("mappings/codes/t-sex.yaml", std::string(kSexTable) + "  M: male\n");
    auto r = t.lint();
    auto got = lines(r.out);
    REQUIRE(got.size() == 4);
    CHECK(got[0] == "mappings/codes/t-sex.yaml:7:3: error: duplicate entry for source code 'M' in table t-sex");
    CHECK(got[1].rfind(kLab + ":13:5: error: unknown key 'colour'", 0) == 0);
    CHECK(got[2].rfind(kLab + ":25:7: error: unknown FHIR element 'valueStrin'", 0) == 0);
    CHECK(got[3] == "3 error(s), 0 warning(s)");
    CHECK(r.status == 1);
  }
}

TEST_CASE("a single mapping file as the argument") {
  LintTree t;
  t.edit("{$ref: patient}", "{$ref: patients}");
  auto r = run_dxnorm(t.path(), {"lint", kLab});
  check_output(r, {kLab + ":23:23: error: $ref to 'patients', a resource this mapping never creates (resources: obs, patient)"},
               1, 0);
  CHECK(r.status == 1);
}
