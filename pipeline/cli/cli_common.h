// Shared plumbing of the dxnorm sub-commands: option parsing (Poco), locating
// the shipped mappings, reading inputs. Start-up code: may throw.
#pragma once

#include <Poco/Util/OptionSet.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dxnorm::cli {

struct ParsedArgs {
  std::multimap<std::string, std::string> options;  // full option name -> value ("" for flags)
  std::vector<std::string> positional;
  bool has(const std::string& name) const { return options.count(name) > 0; }
  std::string get(const std::string& name, const std::string& def = "") const {
    auto it = options.find(name);
    return it == options.end() ? def : it->second;
  }
  std::vector<std::string> all(const std::string& name) const;
};

// Parses argv (after the sub-command) against `opts`. Prints the error and
// usage to stderr and returns false on a bad command line.
bool parse_args(const std::vector<std::string>& args, const Poco::Util::OptionSet& opts, ParsedArgs& out,
                const std::string& command, const std::string& usage);
void print_help(const Poco::Util::OptionSet& opts, const std::string& command, const std::string& usage,
                const std::string& description, const std::string& examples);

// mappings/ to use by default: $DXNORM_MAPPINGS, ./mappings, then the source tree's.
std::string default_mappings_dir();
std::string default_config_file();

// Expands files and directories (every regular file below, sorted).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, std::string& error);
bool read_file(const std::string& path, std::string& out);

int convert_main(const std::vector<std::string>& args);
int run_main(const std::vector<std::string>& args);
int broker_main(const std::vector<std::string>& args);
int publish_main(const std::vector<std::string>& args);
int lint_main(const std::vector<std::string>& args);
int test_main(const std::vector<std::string>& args);

}  // namespace dxnorm::cli
