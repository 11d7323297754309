#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/map/mapping_set.h"
#include "pipeline/parse/edifact/edifact_message.h"
#include "pipeline/parse/edifact/nhsack.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/publish/message_converter.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

using namespace dxnorm;

namespace {

std::string slurp(const std::string& name) {
  std::ifstream in(std::string(DXNORM_EDIFACT_FIXTURES) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A minimal NHS003 message with `nhs` as NHS number; `n` its reference.
std::string message(const std::string& ref, const std::string& nhs = "5681121828") {
  std::string body =
      "UNH+" + ref + "+MEDRPT:0:1:RT:NHS003'BGM+LSR'S01+01'NAD+SLA+++ST JAMES?'S'SPR+ORG'S02+02'GIS+N'RFF+SRI:R" + ref +
      "'STS++UN'DTM+ISR:200103301601:203'S06+06'S07+07'PNA+PAT+" + nhs +
      ":OPI+++SU:TEST+FO:ANNE'DTM+329:19690819:102'PDI+2'S16+16'SEQ++1'SPC+TSP+:::BLOOD'GIS+N'INV+MQ+42R4.:911::Serum "
      "ferritin'RSL+NV+11++:::ng/mL+HI'RFF+ASL:1'S20+20'RND+U+10+200'";
  int segs = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '?') ++i;
    else segs += body[i] == '\'';
  }
  return body + "UNT+" + std::to_string(segs + 1) + "+" + ref + "'";
}

std::string interchange(const std::vector<std::string>& msgs, bool ack, const std::string& ref = "251010") {
  std::string s = "UNA:+.? 'UNB+UNOC:3+LAB01:80+GP001:80+091102:1739+" + ref + "++MEDRPT" + (ack ? "++1" : "") + "'";
  for (const auto& m : msgs) s += m;
  return s + "UNZ+" + std::to_string(msgs.size()) + "+" + ref + "'";
}

Result<edifact::Interchange> read(const std::string& s) { return edifact::read_interchange(s); }

}  // namespace

TEST_CASE("envelope: interchange with several messages") {
  std::string in = interchange({message("1"), message("2"), message("3")}, true);
  auto ic = read(in);
  REQUIRE(ic.ok());
  CHECK(ic->messages.size() == 3);
  CHECK(ic->header.ack_requested);
  CHECK(ic->header.sender == "LAB01");
  CHECK(ic->messages[1].reference == "2");
  CHECK(!read(interchange({message("1")}, false))->header.ack_requested);
}

TEST_CASE("envelope: broken interchanges are errors with locations, never crashes") {
  std::string good = interchange({message("1"), message("2")}, true);
  SUBCASE("wrong UNZ count") {
    std::string bad = good;
    bad.replace(bad.find("UNZ+2"), 5, "UNZ+3");
    auto r = read(bad);
    REQUIRE(!r.ok());
    CHECK(r.error().error_code == "EDIFACT_MESSAGE_COUNT");
  }
  SUBCASE("wrong UNT count") {
    std::string m = message("2");
    m.replace(m.find("UNT+") + 4, 2, "99");
    auto r = read(interchange({message("1"), m}, false));
    REQUIRE(!r.ok());
    CHECK(r.error().error_code == "EDIFACT_SEGMENT_COUNT");
    CHECK(r.error().location.rfind("message 2, segment", 0) == 0);
  }
  SUBCASE("UNZ reference mismatch") {
    std::string bad = good;
    bad.replace(bad.rfind("251010"), 6, "999999");
    CHECK(read(bad).error().error_code == "EDIFACT_REFERENCE_MISMATCH");
  }
  SUBCASE("truncated") {
    auto r = read(good.substr(0, good.size() / 2));
    REQUIRE(!r.ok());
    CHECK(r.error().error_code == "EDIFACT_TRUNCATED");
  }
  SUBCASE("bad separators") {
    CHECK(read("UNA::.? 'UNH+1+MEDRPT'UNT+2+1'").error().error_code == "EDIFACT_BAD_UNA");
    CHECK(read("UNAx").error().error_code == "EDIFACT_BAD_UNA");
  }
  SUBCASE("garbage") {
    for (std::string g : std::vector<std::string>{"", "'", "UNB", "UNB+'", "UNH'", "????''''", std::string(1000, '?'), std::string("UNH+1+\0'", 8)})
      CHECK(!read(g).ok());
  }
}

TEST_CASE("parser: groups, escapes, custom separators, error locations") {
  edifact::EdifactParser p;
  edifact::EdifactMessage m;
  const std::string text = message("7");  // the message views into it
  REQUIRE(p.parse_single(text, m).ok());
  CHECK(m.message_type() == "MEDRPT");
  CHECK(m.association_code() == "NHS003");
  // NAD+SLA+++ST JAMES?'S: the release character keeps the apostrophe.
  const auto& nad = m.segments()[3];
  CHECK(nad.name == "NAD");
  std::string scratch;
  CHECK(edifact::unescape(m.element(nad, 4), m.delimiters(), scratch) == "ST JAMES'S");
  CHECK(nad.group->name == "SG1");
  // PNA lies in SG7 inside SG6; RND in SG20 inside SG18.
  for (const auto& s : m.segments()) {
    if (s.name == "PNA") CHECK((s.group->name == "SG7" && s.group->parent->name == "SG6"));
    if (s.name == "RND") CHECK((s.group->name == "SG20" && s.group->parent->name == "SG18"));
    if (s.name == "GIS" && s.number == 7) CHECK(s.group->name == "SG2");
  }
  // Other separators from UNA.
  std::string custom = "UNA|*.# ~UNH*1*MEDRPT|0|1|RT|NHS003~BGM*LSR~FTX*RIT***A#*B|C~UNT*4*1~";
  REQUIRE(p.parse_single(custom, m).ok());
  CHECK(edifact::component(m.element(m.segments()[2], 4), m.delimiters(), 1) == "A#*B");
  CHECK(edifact::unescape(edifact::component(m.element(m.segments()[2], 4), m.delimiters(), 1), m.delimiters(), scratch) == "A*B");
  // A bad tag names message, segment number and group.
  std::string bad = message("1");
  bad.replace(bad.find("RSL"), 3, "R$L");
  auto r = p.parse_single(bad, m);
  REQUIRE(!r.ok());
  CHECK(r.error().location.find("(SG18 R$L)") != std::string::npos);
  CHECK(r.error().location.rfind("message 1, segment ", 0) == 0);
}

namespace {
struct Conv {
  std::shared_ptr<const map::MappingSet> set = map::MappingSet::load(DXNORM_SOURCE_DIR "/mappings", map::LoaderOptions{});
  validate::FhirValidator validator;
  publish::MessageConverter conv{set, validator};
};
}  // namespace

TEST_CASE("mapping: interchange messages convert; paths read groups and qualifiers") {
  Conv c;
  const auto* fmt = publish::find_input_format("edifact");
  REQUIRE(fmt);
  std::string in = interchange({message("1"), message("2", "808338364")}, true);
  auto split = fmt->split(in);
  REQUIRE(split.ok());
  REQUIRE(split->messages.size() == 2);
  map::Output out;
  publish::MessageInfo info;
  REQUIRE(c.conv.convert("edifact", split->messages[0], out, info).ok());
  CHECK(info.message_type == "MEDRPT^NHS003");
  std::string json;
  {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w(sb);
    out.bundle.Accept(w);
    json = sb.GetString();
  }
  CHECK(json.find("\"https://fhir.nhs.uk/Id/nhs-number\",\"value\":\"5681121828\"") != std::string::npos);
  CHECK(json.find("\"birthDate\":\"1969-08-19\"") != std::string::npos);
  CHECK(json.find("\"code\":\"H\"") != std::string::npos);
  CHECK(json.find("\"issued\":\"2001-03-30T16:01:00+01:00\"") != std::string::npos);
  CHECK(json.find("\"system\":\"http://read.info/readv2\",\"code\":\"42R4.\"") != std::string::npos);
  // A 9-digit NHS number is never emitted as one.
  REQUIRE(c.conv.convert("edifact", split->messages[1], out, info).ok());
  bool warned = false;
  for (const auto& i : out.issues) warned = warned || i.code == "NHS_NUMBER_INVALID";
  CHECK(warned);
}

TEST_CASE("NHSACK: accepted fully, partially, rejected; none unless asked") {
  const auto* fmt = publish::find_input_format("edifact");
  std::string in = interchange({message("1"), message("2")}, true);
  auto all_ok = fmt->acknowledge(in, nullptr, {{true, ""}, {true, ""}});
  REQUIRE(all_ok);
  CHECK(all_ok->status == "IAF");
  CHECK(all_ok->payload.find("UNB+UNOC:3+GP001:80+LAB01:80+") != std::string::npos);
  CHECK(all_ok->payload.find("UNH+1+NHSACK:D:1:NH:NHS001'BGM+AKR'DTM+137:") != std::string::npos);
  CHECK(all_ok->payload.find("NIR+SIR:" ) != std::string::npos);
  CHECK(all_ok->payload.find("+IAF'NMR+AGO:1+MA'NMR+AGO:2+MA'UNT+7+1'") != std::string::npos);
  CHECK(all_ok->payload.find("++PATH_MEDRPT_V3_ACK'") != std::string::npos);
  auto partial = fmt->acknowledge(in, nullptr, {{true, ""}, {false, "map CODE_UNMAPPED"}});
  CHECK(partial->status == "IAP");
  CHECK(partial->payload.find("+IAP'NMR+AGO:1+MA'NMR+AGO:2+MR'FTX+ERD+++map CODE_UNMAPPED'UNT+8+1'") != std::string::npos);
  CHECK(fmt->acknowledge(in, nullptr, {{false, "x"}, {false, "y"}})->status == "IRA");
  // The envelope is valid as an EDIFACT interchange.
  CHECK(read(partial->payload).ok());
  // A broken interchange that asked: rejected.
  std::string bad = in;
  bad.replace(bad.find("UNZ+2"), 5, "UNZ+5");
  auto split = fmt->split(bad);
  REQUIRE(!split.ok());
  auto rej = fmt->acknowledge(bad, &split.error(), {});
  REQUIRE(rej);
  CHECK(rej->status == "IRI");
  CHECK(rej->payload.find("+IRI'FTX+ERD+++EDIFACT_MESSAGE_COUNT") != std::string::npos);
  CHECK(read(rej->payload).ok());
  // Not asked: nothing.
  CHECK(!fmt->acknowledge(interchange({message("1")}, false), nullptr, {{true, ""}}));
}

TEST_CASE("corpus: every NHS003/NHS004 example converts; NHS002 radiology maps to a DiagnosticReport RAD") {
  Conv c;
  const auto* fmt = publish::find_input_format("edifact");
  int converted = 0, radiology = 0;
  for (const auto& e : std::filesystem::directory_iterator(DXNORM_EDIFACT_FIXTURES)) {
    if (e.path().extension() != ".dat") continue;
    std::string data = slurp(e.path().filename().string());
    CAPTURE(e.path().filename().string());
    auto split = fmt->split(data);
    REQUIRE(split.ok());
    for (auto m : split->messages) {
      map::Output out;
      publish::MessageInfo info;
      Status st = c.conv.convert("edifact", m, out, info);
      CHECK_MESSAGE(st.ok(), (st.ok() ? std::string() : st.error().to_string()));
      converted += st.ok();
      if (st.ok() && info.type == "NHSRSR") {
        ++radiology;
        CHECK(info.mapping->name == "edifact-nhs002-radiology");
        rapidjson::StringBuffer sb;
        rapidjson::Writer<rapidjson::StringBuffer> w(sb);
        out.bundle.Accept(w);
        const std::string json = sb.GetString();
        CHECK(json.find("\"code\":\"RAD\"") != std::string::npos);
        CHECK(json.find("\"conclusion\":\"Clinical History : Intermittent") != std::string::npos);
        CHECK(json.find("\"contentType\":\"text/plain\"") != std::string::npos);
        CHECK(json.find("\"status\":\"final\"") != std::string::npos);
      }
    }
  }
  CHECK(converted == 16);
  CHECK(radiology == 2);
}

TEST_CASE("NHSACK: a UNB without a recipient asking for one gets none (nobody to address; fuzz finding)") {
  const auto* fmt = publish::find_input_format("edifact");
  std::string in = interchange({message("1")}, true);
  in.replace(in.find("+GP001:80+"), 10, "++");
  auto split = fmt->split(in);
  REQUIRE(!split.ok());
  CHECK(split.error().error_code == "EDIFACT_BAD_UNB");
  CHECK(!fmt->acknowledge(in, &split.error(), {}));
  // A truncated interchange that asked: IRM, and the reply reads back.
  std::string cut = interchange({message("1"), message("2")}, true);
  cut.resize(cut.find("UNH+2") + 40);
  auto s2 = fmt->split(cut);
  REQUIRE(!s2.ok());
  auto irm = fmt->acknowledge(cut, &s2.error(), {});
  REQUIRE(irm);
  CHECK(irm->status == "IRM");
  CHECK(read(irm->payload).ok());
  // Control characters never reach the reply (a reference ending in CR would
  // no longer match itself at UNZ); a sender made only of them is no sender.
  edifact::InterchangeHeader h;
  h.has_unb = true;
  h.sender = "LAB\r";
  h.recipient = "GP";
  h.reference = "12\r\n";
  CHECK(edifact::can_acknowledge(h));
  auto ack = edifact::build_nhsack(h, {{"1", true, ""}}, "", false, 1700000000);
  CHECK(read(ack.text).ok());
  CHECK(ack.text.find("NIR+SIR:12+LAB+GP+IAF'") != std::string::npos);
  h.sender = std::string_view("\0\0", 2);
  CHECK(!edifact::can_acknowledge(h));
}
