// The direct reads of the common path shapes (Hl7Path::Shape::kRelative,
// kNearest) against the general read of the same path: same result, same
// value (text, cursor, explicit null) and same fields marked read, for every
// field, repetition, component and subcomponent of messages full of edge
// cases, from every group and from cursors at every part.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pipeline/map/eval_types.h"
#include "pipeline/map/hl7v2_path.h"
#include "pipeline/parse/hl7v2/hl7v2_message.h"
#include "pipeline/parse/hl7v2/hl7v2_parser.h"

using namespace dxnorm::map;

namespace {

const char* const kMessages[] = {
    "MSH|^~\\&|LAB^1.2.3^ISO|FAC||DEST|20240115113012-0500||ORU^R01^ORU_R01|C1|P|2.5.1\r"
    "PID|1||ID1^^^AUTH&1.2.3&ISO^MR~ID2^^^^XX||Doe^Jane^^^^^L||19610615|F\r"
    "ORC|RE|P1^EHR|F1^LAB\r"
    "OBR|1|P1^EHR|F1^LAB|24323-8^Panel^LN|||20240115083000\r"
    "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^^UCUM|70-99|N|||F\r"
    "OBX|2|ST|X^^L~Y^y^L||\"\"|^unit&sub^UCUM|| \r"
    "OBX|3|TX|||a\\F\\b\\S\\c\\T\\d\\E\\e~r2^c2&s2^c3&&s3||\"\"^x|N~H|||F  \r"
    "OBX|4|CWE|^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^x|||^|&|&&|~||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||last\r"
    "NTE|1||note ^with^ parts  \r",
    "MSH|^~\\&|A|B|C|D|2024||ORU^R01|C2|P|2.5\r"
    "PID|||\"\"\r"
    "OBR|1\r"
    "OBX|1|NM|\r"
    "OBX|2\r",
};

const char* const kAbsolute[] = {"MSH", "PID", "ORC", "OBR", "OBX", "NTE", "SPM"};

struct Ctx {
  EvalContext ctx;
  explicit Ctx(const dxnorm::hl7v2::Message& m) {
    ctx.doc = &m;
    ctx.format = &hl7v2_format();
    ctx.reads.reset(m.leaf_count());
  }
};

// Reads `fast` and its general twin on fresh trackers; false (with the
// difference reported) when they disagree.
bool check_same(const Hl7Path& fast, const Scope& scope, Ctx& a, Ctx& b, const dxnorm::hl7v2::Message& m) {
  Hl7Path general = fast;
  general.shape = Hl7Path::Shape::kGeneral;
  a.ctx.reads.reset(m.leaf_count());
  b.ctx.reads.reset(m.leaf_count());
  Value va, vb;
  const bool ra = fast.read_first(scope, a.ctx, va);
  const bool rb = general.read_first(scope, b.ctx, vb);
  bool same = ra == rb;
  if (same && ra)
    same = va.text == vb.text && va.explicit_null == vb.explicit_null && va.has_cursor == vb.has_cursor &&
           EvalContext::same(va.cursor, vb.cursor);
  for (std::size_t s = 0; same && s < m.segments().size(); ++s)
    for (unsigned f = 0; f < 16; ++f) same = same && a.ctx.reads.field_read(s, f) == b.ctx.reads.field_read(s, f);
  if (!same)
    FAIL_CHECK("path ", fast.text, " differs at scope segment ", scope.cursor.segment, " field ", scope.cursor.field,
               " rep ", scope.cursor.rep, " comp ", scope.cursor.comp, " sub ", scope.cursor.sub, ": ", ra, " '",
               std::string(va.text), "' vs ", rb, " '", std::string(vb.text), "'");
  return same;
}

}  // namespace

TEST_CASE("direct path reads give what the general read gives") {
  dxnorm::hl7v2::Hl7v2Parser parser;
  std::size_t fast_paths = 0, failures = 0;
  for (const char* text : kMessages) {
    dxnorm::hl7v2::Message m;
    REQUIRE(parser.parse(text, m).ok());
    Ctx a(m), b(m);
    std::vector<Hl7Path> paths;
    std::string err;
    for (const char* seg : kAbsolute)
      for (int f = 1; f <= 12; ++f) {
        const std::string base = std::string(seg) + "-" + std::to_string(f);
        std::vector<std::string> texts = {base, base + "(2)", base + "(3).1"};
        for (int c = 1; c <= 40; c += (c < 4 ? 1 : 9)) {
          texts.push_back(base + "." + std::to_string(c));
          for (int s = 1; s <= 3; ++s) texts.push_back(base + "." + std::to_string(c) + "." + std::to_string(s));
          texts.push_back(base + "(2)." + std::to_string(c) + ".2");
        }
        for (const auto& t : texts) {
          Hl7Path p;
          if (!parse_hl7_path(t, p, err)) {
            REQUIRE_MESSAGE((seg == std::string("MSH") && f <= 2), t, ": ", err);  // no parts there
            continue;
          }
          paths.push_back(std::move(p));
        }
      }
    for (const char* t : {".1", ".2", ".3", ".4", ".14", ".40", ".1.1", ".1.2", ".2.1", ".2.2", ".3.3", ".9.9"}) {
      Hl7Path p;
      REQUIRE(parse_hl7_path(t, p, err));
      paths.push_back(std::move(p));
    }
    for (const auto& p : paths) fast_paths += p.shape != Hl7Path::Shape::kGeneral;

    // Scopes: every group; every part of every field of every segment.
    std::vector<Scope> scopes;
    for (const auto& g : m.groups()) scopes.push_back(Scope{Cursor{&g, -1}});
    for (const auto& g : m.groups())
      for (const auto& n : g.children) {
        if (n.segment < 0) continue;
        scopes.push_back(Scope{Cursor{&g, n.segment}});
        for (std::uint16_t f = 0; f <= 12; ++f)
          for (std::uint16_t r = 0; r <= 2; ++r)
            for (std::uint16_t c = 0; c <= 3; ++c)
              for (std::uint16_t s = 0; s <= 2; ++s) {
                Cursor cur{&g, n.segment};
                cur.field = f;
                cur.rep = r;
                cur.comp = c;
                cur.sub = s;
                scopes.push_back(Scope{cur});
              }
      }
    for (const Scope& scope : scopes)
      for (const auto& p : paths) {
        if (p.relative && scope.cursor.segment < 0) continue;
        if (!p.relative && scope.cursor.field != 0) continue;  // absolute reads look at the segment only
        if (!check_same(p, scope, a, b, m)) ++failures;
        REQUIRE(failures < 20);
      }
  }
  CHECK(fast_paths > 1000);
}

TEST_CASE("reads past the part cache's direct index (thousands of fields) and after it grows") {
  // 400 OBX of 20 fields: about 8,000 field spans, past the 4,096 kept by
  // index; later spans are cached by hash. Reads go late-first (the index is
  // sized by the first read) and twice (hits), from each OBX's own scope.
  std::string text = "MSH|^~\\&|A|B|C|D|2024||ORU^R01|C3|P|2.5.1\rPID|1\rOBR|1\r";
  const int kObx = 400, kFields = 20;
  for (int s = 1; s <= kObx; ++s) {
    text += "OBX";
    for (int f = 1; f <= kFields; ++f)
      text += "|a" + std::to_string(s) + "_" + std::to_string(f) + "^b" + std::to_string(s) + "_" + std::to_string(f);
    text += "\r";
  }
  dxnorm::hl7v2::Hl7v2Parser parser;
  dxnorm::hl7v2::Message m;
  REQUIRE(parser.parse(text, m).ok());
  REQUIRE(m.field_spans().size() > 4096 + 1000);
  Ctx c(m);
  std::string err;
  Hl7Path comp2, whole;
  REQUIRE(parse_hl7_path("OBX-" + std::to_string(kFields) + ".2", comp2, err));
  REQUIRE(parse_hl7_path("OBX-3", whole, err));
  std::vector<std::int32_t> obx;
  for (std::size_t i = 0; i < m.segments().size(); ++i)
    if (m.segments()[i].name == "OBX") obx.push_back(static_cast<std::int32_t>(i));
  REQUIRE(obx.size() == static_cast<std::size_t>(kObx));
  int wrong = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int k = kObx; k >= 1; --k) {
      const Scope scope{Cursor{nullptr, obx[static_cast<std::size_t>(k - 1)]}};
      Value v, w;
      const std::string id = std::to_string(k);
      if (!comp2.read_first(scope, c.ctx, v) || v.text != "b" + id + "_" + std::to_string(kFields)) ++wrong;
      if (!whole.read_first(scope, c.ctx, w) || w.text != "a" + id + "_3") ++wrong;
    }
  CHECK(wrong == 0);
}

TEST_CASE("the nearest segment from every group is the first one the general search finds") {
  // SEG-F reads the nearest SEG through the cached walk (the scope group's
  // subtree, then outward once for all siblings of its kind); SEG(1)-F
  // through resolve_segments(), which searches level by level with no cache.
  // Both from every group, in two passes (the second answered from the cache).
  const char* text =
      "MSH|^~\\&|LAB|FAC||DEST|2024||ORU^R01^ORU_R01|C4|P|2.5.1\r"
      "PID|1||P1\r"
      "ORC|RE|O1\r"
      "OBR|1|O1|F1|CODE1\r"
      "OBX|1|NM|A^a||1\r"
      "NTE|1||n1\r"
      "OBX|2|NM|B^b||2\r"
      "SPM|1|S1\r"
      "OBX|3|NM|C^c||3\r"
      "OBR|2|O2|F2|CODE2\r"
      "NTE|1||n2\r"
      "OBX|1|NM|D^d||4\r"
      "ORC|RE|O3\r"
      "OBR|3|O3|F3|CODE3\r"
      "OBX|1|ST|E^e||5\r";
  dxnorm::hl7v2::Hl7v2Parser parser;
  dxnorm::hl7v2::Message m;
  REQUIRE(parser.parse(text, m).ok());
  Ctx a(m), b(m);
  a.ctx.reads.reset(m.leaf_count());
  b.ctx.reads.reset(m.leaf_count());
  std::string err;
  int compared = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (const auto& g : m.groups())
      for (const char* seg : kAbsolute) {
        Hl7Path nearest, first;
        REQUIRE(parse_hl7_path(std::string(seg) + "-3", nearest, err));
        REQUIRE(parse_hl7_path(std::string(seg) + "(1)-3", first, err));
        const Scope scope{Cursor{&g, -1}};
        Value va, vb;
        const bool ra = nearest.read_first(scope, a.ctx, va);
        const bool rb = first.read_first(scope, b.ctx, vb);
        INFO("segment ", seg, " from group ", std::string(g.name), " pass ", pass);
        CHECK(ra == rb);
        if (ra && rb) {
          CHECK(va.text == vb.text);
          CHECK(EvalContext::same(va.cursor, vb.cursor));
        }
        ++compared;
      }
  for (std::size_t s = 0; s < m.segments().size(); ++s)
    for (unsigned f = 0; f < 8; ++f) CHECK(a.ctx.reads.field_read(s, f) == b.ctx.reads.field_read(s, f));
  CHECK(compared > 50);
}
