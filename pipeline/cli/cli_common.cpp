#include "pipeline/cli/cli_common.h"

#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/OptionException.h>
#include <Poco/Util/OptionProcessor.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace dxnorm::cli {

namespace fs = std::filesystem;

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
  std::vector<std::string> r;
  auto [a, b] = options.equal_range(name);
  for (auto it = a; it != b; ++it) r.push_back(it->second);
  return r;
}

bool parse_args(const std::vector<std::string>& args, const Poco::Util::OptionSet& opts, ParsedArgs& out,
                const std::string& command, const std::string& usage) {
  Poco::Util::OptionProcessor proc(opts);
  proc.setUnixStyle(true);
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      std::string name, value;
      if (a == "--") {
        for (++i; i < args.size(); ++i) out.positional.push_back(args[i]);
        break;
      }
      if (a.size() > 1 && a[0] == '-') {
        // Poco wants "--name=value"; accept "--name value" too for options that take an argument.
        std::string arg = a;
        if (a.rfind("--", 0) == 0 && a.find('=') == std::string::npos) {
          std::string n = a.substr(2);
          for (const auto& o : opts)
            if (o.fullName() == n && o.takesArgument() && i + 1 < args.size()) {
              arg = a + "=" + args[++i];
              break;
            }
        } else if (a.size() == 2 && a[0] == '-' && a[1] != '-') {
          for (const auto& o : opts)
            if (o.shortName() == a.substr(1) && o.takesArgument() && i + 1 < args.size()) {
              arg = a + args[++i];
              break;
            }
        }
        if (!proc.process(arg, name, value)) {
          std::cerr << "dxnorm " << command << ": unexpected argument '" << a << "'\n";
          return false;
        }
        if (!name.empty()) out.options.emplace(name, value);
      } else {
        out.positional.push_back(a);
      }
    }
    proc.checkRequired();
  } catch (const Poco::Util::OptionException& e) {
    std::cerr << "dxnorm " << command << ": " << e.displayText() << "\nusage: dxnorm " << command << " " << usage
              << "\n(see dxnorm " << command << " --help)\n";
    return false;
  }
  return true;
}

void print_help(const Poco::Util::OptionSet& opts, const std::string& command, const std::string& usage,
                const std::string& description, const std::string& examples) {
  Poco::Util::HelpFormatter hf(opts);
  hf.setUnixStyle(true);
  hf.setCommand("dxnorm " + command);
  hf.setUsage(usage);
  hf.setHeader(description);
  hf.setFooter(examples);
  hf.setWidth(100);
  hf.format(std::cout);
}

std::string default_mappings_dir() {
  if (const char* e = std::getenv("DXNORM_MAPPINGS")) return e;
  if (fs::is_directory("mappings") && fs::exists("mappings/codes")) return "mappings";
  return std::string(DXNORM_SOURCE_DIR) + "/mappings";
}

std::string default_config_file() {
  if (const char* e = std::getenv("DXNORM_CONFIG")) return e;
  if (fs::exists("config/dxnorm.yaml")) return "config/dxnorm.yaml";
  return std::string(DXNORM_SOURCE_DIR) + "/config/dxnorm.yaml";
}

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, std::string& error) {
  std::vector<std::string> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (auto it = fs::recursive_directory_iterator(in, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec))
        if (it->is_regular_file()) found.push_back(it->path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in, ec) || in == "-") {
      files.push_back(in);
    } else {
      error = "input not found: " + in;
      return {};
    }
  }
  return files;
}

bool read_file(const std::string& path, std::string& out) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    out = ss.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace dxnorm::cli
