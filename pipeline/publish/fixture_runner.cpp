#include "pipeline/publish/fixture_runner.h"

#include <rapidjson/document.h>
#include <rapidjson/writer.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pipeline/core/fhir_json.h"
#include "pipeline/publish/input_format.h"

namespace dxnorm::publish {

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }

std::string first_line(std::string s) {
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

bool is_expectation(const fs::path& p) {
  std::string n = p.filename().string();
  auto ends = [&](std::string_view suf) { return n.size() > suf.size() && n.ends_with(suf); };
  return ends(".expected.json") || ends(".expected-error.txt") || ends(".expect.yaml") || n == "volatile-paths.txt" ||
         ends(".md") || n[0] == '.';
}

std::string render(const rapidjson::Value& v) {
  std::string s = fhir::to_fhir_json(v);
  return s.size() > 200 ? s.substr(0, 200) + "..." : s;
}

// Volatile-path pattern: "[*]" matches any array index, "*" one name.
bool path_matches(std::string_view pat, std::string_view path) {
  std::size_t i = 0, j = 0;
  while (i < pat.size()) {
    if (pat.compare(i, 3, "[*]") == 0) {
      if (j >= path.size() || path[j] != '[') return false;
      ++j;
      std::size_t d = j;
      while (j < path.size() && std::isdigit(static_cast<unsigned char>(path[j]))) ++j;
      if (j == d || j >= path.size() || path[j] != ']') return false;
      ++j;
      i += 3;
    } else if (pat[i] == '*') {
      std::size_t d = j;
      while (j < path.size() && path[j] != '.' && path[j] != '[') ++j;
      if (j == d) return false;
      ++i;
    } else {
      if (j >= path.size() || path[j] != pat[i]) return false;
      ++i;
      ++j;
    }
  }
  return j == path.size();
}

bool ignored(const std::vector<std::string>& ignore, const std::string& path) {
  for (const auto& p : ignore)
    if (path_matches(p, path)) return true;
  return false;
}

std::string describe(const Error& e) {
  std::string s = std::string(to_string(e.stage)) + " " + e.error_code;
  if (!e.location.empty()) s += " at " + e.location;
  return s;
}

// ---- assertion paths over a Bundle ----
void collect(const rapidjson::Value& v, std::vector<const rapidjson::Value*>& out) {
  if (v.IsArray())
    for (const auto& x : v.GetArray()) out.push_back(&x);
  else
    out.push_back(&v);
}

std::string scalar_text(const rapidjson::Value& v) {
  if (v.IsString()) {
    if (fhir::is_raw_number(v)) return std::string(fhir::raw_number_text(v));
    return v.GetString();
  }
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  if (v.IsNumber()) {
    std::ostringstream ss;
    ss << v.GetDouble();
    return ss.str();
  }
  return render(v);
}

// Evaluates `Type.a.b[n].where(k='v').c` against the Bundle.
bool eval_path(const rapidjson::Value& bundle, const std::string& path, std::vector<const rapidjson::Value*>& out,
               std::string& error) {
  // Split on '.' outside parentheses.
  std::vector<std::string> parts;
  std::string cur;
  int depth = 0;
  for (char c : path) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == '.' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  if (parts.empty() || parts[0].empty()) {
    error = "empty path";
    return false;
  }
  std::vector<const rapidjson::Value*> set;
  // The first segment may pick one resource of its type: Observation[1].
  std::string type = parts[0];
  int type_index = -1;
  if (auto br = type.find('['); br != std::string::npos && type.back() == ']') {
    type_index = std::stoi(type.substr(br + 1, type.size() - br - 2));
    type.resize(br);
  }
  if (type == "Bundle") {
    set.push_back(&bundle);
  } else if (bundle.HasMember("entry")) {
    for (const auto& e : bundle["entry"].GetArray())
      if (e.HasMember("resource") && e["resource"].HasMember("resourceType") &&
          type == e["resource"]["resourceType"].GetString())
        set.push_back(&e["resource"]);
  }
  if (type_index >= 0) {
    std::vector<const rapidjson::Value*> one;
    if (static_cast<std::size_t>(type_index) < set.size()) one.push_back(set[static_cast<std::size_t>(type_index)]);
    set.swap(one);
  }
  for (std::size_t i = 1; i < parts.size(); ++i) {
    std::string p = parts[i];
    std::vector<const rapidjson::Value*> next;
    if (p.rfind("where(", 0) == 0 && p.back() == ')') {
      std::string cond = p.substr(6, p.size() - 7);
      auto eq = cond.find('=');
      if (eq == std::string::npos) {
        error = "where() needs name='value'";
        return false;
      }
      std::string k = cond.substr(0, eq), val = cond.substr(eq + 1);
      if (val.size() >= 2 && (val.front() == '\'' || val.front() == '"')) val = val.substr(1, val.size() - 2);
      for (const auto* v : set)
        if (v->IsObject() && v->HasMember(k.c_str()) && scalar_text((*v)[k.c_str()]) == val) next.push_back(v);
      set.swap(next);
      continue;
    }
    int index = -1;
    auto br = p.find('[');
    if (br != std::string::npos && p.back() == ']') {
      index = std::stoi(p.substr(br + 1, p.size() - br - 2));
      p.resize(br);
    }
    for (const auto* v : set) {
      if (!v->IsObject() || !v->HasMember(p.c_str())) continue;
      const auto& child = (*v)[p.c_str()];
      if (index >= 0) {
        if (child.IsArray() && static_cast<rapidjson::SizeType>(index) < child.Size())
          next.push_back(&child[static_cast<rapidjson::SizeType>(index)]);
      } else {
        collect(child, next);
      }
    }
    set.swap(next);
  }
  out = std::move(set);
  return true;
}

}  // namespace

void compare_json(const rapidjson::Value& exp, const rapidjson::Value& act, const std::string& path,
                  const std::vector<std::string>& ignore, std::vector<std::string>& diffs) {
  if (!path.empty() && ignored(ignore, path)) return;
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
        if (!ignored(ignore, p)) diffs.push_back(p + ": missing in actual\n    expected: " + render(it->value));
        continue;
      }
      compare_json(it->value, a->value, p, ignore, diffs);
    }
    for (auto it = act.MemberBegin(); it != act.MemberEnd(); ++it) {
      if (exp.HasMember(it->name)) continue;
      std::string p = path.empty() ? it->name.GetString() : path + "." + it->name.GetString();
      if (!ignored(ignore, p)) diffs.push_back(p + ": not expected\n    actual:   " + render(it->value));
    }
    return;
  }
  if (exp.IsArray()) {
    if (exp.Size() != act.Size())
      report("array length " + std::to_string(exp.Size()) + " expected, " + std::to_string(act.Size()) + " actual");
    for (rapidjson::SizeType i = 0; i < std::min(exp.Size(), act.Size()); ++i)
      compare_json(exp[i], act[i], path + "[" + std::to_string(i) + "]", ignore, diffs);
    return;
  }
  if (exp != act) report("different values");
}

std::vector<std::string> volatile_paths_for(const fs::path& dir) {
  std::vector<std::string> out;
  for (fs::path d = fs::absolute(dir); !d.empty(); d = d.parent_path()) {
    fs::path f = d / "volatile-paths.txt";
    if (fs::exists(f)) {
      std::istringstream in(slurp(f));
      std::string line;
      while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.pop_back();
        if (!line.empty() && line[0] != '#') out.push_back(line);
      }
      break;
    }
    if (d == d.root_path()) break;
  }
  return out;
}

FixtureRunner::FixtureRunner(std::shared_ptr<const map::MappingSet> mappings, const validate::FhirValidator& validator,
                             FixtureOptions options)
    : mappings_(mappings),
      converter_(mappings, validator,
                 [&] {
                   ConverterOptions o;
                   o.forced_mapping = options.forced_mapping;
                   return o;
                 }()),
      options_(std::move(options)) {}

std::vector<fs::path> FixtureRunner::find_cases(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_regular_file(dir, ec)) return {dir};
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file() && !is_expectation(it->path())) out.push_back(it->path());
  std::sort(out.begin(), out.end());
  return out;
}

FixtureRunner::Conversion FixtureRunner::convert(const std::string& input) {
  Conversion r;
  const InputFormat* fmt = detect_input_format(input);
  if (!fmt) {
    r.error = "parse FORMAT_UNKNOWN";
    return r;
  }
  auto split = fmt->split(input);
  if (!split.ok()) {
    r.error = describe(split.error());
    return r;
  }
  std::vector<std::string> bundles;
  map::Output out;
  MessageInfo info;
  for (std::string_view msg : split->messages) {
    Status st = converter_.convert(fmt->name(), msg, out, info);
    if (!st.ok()) {
      r.error = describe(st.error());
      return r;
    }
    bundles.push_back(fhir::to_fhir_json(out.bundle, true));
    for (const auto& res : out.resources) r.ids.emplace_back(res.id);
    r.issues.insert(r.issues.end(), out.issues.begin(), out.issues.end());
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

FixtureOutcome FixtureRunner::run(const fs::path& input) {
  FixtureOutcome o;
  o.name = input.string();
  const fs::path dir = input.parent_path();
  const std::string stem = input.stem().string();
  const fs::path json_path = dir / (stem + ".expected.json");
  const fs::path err_path = dir / (stem + ".expected-error.txt");
  const fs::path yaml_path = dir / (stem + ".expect.yaml");
  Conversion r = convert(slurp(input));
  for (const auto& i : r.issues)
    if (i.code == "UNMAPPED_SEGMENT" || i.code == "UNMAPPED_FIELD") o.unmapped.push_back(i.location);
  auto fail = [&](std::string s) { o.failures.push_back(std::move(s)); };

  // expect.yaml: error, warnings, assertions.
  YAML::Node expect;
  if (fs::exists(yaml_path)) {
    try {
      expect = YAML::LoadFile(yaml_path.string());
    } catch (const YAML::Exception& e) {
      fail(yaml_path.string() + ":" + std::to_string(e.mark.line + 1) + ": YAML: " + e.msg);
      return o;
    }
  }
  const bool yaml_error = expect.IsMap() && expect["error"];
  if (options_.update && !yaml_error) {
    // Rewrite the expected output from what the mappings give now; the
    // expect.yaml assertions are still checked below (they are not rewritten).
    if (!r.error.empty()) {
      spit(err_path, r.error + "\n");
      fs::remove(json_path);
      o.updated = true;
      o.passed = true;
      return o;
    }
    if (fs::exists(json_path) || !expect.IsMap()) {
      spit(json_path, r.json + "\n");
      fs::remove(err_path);
      o.updated = true;
    }
  }
  if (yaml_error || (!options_.update && fs::exists(err_path))) {
    std::string want;
    if (yaml_error) {
      const auto& e = expect["error"];
      want = e["stage"] ? e["stage"].as<std::string>() + " " : std::string();
      want += e["code"] ? e["code"].as<std::string>() : std::string();
    } else {
      want = first_line(slurp(err_path));
    }
    bool ok = yaml_error ? (!r.error.empty() && r.error.rfind(want, 0) == 0) : r.error == want;
    if (!ok) fail("expected error '" + want + "', got " + (r.error.empty() ? "success" : "'" + r.error + "'"));
    o.passed = o.failures.empty();
    return o;
  }
  if (!r.error.empty()) {
    fail("conversion failed: " + r.error);
    return o;
  }
  if (!o.updated && fs::exists(json_path)) {
    rapidjson::Document exp, act;
    exp.Parse<rapidjson::kParseNumbersAsStringsFlag>(slurp(json_path).c_str());
    act.Parse<rapidjson::kParseNumbersAsStringsFlag>(r.json.c_str());
    if (exp.HasParseError()) {
      fail(json_path.string() + ": not valid JSON");
    } else {
      std::vector<std::string> diffs;
      compare_json(exp, act, "", volatile_paths_for(dir), diffs);
      for (auto& d : diffs) fail(std::move(d));
    }
  } else if (!o.updated && !expect.IsMap()) {
    fail("no " + json_path.filename().string() + " (write it with --update after reviewing the output)");
  }
  if (expect.IsMap()) {
    if (const auto& w = expect["warnings"]) {
      for (const auto& code : w) {
        std::string c = code.as<std::string>();
        bool found = std::any_of(r.issues.begin(), r.issues.end(), [&](const Issue& i) { return i.code == c; });
        if (!found) fail("expected a " + c + " warning");
      }
    }
    if (const auto& asserts = expect["assert"]) {
      // Assertions look at the first Bundle of the input.
      rapidjson::Document doc;
      doc.Parse(r.json.c_str());
      const rapidjson::Value& bundle = doc.IsArray() && doc.Size() ? doc[0] : static_cast<const rapidjson::Value&>(doc);
      for (const auto& a : asserts) {
        std::string path = a["path"] ? a["path"].as<std::string>() : std::string();
        std::vector<const rapidjson::Value*> vals;
        std::string err;
        if (!eval_path(bundle, path, vals, err)) {
          fail(yaml_path.filename().string() + ":" + std::to_string(a.Mark().line + 1) + ": bad path '" + path + "': " + err);
          continue;
        }
        if (a["equals"]) {
          std::string want = a["equals"].as<std::string>();
          std::string got = vals.empty() ? std::string("(nothing)") : scalar_text(*vals.front());
          if (vals.empty() || got != want)
            fail(path + ": different values\n    expected: " + want + "\n    actual:   " + got);
        }
        if (a["count"]) {
          std::size_t want = a["count"].as<std::size_t>();
          if (vals.size() != want)
            fail(path + ": count\n    expected: " + std::to_string(want) + "\n    actual:   " + std::to_string(vals.size()));
        }
        if (a["exists"]) {
          bool want = a["exists"].as<bool>();
          if (want != !vals.empty())
            fail(path + ": exists\n    expected: " + std::string(want ? "true" : "false") + "\n    actual:   " +
                 std::string(vals.empty() ? "false" : "true"));
        }
      }
    }
  }
  o.passed = o.failures.empty();
  return o;
}

}  // namespace dxnorm::publish
