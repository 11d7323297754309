// Golden tests: cases/<name>.hl7 -> the shipped mappings -> compared as JSON
// with cases/<name>.expected.json, or with cases/<name>.expected-error.txt
// ("<stage> <ERROR_CODE>[ at <location>]") for input that must be rejected.
//
// A case file holds one message or several (batch / file envelopes, MLLP
// frames); with several, the expected JSON is an array of Bundles in order.
// Numbers are compared as written (1.10 is not 1.1). Paths listed in
// volatile-paths.txt are ignored. DXNORM_UPDATE_GOLDENS=1 rewrites the
// expected files instead of comparing.
//
// Reads only the repository (mappings/ and tests/golden/), never /work/shared.
#include <doctest/doctest.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/core/fhir_json.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/validate/fhir_validator.h"

namespace fs = std::filesystem;
using namespace dxnorm;

namespace {

const fs::path kDir = fs::path(DXNORM_GOLDEN_DIR);

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

bool update_mode() {
  const char* v = std::getenv("DXNORM_UPDATE_GOLDENS");
  return v && std::string(v) == "1";
}

std::vector<std::regex> volatile_paths() {
  std::vector<std::regex> out;
  std::istringstream in(slurp(kDir / "volatile-paths.txt"));
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::string re;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line.compare(i, 3, "[*]") == 0) {
        re += "\\[[0-9]+\\]";
        i += 2;
      } else if (line[i] == '*') {
        re += "[^.\\[]+";
      } else if (std::string("\\^$.|?+()[]{}").find(line[i]) != std::string::npos) {
        re += '\\';
        re += line[i];
      } else {
        re += line[i];
      }
    }
    out.emplace_back(re);
  }
  return out;
}

std::string render(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  std::string s = sb.GetString();
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

// Structural comparison; numbers arrive as strings (kParseNumbersAsStringsFlag)
// so their lexical form is compared. Differences are appended to `diffs`.
void compare(const rapidjson::Value& exp, const rapidjson::Value& act, const std::string& path,
             const std::vector<std::regex>& ignore, std::vector<std::string>& diffs) {
  for (const auto& re : ignore)
    if (std::regex_match(path, re)) return;
  auto report = [&](const std::string& what) {
    diffs.push_back((path.empty() ? std::string("(root)") : path) + ": " + what + "\n    expected: " +
                    render(exp) + "\n    actual:   " + render(act));
  };
  if (exp.GetType() != act.GetType()) return report("different JSON types");
  if (exp.IsObject()) {
    for (auto it = exp.MemberBegin(); it != exp.MemberEnd(); ++it) {
      std::string p = path.empty() ? it->name.GetString() : path + "." + it->name.GetString();
      auto a = act.FindMember(it->name);
      if (a == act.MemberEnd()) {
        bool skip = false;
        for (const auto& re : ignore) skip = skip || std::regex_match(p, re);
        if (!skip) diffs.push_back(p + ": missing in actual\n    expected: " + render(it->value));
        continue;
      }
      compare(it->value, a->value, p, ignore, diffs);
    }
    for (auto it = act.MemberBegin(); it != act.MemberEnd(); ++it) {
      if (exp.HasMember(it->name)) continue;
      std::string p = path.empty() ? it->name.GetString() : path + "." + it->name.GetString();
      bool skip = false;
      for (const auto& re : ignore) skip = skip || std::regex_match(p, re);
      if (!skip) diffs.push_back(p + ": not expected\n    actual:   " + render(it->value));
    }
    return;
  }
  if (exp.IsArray()) {
    if (exp.Size() != act.Size())
      report("array length " + std::to_string(exp.Size()) + " expected, " + std::to_string(act.Size()) + " actual");
    for (rapidjson::SizeType i = 0; i < std::min(exp.Size(), act.Size()); ++i)
      compare(exp[i], act[i], path + "[" + std::to_string(i) + "]", ignore, diffs);
    return;
  }
  if (exp != act) report("different values");
}

struct CaseRun {
  std::string json;    // the Bundle, or an array of Bundles when the file holds several messages
  std::string error;   // "<stage> <CODE>[ at <location>]" of the first failure
  std::vector<std::string> ids;  // every resource id, in order
};

class Converter {
 public:
  Converter()
      : set_(map::MappingSet::load(DXNORM_SOURCE_DIR "/mappings", map::LoaderOptions{})),
        converter_(set_, validator_) {}

  CaseRun run(const std::string& input) {
    CaseRun r;
    auto split = hl7v2::split_messages(input);
    if (!split.ok()) {
      r.error = describe(split.error());
      return r;
    }
    std::vector<std::string> bundles;
    for (std::string_view msg : split->messages) {
      map::Output out;
      publish::MessageInfo info;
      Status st = converter_.convert(msg, out, info);
      if (!st.ok()) {
        r.error = describe(st.error());
        return r;
      }
      bundles.push_back(fhir::to_fhir_json(out.bundle, true));
      for (const auto& res : out.resources) r.ids.push_back(res.id);
    }
    if (bundles.size() == 1) {
      r.json = bundles.front();
    } else {
      r.json = "[\n";
      for (std::size_t i = 0; i < bundles.size(); ++i) r.json += bundles[i] + (i + 1 < bundles.size() ? ",\n" : "\n");
      r.json += "]";
    }
    return r;
  }

 private:
  static std::string describe(const Error& e) {
    std::string s = std::string(to_string(e.stage)) + " " + e.error_code;
    if (!e.location.empty()) s += " at " + e.location;
    return s;
  }

  std::shared_ptr<const map::MappingSet> set_;
  validate::FhirValidator validator_;
  publish::MessageConverter converter_;
};

std::vector<fs::path> cases() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kDir / "cases"))
    if (e.path().extension() == ".hl7") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string first_line(std::string s) {
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("golden: every case converts to its expected Bundle or fails with its expected error") {
  const auto ignore = volatile_paths();
  Converter conv;
  const auto all = cases();
  REQUIRE(all.size() >= 15);
  for (const fs::path& hl7 : all) {
    const std::string name = hl7.stem().string();
    const fs::path json_path = kDir / "cases" / (name + ".expected.json");
    const fs::path err_path = kDir / "cases" / (name + ".expected-error.txt");
    CAPTURE(name);
    CaseRun r = conv.run(slurp(hl7));
    if (update_mode()) {
      if (!r.error.empty()) {
        spit(err_path, r.error + "\n");
        fs::remove(json_path);
      } else {
        spit(json_path, r.json + "\n");
        fs::remove(err_path);
      }
      MESSAGE("rewrote golden for " << name);
      continue;
    }
    if (fs::exists(err_path)) {
      CHECK_MESSAGE(r.error == first_line(slurp(err_path)),
                    name << ": expected error '" << first_line(slurp(err_path)) << "', got '"
                         << (r.error.empty() ? std::string("success") : r.error) << "'");
      continue;
    }
    REQUIRE_MESSAGE(fs::exists(json_path), name << ": no " << json_path.filename().string()
                                                << " (run with DXNORM_UPDATE_GOLDENS=1 after reviewing the output)");
    if (!r.error.empty()) {
      FAIL_CHECK(name << ": expected a Bundle, conversion failed: " << r.error);
      continue;
    }
    rapidjson::Document exp, act;
    exp.Parse<rapidjson::kParseNumbersAsStringsFlag>(slurp(json_path).c_str());
    act.Parse<rapidjson::kParseNumbersAsStringsFlag>(r.json.c_str());
    REQUIRE_MESSAGE(!exp.HasParseError(), name << ": expected file is not valid JSON");
    REQUIRE_MESSAGE(!act.HasParseError(), name << ": output is not valid JSON");
    std::vector<std::string> diffs;
    compare(exp, act, "", ignore, diffs);
    std::string text;
    for (std::size_t i = 0; i < diffs.size() && i < 25; ++i) text += "  " + diffs[i] + "\n";
    if (diffs.size() > 25) text += "  ... " + std::to_string(diffs.size() - 25) + " more\n";
    CHECK_MESSAGE(diffs.empty(), name << ": " << diffs.size() << " difference(s) from the golden:\n" << text);
  }
}

TEST_CASE("golden: converting the same message twice gives identical ids and Bundles") {
  Converter a, b;
  for (const fs::path& hl7 : cases()) {
    const std::string input = slurp(hl7);
    CAPTURE(hl7.filename().string());
    CaseRun r1 = a.run(input);
    CaseRun r2 = a.run(input);  // same converter, reused state
    CaseRun r3 = b.run(input);  // a fresh converter
    CHECK(r1.ids == r2.ids);
    CHECK(r1.ids == r3.ids);
    CHECK(r1.json == r2.json);
    CHECK(r1.json == r3.json);
    CHECK(r1.error == r3.error);
  }
}
