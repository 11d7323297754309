// dxnorm lint: checks configuration and mappings without running anything.
#include <Poco/Util/Option.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "pipeline/cli/cli_common.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::cli {

namespace fs = std::filesystem;
using Poco::Util::Option;

namespace {

bool looks_like_config(const std::string& path) {
  std::string text;
  if (!read_file(path, text)) return false;
  return text.find("\ninputs:") != std::string::npos || text.rfind("inputs:", 0) == 0 ||
         text.find("\nkafka:") != std::string::npos || text.rfind("kafka:", 0) == 0;
}

// The code tables a mapping file or directory uses: the `codes/` of the
// nearest directory (itself or above) that has one.
std::string codes_dir_for(const fs::path& p) {
  for (fs::path d = fs::absolute(fs::is_directory(p) ? p : p.parent_path()); !d.empty(); d = d.parent_path()) {
    if (fs::is_directory(d / "codes")) return fs::proximate(d / "codes").string();
    if (d == d.root_path()) break;
  }
  return (fs::path(default_mappings_dir()) / "codes").string();
}

std::vector<std::string> yaml_files_under(const fs::path& dir) {
  std::vector<std::string> r;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".yaml") continue;
    bool skip = false;
    for (const auto& part : fs::relative(it->path(), dir))
      skip = skip || part == "codes" || part == "fragments" || part.string().ends_with(".tests");
    if (!skip) r.push_back(it->path().string());
  }
  std::sort(r.begin(), r.end());
  return r;
}

}  // namespace

int lint_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("config", "c", "configuration file (default: $DXNORM_CONFIG, ./config/dxnorm.yaml, or the shipped one)")
                  .argument("FILE"));
  o.addOption(Option("mappings", "M", "mappings directory (default: the config's `mappings`)").argument("DIR"));
  o.addOption(Option("werror", "", "treat warnings as errors (exit 1)"));
  const char* usage = "[--config FILE] [--mappings DIR] [PATHS...]";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "lint", usage)) return 2;
  if (pa.has("help")) {
    print_help(o, "lint", usage,
               "Checks the configuration and the mappings without running anything and prints every problem at "
               "once as file:line:column: severity: message (the format editors and CI annotate). Beyond what "
               "loading checks (unknown keys, paths that cannot exist, unknown FHIR elements, functions, tables, "
               "resources) it reports: conditions that are constant (rules that never fire), elements written "
               "twice, code tables with duplicate or conflicting entries or that no mapping uses, mappings no input "
               "routes to, mappings without fixtures. PATHS may be config files, mapping files or directories.",
               "Exit status: 0 clean (warnings allowed), 1 any error (or warning with --werror), 2 bad usage.\n"
               "Examples:\n  dxnorm lint\n  dxnorm lint mappings/hl7v2/oru_r01.yaml\n  dxnorm lint --config /etc/dxnorm/dxnorm.yaml\n");
    return 0;
  }
  map::Diagnostics all;
  std::vector<std::string> config_files, mapping_files, mapping_dirs;
  for (const auto& p : pa.positional) {
    if (fs::is_directory(p)) mapping_dirs.push_back(p);
    else if (looks_like_config(p)) config_files.push_back(p);
    else if (fs::is_regular_file(p)) mapping_files.push_back(p);
    else {
      std::cerr << "dxnorm lint: no such file or directory: " << p << "\n";
      return 2;
    }
  }
  if (pa.has("config") || (config_files.empty() && mapping_files.empty() && mapping_dirs.empty()))
    config_files.push_back(pa.get("config", default_config_file()));

  std::vector<runtime::RunConfig> configs;
  for (const auto& c : config_files) {
    try {
      configs.push_back(runtime::RunConfig::load(c));
    } catch (const map::LoadFailure& e) {
      for (const auto& d : e.diagnostics.items()) all.add(d);
    }
  }
  if (pa.has("mappings")) mapping_dirs.push_back(pa.get("mappings"));
  if (mapping_dirs.empty() && mapping_files.empty())
    mapping_dirs.push_back(configs.empty() ? default_mappings_dir() : configs.front().mappings_dir);

  map::LoaderOptions lo;
  lo.lint = true;
  if (!configs.empty()) lo.default_zone = configs.front().source_zone;
  std::vector<std::shared_ptr<const map::MappingSet>> sets;
  auto load = [&](auto&& fn) {
    map::Diagnostics warnings;
    try {
      sets.push_back(fn(warnings));
      for (const auto& d : warnings.items()) all.add(d);
    } catch (const map::LoadFailure& e) {
      for (const auto& d : e.diagnostics.items()) all.add(d);
    }
  };
  for (const auto& dir : mapping_dirs) {
    if (fs::is_directory(fs::path(dir) / "codes"))
      load([&](map::Diagnostics& w) { return map::MappingSet::load(dir, lo, &w); });
    else  // a sub-directory of a mappings tree: its files, with the tree's code tables
      load([&](map::Diagnostics& w) { return map::MappingSet::load_files(yaml_files_under(dir), codes_dir_for(dir), lo, &w); });
  }
  if (!mapping_files.empty())
    load([&](map::Diagnostics& w) {
      return map::MappingSet::load_files(mapping_files, codes_dir_for(mapping_files.front()), lo, &w);
    });

  // Routes: every mapping should be reachable from some input, and every
  // input's forced mapping should exist.
  for (const auto& cfg : configs) {
    for (const auto& set : sets) {
      for (const auto& m : set->mappings()) {
        bool routed = false;
        for (const auto& in : cfg.inputs)
          if (in.format == m->format && (in.mapping.empty() || in.mapping == m->name)) routed = true;
        if (!routed) {
          map::Diagnostic d;
          d.severity = map::Diagnostic::Severity::kWarning;
          d.file = m->file;
          d.line = 1;
          d.column = 1;
          d.message = "no input of " + cfg.file + " routes to mapping '" + m->name + "' (format " + m->format + ")";
          all.add(d);
        }
        fs::path tests = fs::path(m->file).replace_extension(".tests");
        if (!fs::is_directory(tests)) {
          map::Diagnostic d;
          d.severity = map::Diagnostic::Severity::kWarning;
          d.file = m->file;
          d.line = 1;
          d.column = 1;
          d.message = "mapping '" + m->name + "' has no fixtures (" + tests.filename().string() + "/; see dxnorm test)";
          all.add(d);
        }
      }
      for (const auto& in : cfg.inputs)
        if (!in.mapping.empty() && !set->find(in.mapping)) {
          map::Diagnostic d;
          d.file = cfg.file;
          d.line = in.line;
          d.column = in.column;
          d.message = "input " + in.topic + " names mapping '" + in.mapping + "', which does not exist";
          all.add(d);
        }
    }
  }

  std::vector<map::Diagnostic> items = all.items();
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  items.erase(std::unique(items.begin(), items.end(),
                          [](const auto& a, const auto& b) { return a.to_string() == b.to_string(); }),
              items.end());
  std::size_t errors = 0, warnings = 0;
  for (const auto& d : items) {
    std::cout << d.to_string() << '\n';
    (d.severity == map::Diagnostic::Severity::kError ? errors : warnings)++;
  }
  std::cout << errors << " error(s), " << warnings << " warning(s)\n";
  return errors || (warnings && pa.has("werror")) ? 1 : 0;
}

}  // namespace dxnorm::cli
