// dxnorm test: runs the fixtures kept beside the mappings.
#include <Poco/Util/Option.h>

#include <filesystem>
#include <iostream>

#include "pipeline/cli/cli_common.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/fixture_runner.h"
#include "pipeline/validate/fhir_validator.h"

namespace dxnorm::cli {

namespace fs = std::filesystem;
using Poco::Util::Option;

int test_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("mappings", "M", "mappings directory (default: $DXNORM_MAPPINGS, ./mappings, or the shipped ones)")
                  .argument("DIR"));
  o.addOption(Option("update", "u", "rewrite the expected files from the current output (after a deliberate change)"));
  o.addOption(Option("unmapped", "", "list, per case, the segments and fields that no rule read"));
  o.addOption(Option("verbose", "v", "print passing cases too"));
  const char* usage = "[--mappings DIR] [--update] [PATHS...]";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "test", usage)) return 2;
  if (pa.has("help")) {
    print_help(o, "test", usage,
               "Runs mapping fixtures: for a mapping <name>.yaml, the cases in <name>.tests/ (an input file "
               "<case>.hl7 / .edi / .json beside <case>.expected.json, or <case>.expected-error.txt, and optionally "
               "<case>.expect.yaml with expected errors, warnings and assertions such as "
               "{path: Observation.valueQuantity.value, equals: \"95\"}). Each case is converted with that mapping "
               "and compared as JSON; a failure prints the FHIR path, the expected and the actual value. PATHS may "
               "be mapping files, .tests directories, case files or directories to search; by default every "
               "*.tests directory under the mappings directory.",
               "Exit status: 0 all passed, 1 any failed, 2 bad usage or mappings that do not load.\n"
               "Examples:\n  dxnorm test\n  dxnorm test mappings/hl7v2/oru_r01.yaml\n  dxnorm test --update mappings/hl7v2/oru_r01.tests/\n");
    return 0;
  }
  std::string dir = pa.get("mappings", default_mappings_dir());
  std::shared_ptr<const map::MappingSet> set;
  try {
    set = map::MappingSet::load(dir, map::LoaderOptions{});
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm test: mappings failed to load\n";
    return 2;
  }
  // (tests dir, forced mapping) pairs
  std::vector<std::pair<fs::path, std::string>> suites;
  auto mapping_for = [&](const fs::path& tests_dir) -> std::string {
    fs::path yaml = tests_dir;
    yaml.replace_extension(".yaml");
    for (const auto& m : set->mappings())
      if (fs::exists(yaml) && fs::equivalent(m->file, yaml)) return m->name;
    return {};
  };
  auto add_dir = [&](const fs::path& p) {
    if (p.extension() == ".tests") {
      suites.emplace_back(p, mapping_for(p));
      return;
    }
    bool found = false;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory() && it->path().extension() == ".tests") {
        suites.emplace_back(it->path(), mapping_for(it->path()));
        found = true;
      }
    if (!found) suites.emplace_back(p, std::string());  // a plain directory of cases, routed
  };
  std::vector<std::string> inputs = pa.positional;
  if (inputs.empty()) inputs.push_back(dir);
  for (const auto& in : inputs) {
    fs::path p(in);
    if (fs::is_directory(p)) add_dir(p);
    else if (p.extension() == ".yaml") {
      fs::path t = p;
      t.replace_extension(".tests");
      if (!fs::is_directory(t)) {
        std::cerr << "dxnorm test: " << p.string() << " has no fixtures directory " << t.string() << "\n";
        return 2;
      }
      suites.emplace_back(t, mapping_for(t));
    } else if (fs::is_regular_file(p)) {
      suites.emplace_back(p, mapping_for(p.parent_path()));
    } else {
      std::cerr << "dxnorm test: no such file or directory: " << in << "\n";
      return 2;
    }
  }
  validate::FhirValidator validator;
  std::size_t passed = 0, failed = 0, updated = 0;
  for (const auto& [path, mapping] : suites) {
    publish::FixtureOptions fo;
    fo.update = pa.has("update");
    fo.forced_mapping = mapping;
    publish::FixtureRunner runner(set, validator, fo);
    for (const auto& c : publish::FixtureRunner::find_cases(path)) {
      auto r = runner.run(c);
      if (r.updated) ++updated;
      if (r.passed) {
        ++passed;
        if (pa.has("verbose") || r.updated) std::cout << (r.updated ? "UPDATED " : "PASS ") << c.string() << '\n';
      } else {
        ++failed;
        std::cout << "FAIL " << c.string() << '\n';
        for (std::size_t i = 0; i < r.failures.size() && i < 30; ++i) std::cout << "  " << r.failures[i] << '\n';
        if (r.failures.size() > 30) std::cout << "  ... " << r.failures.size() - 30 << " more\n";
      }
      if (pa.has("unmapped") && !r.unmapped.empty()) {
        std::cout << "  unmapped in " << c.filename().string() << ":";
        for (const auto& u : r.unmapped) std::cout << ' ' << u;
        std::cout << '\n';
      }
    }
  }
  if (updated) std::cout << updated << " expected file(s) rewritten: review them with git diff\n";
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed ? 1 : 0;
}

}  // namespace dxnorm::cli
