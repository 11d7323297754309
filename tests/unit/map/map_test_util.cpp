#include "tests/unit/map/map_test_util.h"

#include <unistd.h>

#include <atomic>
#include <fstream>

#include "pipeline/core/fhir_json.h"
#include "pipeline/core/fhir_schema.h"
#include "pipeline/map/mapping_engine.h"
#include "pipeline/map/mapping_loader.h"
#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/parse/hl7v2/message_structure.h"

namespace dxnorm::map::test {

namespace fs = std::filesystem;

const char* kAdt =
    "MSH|^~\\&|APP|FAC|RCV|RFAC|20240715103000||ADT^A01^ADT_A01|CTRL1|P|2.5.1\r"
    "EVN|A01|20240715103000\r"
    "PID|1||12345^^^HOSP^MR~9434765919^^^NHS^NH~777^^^OTHER^PI||DOE^JOHN^Q~SMITH^J||19800102|M|||1 HIGH ST^^LEEDS^^LS1 1AA||0113 496 0000\r"
    "PV1|1|I\r";

const char* kOru =
    "MSH|^~\\&|LAB|FAC|RCV|RFAC|20240115103000||ORU^R01^ORU_R01|CTRL2|P|2.5.1\r"
    "PID|1||12345^^^HOSP^MR||DOE^JANE||19700101|F\r"
    "ORC|RE|PL1^ORD|FI1^LAB\r"
    "OBR|1|PL1^ORD|FI1^LAB|CBC^Blood count^L|||20240115090000\r"
    "OBX|1|NM|HB^Haemoglobin^L||135|g/L^^UCUM|120-160|N|||F\r"
    "NTE|1||first note\r"
    "OBX|2|NM|WBC^White cells^L||4.50|10*9/L^^UCUM|4.0-11.0|N|||F\r"
    "ORC|RE|PL2^ORD|FI2^LAB\r"
    "OBR|2|PL2^ORD|FI2^LAB|CRP^C-reactive protein^L|||20240115091500\r"
    "OBX|1|SN|CRP^CRP^L||<^5|mg/L^^UCUM|||||F\r";

MapDir::MapDir() {
  static std::atomic<int> n{0};
  dir_ = fs::temp_directory_path() / ("dxnorm_map_tests_" + std::to_string(getpid()) + "_" + std::to_string(n++));
  fs::remove_all(dir_);
  fs::create_directories(dir_ / "codes");
  for (const char* policy : {"keep", "default", "drop", "error"}) {
    std::string p = policy;
    std::string text = "table: t-" + p +
                       "\nsource-system: http://example.org/local\ntarget-system: http://example.org/target\nunmapped: " +
                       (p == "keep" ? std::string("keep-original") : p) + "\n";
    if (p == "default") text += "default: {code: UNK, display: Unknown}\n";
    text += "entries:\n  A: {code: X, display: Ex}\n  B: Y\n";
    write("codes/t-" + p + ".yaml", text);
  }
}

MapDir::~MapDir() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string MapDir::write(const std::string& rel, const std::string& text) {
  fs::path p = dir_ / rel;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  return p.string();
}

void MapDir::load_tables() { tables.load_directory((dir_ / "codes").string(), diags); }

std::unique_ptr<CompiledMapping> MapDir::load(const std::string& rel) {
  return load_mapping((dir_ / rel).string(), tables, fhir::FhirSchema::builtin(), hl7v2::StructureRegistry::builtin(),
                      LoaderOptions{}, diags);
}

const rapidjson::Value* RunResult::resource(std::size_t i) const {
  if (!bundle.IsObject() || !bundle.HasMember("entry") || i >= bundle["entry"].Size()) return nullptr;
  return &bundle["entry"][static_cast<rapidjson::SizeType>(i)]["resource"];
}

std::size_t RunResult::count(const std::string& type) const {
  std::size_t n = 0;
  if (!bundle.IsObject() || !bundle.HasMember("entry")) return 0;
  for (const auto& e : bundle["entry"].GetArray())
    if (type == e["resource"]["resourceType"].GetString()) ++n;
  return n;
}

bool RunResult::has_issue(const std::string& code) const {
  for (const auto& i : issues)
    if (i.code == code) return true;
  return false;
}

std::unique_ptr<RunResult> run(const CompiledMapping& mapping, const std::string& message) {
  auto r = std::make_unique<RunResult>();
  hl7v2::Hl7v2Parser parser;
  hl7v2::Message msg;
  Status st = parser.parse(message, msg);
  if (!st.ok()) {
    r->error = st.error().to_string();
    return r;
  }
  MappingEngine engine;
  Output out;
  st = engine.convert(mapping, msg, out, ConvertOptions{false});
  r->issues = out.issues;
  if (!st.ok()) {
    r->error = st.error().to_string();
    return r;
  }
  r->ok = true;
  std::string json = fhir::to_fhir_json(out.bundle);
  r->bundle.Parse<rapidjson::kParseNumbersAsStringsFlag>(json.c_str());
  return r;
}

ExprResults eval_exprs(const std::vector<std::pair<std::string, std::string>>& exprs, const std::string& message,
                       const std::string& zone_line) {
  MapDir dir;
  dir.load_tables();
  std::string y = "mapping: exprs\nversion: '1'\n" + zone_line +
                  "input: {format: hl7v2, messages: [ADT^A01, ORU^R01]}\nresources:\n"
                  "  - name: patient\n    type: Patient\n    id: [\"'fixed'\"]\n    fields:\n      extension:\n";
  for (const auto& [name, e] : exprs) {
    std::string q;
    for (char c : e) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    y += "        - url: " + name + "\n          valueString: \"= " + q + "\"\n";
  }
  dir.write("m.yaml", y);
  ExprResults res;
  auto m = dir.load("m.yaml");
  if (!m) {
    res.load_errors = dir.diags.to_string();
    return res;
  }
  auto r = run(*m, message);
  res.issues = r->issues;
  if (!r->ok) {
    res.load_errors = r->error;
    return res;
  }
  const rapidjson::Value* p = r->resource(0);
  if (p && p->HasMember("extension"))
    for (const auto& x : (*p)["extension"].GetArray())
      if (x.HasMember("valueString")) res.values[x["url"].GetString()] = x["valueString"].GetString();
  return res;
}

}  // namespace dxnorm::map::test
