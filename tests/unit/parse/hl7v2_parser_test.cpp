#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/parse/hl7v2/hl7v2_value.h"
#include "tests/unit/parse/fixture.h"

using namespace dxnorm;
using namespace dxnorm::hl7v2;
using dxnorm::hl7v2::test::find_issue;
using dxnorm::hl7v2::test::fixture;
using dxnorm::hl7v2::test::has_issue;

namespace {

const Hl7v2Parser& parser() {
  static const Hl7v2Parser p;
  return p;
}

// Group tree invariants: parents point back, every segment appears once.
void check_tree(const Message& m) {
  std::vector<int> seen(m.segments().size(), 0);
  std::vector<const Group*> todo{&m.root()};
  std::size_t groups = 0;
  while (!todo.empty()) {
    const Group* g = todo.back();
    todo.pop_back();
    ++groups;
    for (const GroupNode& n : g->children) {
      if (n.group) {
        REQUIRE(n.group->parent == g);
        REQUIRE(n.segment == -1);
        todo.push_back(n.group);
      } else {
        REQUIRE(m.segment_of(n) != nullptr);
        ++seen[static_cast<std::size_t>(n.segment)];
      }
    }
  }
  CHECK(groups == m.groups().size());
  for (int s : seen) REQUIRE(s == 1);
}

// Names of direct children: "PID", "[PATIENT]"...
std::string shape(const Message& m, const Group& g) {
  std::string out;
  for (const GroupNode& n : g.children) {
    if (!out.empty()) out += ' ';
    if (n.group) {
      out += '[' + std::string(n.group->name) + ']';
    } else {
      out += std::string(m.segment_of(n)->name);
      if (!n.placed) out += '!';
    }
  }
  return out;
}

const Group* child_group(const Group& g, std::string_view name, std::uint32_t index = 1) {
  for (const GroupNode& n : g.children) {
    if (n.group && n.group->name == name && n.group->index == index) return n.group;
  }
  return nullptr;
}

Message parse_ok(std::string_view text) {
  Message m;
  const Status st = parser().parse(text, m);
  if (!st.ok()) FAIL(st.error().to_string());
  check_tree(m);
  return m;
}

std::string parse_error_code(std::string_view text, std::string* location = nullptr) {
  Message m;
  const Status st = parser().parse(text, m);
  if (st.ok()) return "ok";
  CHECK(st.error().code == StatusCode::kInvalidInput);
  CHECK(st.error().stage == Stage::kParse);
  if (location) *location = st.error().location;
  return st.error().error_code;
}

}  // namespace

TEST_CASE("bench ORU_R01: header, fields, MSH numbering") {
  const std::string text = fixture("bench_oru_r01_cmp_14obx.hl7");
  const Message m = parse_ok(text);
  CHECK(m.segments().size() == 19);
  CHECK(m.message_type() == "ORU");
  CHECK(m.trigger_event() == "R01");
  CHECK(m.structure_id() == "ORU_R01");
  CHECK(m.version() == "2.5.1");
  CHECK_FALSE(m.control_id().empty());
  CHECK(m.issues().empty());
  const Segment& msh = m.segments()[0];
  CHECK(msh.name == "MSH");
  CHECK(m.field(msh, 1) == "|");
  CHECK(m.field(msh, 2) == "^~\\&");
  CHECK(nth_part(m.field(msh, 3), '^', 1) == "LAB");
  CHECK(m.field(msh, 0).empty());
  CHECK(m.field(msh, 999).empty());
  const Segment& obx3 = m.segments()[6];
  CHECK(obx3.name == "OBX");
  CHECK(obx3.occurrence == 3);
  CHECK(obx3.ordinal == 7);
  CHECK(m.field(obx3, 1) == "3");
  CHECK(m.field(obx3, 5) == "1.1");
  CHECK(component(m.field(obx3, 3), m.delimiters(), 1) == "2160-0");
  CHECK(obx3.raw.substr(0, 6) == "OBX|3|");
}

TEST_CASE("bench ORU_R01: group tree and navigation") {
  const std::string text = fixture("bench_oru_r01_cmp_14obx.hl7");
  const Message m = parse_ok(text);
  const Group& root = m.root();
  CHECK(root.name == "ORU_R01");
  CHECK(shape(m, root) == "MSH [PATIENT_RESULT]");
  const Group* pr = child_group(root, "PATIENT_RESULT");
  REQUIRE(pr);
  CHECK(shape(m, *pr) == "[PATIENT] [ORDER_OBSERVATION]");
  const Group* oo = child_group(*pr, "ORDER_OBSERVATION");
  REQUIRE(oo);
  CHECK(m.find_segment(*oo, "OBR") != nullptr);
  CHECK(m.find_segment(*oo, "ORC") != nullptr);
  // 14 OBSERVATION groups, each holding one OBX, then the SPECIMEN group.
  int observations = 0;
  for (const GroupNode& n : oo->children) {
    if (n.group && n.group->name == "OBSERVATION") {
      ++observations;
      CHECK(n.group->index == static_cast<std::uint32_t>(observations));
      const Segment* obx = m.find_segment(*n.group, "OBX");
      REQUIRE(obx);
      CHECK(m.field(*obx, 1) == std::to_string(observations));
    }
  }
  CHECK(observations == 14);
  REQUIRE(child_group(*oo, "SPECIMEN"));
  CHECK(m.path(*child_group(*oo, "OBSERVATION", 3)) == "/PATIENT_RESULT(1)/ORDER_OBSERVATION(1)/OBSERVATION(3)");
  CHECK(m.path(root) == "/");
  // From an OBSERVATION up to its PATIENT_RESULT, then down to PID.
  const Group* obs = child_group(*oo, "OBSERVATION", 5);
  const Group* up = obs;
  while (up && up->name != "PATIENT_RESULT") up = up->parent;
  REQUIRE(up == pr);
  const Group* patient = child_group(*up, "PATIENT");
  REQUIRE(patient);
  CHECK(m.find_segment(*patient, "PID") != nullptr);
  // groups(): root first, document order
  CHECK(&m.groups()[0] == &m.root());
  CHECK(m.groups().size() == 1 + 1 + 1 + 1 + 14 + 1);
}

TEST_CASE("delimiters: five encoding characters (truncation, v2.7+)") {
  const std::string text = fixture("test_conversions_ORU_R01.hl7");
  const Message m = parse_ok(text);
  CHECK(m.delimiters().component == '^');
  CHECK(m.delimiters().repetition == '~');
  CHECK(m.delimiters().escape == '\\');
  CHECK(m.delimiters().subcomponent == '&');
  CHECK(m.delimiters().truncation == '#');
  CHECK(m.field(m.segments()[0], 2) == "^~\\&#");
  CHECK(m.structure_id() == "ORU_R01");
  // PRT after NTE of the OBR (v2.8 order) is placed.
  CHECK_FALSE(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));
  const Group* pr = child_group(m.root(), "PATIENT_RESULT");
  REQUIRE(pr);
  const Group* patient = child_group(*pr, "PATIENT");
  REQUIRE(patient);
  CHECK(shape(m, *patient) == "PID [VISIT]");
  const Group* oo = child_group(*pr, "ORDER_OBSERVATION");
  REQUIRE(oo);
  CHECK(shape(m, *oo) == "ORC OBR NTE PRT [OBSERVATION] [OBSERVATION] [OBSERVATION]");
}

TEST_CASE("delimiters: non-default characters") {
  const std::string text = fixture("rh_edge-custom-delimiters.hl7");
  const Message m = parse_ok(text);
  const Delimiters& d = m.delimiters();
  CHECK(d.field == '#');
  CHECK(d.component == '!');
  CHECK(d.repetition == '@');
  CHECK(d.escape == '%');
  CHECK(d.subcomponent == '*');
  CHECK(m.message_type() == "ADT");
  CHECK(m.trigger_event() == "A01");
  CHECK(m.structure_id() == "ADT_A01");
  const Segment& pid = m.segments()[1];
  CHECK(component(m.field(pid, 5), d, 2) == "JOHN");
  CHECK(m.field(m.segments()[0], 1) == "#");
}

TEST_CASE("delimiters: MSH-2 written ^~\\\\& is tolerated with an issue") {
  for (const char* name : {"lfh_sample_unix.hl7", "lfh_sample_win.hl7"}) {
    CAPTURE(name);
    const std::string text = fixture(name);
    const Message m = parse_ok(text);
    const Delimiters& d = m.delimiters();
    CHECK(d.component == '^');
    CHECK(d.repetition == '~');
    CHECK(d.escape == '\\');
    CHECK(d.subcomponent == '&');
    CHECK(d.truncation == 0);
    const Issue* i = find_issue(m.issues(), "HL7_ENCODING_CHARS_IRREGULAR");
    REQUIRE(i);
    CHECK(i->location == "MSH-2");
    CHECK(i->severity == Severity::kWarning);
    CHECK(m.message_type() == "ADT");
    CHECK(m.version() == "2.6");
    CHECK(m.segments()[1].name == "EVN");
  }
}

TEST_CASE("delimiters: invalid ones are errors, never crashes") {
  std::string loc;
  CHECK(parse_error_code("MSHA^~\\&|x\r", &loc) == "HL7_BAD_DELIMITERS");
  CHECK(loc == "MSH-1");
  CHECK(parse_error_code("MSH|A~\\&|x\r", &loc) == "HL7_BAD_DELIMITERS");
  CHECK(loc == "MSH-2");
  CHECK(parse_error_code("MSH^^~\\&|x\r") == "HL7_BAD_DELIMITERS");  // field separator repeated as MSH-2
  CHECK(parse_error_code("MSH||^~\\&\r") == "HL7_BAD_DELIMITERS");   // empty MSH-2
  CHECK(parse_error_code("MSH|^~\\&#$%|x\r") == "HL7_BAD_DELIMITERS");  // six distinct
  CHECK(parse_error_code("MSH ^~\\&\r") == "HL7_BAD_DELIMITERS");
  CHECK(parse_error_code("MSH|^~\\\x01|x") == "HL7_BAD_DELIMITERS");
  // Duplicates among the encoding characters: first distinct ones, plus issues.
  Message m;
  REQUIRE(parser().parse("MSH|^^~|A|B|C|D|20240101||ORU^R01|1|P|2.5\rPID|1\r", m).ok());
  CHECK(m.delimiters().component == '^');
  CHECK(m.delimiters().repetition == '~');
  CHECK(m.delimiters().escape == 0);
  CHECK(has_issue(m.issues(), "HL7_ENCODING_CHARS_IRREGULAR"));
  CHECK(has_issue(m.issues(), "HL7_ENCODING_CHARS_MISSING"));
}

TEST_CASE("segment terminators: CR, LF, CRLF, blank lines, BOM") {
  const std::string cr = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|42|P|2.5.1\rPID|1||123\rOBR|1\rOBX|1|NM|X||5\r";
  std::string lf = cr, crlf, messy;
  for (char& c : lf) if (c == '\r') c = '\n';
  for (char c : cr) crlf += c == '\r' ? std::string("\r\n") : std::string(1, c);
  messy = "\xEF\xBB\xBF\r\n\n" + crlf + "\r\n  \n\r\n";
  for (const std::string& text : {cr, lf, crlf, messy}) {
    Message m;
    REQUIRE(parser().parse(text, m).ok());
    REQUIRE(m.segments().size() == 4);
    CHECK(m.segments()[3].name == "OBX");
    CHECK(m.field(m.segments()[3], 5) == "5");
    CHECK(m.control_id() == "42");
    CHECK(m.issues().empty());
  }
  const std::string bom_file = fixture("ms_LAB-ORU-1.hl7");
  CHECK(bom_file.substr(0, 3) == "\xEF\xBB\xBF");
  const Message m = parse_ok(bom_file);
  CHECK(m.segments()[0].name == "MSH");
  CHECK(m.text().substr(0, 3) == "MSH");
}

TEST_CASE("missing ORC, two orders, OBX after SPM (LAB-ORU-1)") {
  const std::string text = fixture("ms_LAB-ORU-1.hl7");
  const Message m = parse_ok(text);
  CHECK(m.structure_id() == "ORU_R01");  // resolved from ORU^R01 via the events table
  CHECK_FALSE(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));
  const Group* pr = child_group(m.root(), "PATIENT_RESULT");
  REQUIRE(pr);
  const Group* o1 = child_group(*pr, "ORDER_OBSERVATION", 1);
  const Group* o2 = child_group(*pr, "ORDER_OBSERVATION", 2);
  REQUIRE(o1);
  REQUIRE(o2);
  CHECK(m.find_segment(*o1, "ORC") == nullptr);
  CHECK(shape(m, *o2).substr(0, 4) == "OBR ");
}

TEST_CASE("OBX after SPM belongs to the SPECIMEN group") {
  const std::string text =
      "MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|1|P|2.5.1\r"
      "PID|1\rOBR|1\rOBX|1|NM\rSPM|1\rOBX|2|NM\rOBX|3|NM\rNTE|1\r";
  const Message m = parse_ok(text);
  const Group* oo = child_group(*child_group(m.root(), "PATIENT_RESULT"), "ORDER_OBSERVATION");
  REQUIRE(oo);
  CHECK(shape(m, *oo) == "OBR [OBSERVATION] [SPECIMEN]");
  const Group* spm = child_group(*oo, "SPECIMEN");
  // NTE fits nowhere after SPM: kept (unplaced) in the SPECIMEN group.
  CHECK(shape(m, *spm) == "SPM OBX OBX NTE!");
  const Issue* i = find_issue(m.issues(), "HL7_SEGMENT_UNPLACED");
  REQUIRE(i);
  CHECK(i->location == "NTE(1)");
}

TEST_CASE("Z-segments are kept unplaced in the current group and reported") {
  const std::string text =
      "MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|1|P|2.5.1\r"
      "PID|1\rOBR|1\rZDS|1.2.3^Study^DICOM\rOBX|1|NM\r";
  const Message m = parse_ok(text);
  const Group* oo = child_group(*child_group(m.root(), "PATIENT_RESULT"), "ORDER_OBSERVATION");
  REQUIRE(oo);
  CHECK(shape(m, *oo) == "OBR ZDS! [OBSERVATION]");
  const Issue* i = find_issue(m.issues(), "HL7_SEGMENT_UNPLACED");
  REQUIRE(i);
  CHECK(i->severity == Severity::kInfo);
  CHECK(i->location == "ZDS(1)");
  CHECK(i->message == "segment ZDS could not be placed in ORU_R01 structure; kept in group ORDER_OBSERVATION");

  const std::string adt = fixture("rh_edge-z-segments.hl7");
  const Message a = parse_ok(adt);
  CHECK(shape(a, a.root()) == "MSH PID ZVN! ZPD!");
  CHECK(a.issues().size() == 2);
}

TEST_CASE("kitchen-sink ORU (PRT, TXA, TQ1, CTD, FT1, CTI in odd places) parses tolerantly") {
  const std::string text = fixture("ms_ORU-R01-01.hl7");
  const Message m = parse_ok(text);
  CHECK(m.structure_id() == "ORU_R01");
  CHECK(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));  // TXA has no place in ORU_R01
  for (const Issue& i : m.issues()) CHECK(i.severity != Severity::kError);
  // The SPECIMEN group holds its two OBX and the trailing PRT is unplaced there.
  const Group* pr = child_group(m.root(), "PATIENT_RESULT");
  REQUIRE(pr);
}

TEST_CASE("ADT: events table maps A04/A08/A13 to ADT_A01") {
  for (const char* ev : {"A01", "A04", "A08", "A13"}) {
    const std::string text = std::string("MSH|^~\\&|A|B|C|D|20240101||ADT^") + ev +
                             "|1|P|2.3\rEVN|" + ev + "\rPID|1\rPV1|1|I\rIN1|1\rIN2|1\rIN1|2\rZPI|x\r";
    const Message m = parse_ok(text);
    CHECK(m.structure_id() == "ADT_A01");
    CHECK(shape(m, m.root()) == "MSH EVN PID PV1 [INSURANCE] [INSURANCE]");
    CHECK(shape(m, *child_group(m.root(), "INSURANCE", 1)) == "IN1 IN2");
    CHECK(shape(m, *child_group(m.root(), "INSURANCE", 2)) == "IN1 ZPI!");  // kept where it was met
  }
  const std::string full = fixture("test_conversions_ADT_A01.hl7");
  const Message m = parse_ok(full);
  CHECK(m.structure_id() == "ADT_A01");
  CHECK_FALSE(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));
}

TEST_CASE("ORM_O01, OML_O21, MDM_T02 structures") {
  {
    const std::string text_m = fixture("test_conversions_ORM_O01.hl7");
    const Message m = parse_ok(text_m);
    CHECK(m.structure_id() == "ORM_O01");
    CHECK(m.delimiters().truncation == '#');
    CHECK(shape(m, m.root()) == "MSH [PATIENT] [ORDER]");
    const Group* patient = child_group(m.root(), "PATIENT");
    CHECK(shape(m, *patient) == "PID [PATIENT_VISIT] [INSURANCE] AL1");
    const Group* order = child_group(m.root(), "ORDER");
    CHECK(shape(m, *order) == "ORC [ORDER_DETAIL]");
    CHECK(shape(m, *child_group(*order, "ORDER_DETAIL")) == "OBR NTE");
  }
  {
    const std::string text_m = fixture("test_conversions_OML_O21.hl7");
    const Message m = parse_ok(text_m);
    CHECK(m.structure_id() == "OML_O21");
    CHECK_FALSE(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));
    const Group* order = child_group(m.root(), "ORDER");
    REQUIRE(order);
    const Group* req = child_group(*order, "OBSERVATION_REQUEST");
    REQUIRE(req);
    CHECK(shape(m, *req) == "OBR NTE PRT [SPECIMEN]");
  }
  {
    const std::string text_m = fixture("test_conversions_MDM_T02.hl7");
    const Message m = parse_ok(text_m);
    CHECK(m.structure_id() == "MDM_T02");
    CHECK_FALSE(has_issue(m.issues(), "HL7_SEGMENT_UNPLACED"));
    CHECK(shape(m, m.root()) ==
          "MSH EVN PID PV1 [COMMON_ORDER] TXA [OBSERVATION] [OBSERVATION] [OBSERVATION] [OBSERVATION]");
    CHECK(shape(m, *child_group(m.root(), "COMMON_ORDER")) == "ORC [TIMING] OBR");
    // FT with \.br\ line breaks
    const Segment* obx2 = m.find_segment(*child_group(m.root(), "OBSERVATION", 2), "OBX");
    REQUIRE(obx2);
    std::string scratch;
    const std::string_view v = unescape(m.field(*obx2, 5), m.delimiters(), scratch);
    CHECK(v.find('\n') != std::string_view::npos);
    CHECK(v.find("\\.br\\") == std::string_view::npos);
  }
  {
    const Message m = parse_ok("MSH|^~\\&|A|B|C|D|20240101||OMI^O23^OMI_O23|1|P|2.5.1\r"
                               "PID|1\rORC|NW\rTQ1|1\rOBR|1\rOBX|1\rIPC|1\rIPC|2\rORC|NW\rOBR|2\rIPC|3\r");
    CHECK(m.structure_id() == "OMI_O23");
    CHECK(shape(m, m.root()) == "MSH [PATIENT] [ORDER] [ORDER]");
    CHECK(shape(m, *child_group(m.root(), "ORDER")) == "ORC [TIMING] OBR [OBSERVATION] IPC IPC");
    CHECK(m.issues().empty());
  }
  {
    const Message m = parse_ok("MSH|^~\\&|A|B|C|D|20240101||ACK^O01|1|P|2.5\rMSA|AA|1\rERR|1\r");
    CHECK(m.structure_id() == "ACK");
    CHECK(m.issues().empty());
  }
}

TEST_CASE("unknown structure: flat root and an info issue") {
  const Message m = parse_ok("MSH|^~\\&|A|B|C|D|20240101||SIU^S12|1|P|2.5\rSCH|1\rPID|1\r");
  CHECK(m.structure_id().empty());
  CHECK(m.root().def == nullptr);
  CHECK(m.root().name == "MESSAGE");
  CHECK(shape(m, m.root()) == "MSH SCH PID");
  const Issue* i = find_issue(m.issues(), "HL7_STRUCTURE_UNKNOWN");
  REQUIRE(i);
  CHECK(i->severity == Severity::kInfo);
}

TEST_CASE("escapes read per component (edge-escaped-delimiters)") {
  const std::string text = fixture("rh_edge-escaped-delimiters.hl7");
  const Message m = parse_ok(text);
  const Delimiters& d = m.delimiters();
  std::string scratch;
  const Segment& pid = m.segments()[1];
  CHECK(unescape(component(m.field(pid, 5), d, 1), d, scratch) == "DOE&SMITH");
  CHECK(unescape(component(m.field(pid, 5), d, 2), d, scratch) == "JOHN^JANE");
  const Segment& obx = m.segments()[2];
  CHECK(unescape(m.field(obx, 5), d, scratch) ==
        "Result contains pipe | and ampersand & and caret ^ and tilde ~ and backslash \\ chars");
}

TEST_CASE("errors: missing MSH, truncated, binary, too large") {
  std::string loc;
  CHECK(parse_error_code(fixture("rh_invalid-missing-msh.hl7"), &loc) == "HL7_NO_MSH");
  CHECK(parse_error_code("") == "HL7_NO_MSH");
  CHECK(parse_error_code("\xEF\xBB\xBF\r\n") == "HL7_NO_MSH");
  CHECK(parse_error_code("MSH") == "HL7_TRUNCATED");
  CHECK(parse_error_code("MSH|") == "HL7_TRUNCATED");
  CHECK(parse_error_code("MSH|^~\\&|A|B|C", &loc) == "HL7_TRUNCATED");
  CHECK(loc == "MSH-9");
  std::string with_nul = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|ED|x||AB";
  with_nul += '\0';
  with_nul += "CD\r";
  CHECK(parse_error_code(with_nul, &loc) == "HL7_BINARY");
  CHECK(loc == "segment 2");
  std::string garbage = "MSH|^~\\&|";
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) & 0xFF);
  CHECK(parse_error_code(garbage) == "HL7_BINARY");
  // policy limit
  Hl7v2Parser small(StructureRegistry::builtin(), ParserPolicy{1000, 100, 1000});
  Message m;
  const std::string big = fixture("bench_oru_r01_cmp_14obx.hl7");
  Status st = small.parse(big, m);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().error_code == "HL7_TOO_LARGE");
  Hl7v2Parser few_segments(StructureRegistry::builtin(), ParserPolicy{1u << 20, 5, 1000});
  st = few_segments.parse(big, m);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().error_code == "HL7_TOO_LARGE");
  CHECK(st.error().location == "segment 6");
}

TEST_CASE("error and issue messages carry no patient data") {
  const std::string text = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1||NHS9434765919||SMITH^JOHN\r"
                           "Smith John lives here\rZX1|SMITH\r";
  const Message m = parse_ok(text);
  REQUIRE(m.issues().size() >= 2);
  for (const Issue& i : m.issues()) {
    CHECK(i.message.find("SMITH") == std::string::npos);
    CHECK(i.message.find("Smith") == std::string::npos);
    CHECK(i.location.find("Smith") == std::string::npos);
  }
  CHECK(has_issue(m.issues(), "HL7_SEGMENT_ID_INVALID"));
}

TEST_CASE("invalid segment ids are kept and reported") {
  const std::string text_m = fixture("rh_invalid-segment-header-length.hl7");
    const Message m = parse_ok(text_m);
  CHECK(m.segments()[1].name == "PIDX");
  CHECK(m.segments()[2].name == "PV");
  int invalid = 0;
  for (const Issue& i : m.issues()) invalid += i.code == "HL7_SEGMENT_ID_INVALID";
  CHECK(invalid == 2);
  CHECK(shape(m, m.root()) == "MSH PIDX! PV!");
}

TEST_CASE("empty fields and trailing separators") {
  const std::string text_m = fixture("rh_edge-empty-segments.hl7");
    const Message m = parse_ok(text_m);
  const Segment& pv1 = m.segments()[2];
  CHECK(pv1.field_count == 39);
  CHECK(m.field(pv1, 39).empty());
  const Segment& pid = m.segments()[1];
  CHECK(m.field(pid, 1) == "1");
  const Message n = parse_ok("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rEVN\rPID|\r");
  CHECK(n.segments()[1].field_count == 0);
  CHECK(n.segments()[2].field_count == 1);
}

TEST_CASE("a Message is reused across parses; pool growth keeps pointers valid") {
  Message m;
  const std::string a = fixture("bench_oru_r01_cmp_14obx.hl7");
  const std::string b = fixture("test_conversions_ORM_O01.hl7");
  for (int round = 0; round < 3; ++round) {
    REQUIRE(parser().parse(a, m).ok());
    check_tree(m);
    CHECK(m.structure_id() == "ORU_R01");
    REQUIRE(parser().parse(b, m).ok());
    check_tree(m);
    CHECK(m.structure_id() == "ORM_O01");
  }
  // Many groups per segment (each OBR opens 1 group, each PID 2): more groups
  // than the first pool guess, forcing a regrow mid-match.
  std::string many = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5.1\r";
  for (int i = 0; i < 3000; ++i) many += "PID|" + std::to_string(i) + "\rOBR|1\rOBX|1\rSPM|1\r";
  REQUIRE(parser().parse(many, m).ok());
  check_tree(m);
  CHECK(m.groups().size() == 1 + 3000 * 5);
  CHECK(child_group(m.root(), "PATIENT_RESULT", 3000) != nullptr);
  // Move keeps the tree valid.
  Message moved(std::move(m));
  check_tree(moved);
  // And back to a small message.
  REQUIRE(parser().parse(a, moved).ok());
  check_tree(moved);
  CHECK(moved.groups().size() == 19);
}

TEST_CASE("20 MB message and 100,000 repetitions parse quickly") {
  std::string big = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5.1\rPID|1\rOBR|1\rOBX|1|ED|PDF||^application^pdf^Base64^";
  big.append(20u << 20, 'A');
  big += "\rOBX|2|ST|X||";
  for (int i = 0; i < 100000; ++i) big += "r~";
  big += "\r";
  const auto t0 = std::chrono::steady_clock::now();
  const Message m = parse_ok(big);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ms < 2000);
  const Segment& obx2 = m.segments()[4];
  CHECK(count_parts(m.field(obx2, 5), m.delimiters().repetition) == 100001);
  CHECK(component(m.field(m.segments()[3], 5), m.delimiters(), 5).size() == (20u << 20));
}

TEST_CASE("MLLP ack fixture with a literal backslash-r inside MSH") {
  const std::string raw = fixture("pyhl7_test_mllp_ack.mllp");
  auto split = split_messages(raw);
  REQUIRE(split.ok());
  REQUIRE(split->messages.size() == 1);
  const Message m = parse_ok(split->messages[0]);
  CHECK(m.segments().size() == 1);  // MSH and MSA run together in this fixture
  CHECK(m.message_type() == "ACK");
}
