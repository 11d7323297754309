// dxnorm: NHS diagnostics messages -> FHIR R4 on Kafka.
#include <iostream>
#include <string>
#include <vector>

#include "pipeline/cli/cli_common.h"

namespace dxnorm::cli {
int replay_main(const std::vector<std::string>& args);  // replay_command.cpp
}

namespace {

void usage(std::ostream& os) {
  os << "dxnorm " DXNORM_VERSION " - diagnostics messages (HL7 v2, NHS003 EDIFACT, DICOM JSON) to FHIR R4\n\n"
        "usage: dxnorm <command> [options] [args]\n\n"
        "commands:\n"
        "  run       run the pipeline: Kafka in, FHIR out (embedded broker by default)\n"
        "  convert   convert message files to FHIR Bundles (stdout or --out DIR)\n"
        "  publish   put raw messages on a Kafka topic, one record per message\n"
        "  replay    re-run a slice of a topic (or the dead letters) through the current mappings\n"
        "  lint      check configuration and mappings (file:line:column: severity: message)\n"
        "  test      run the mapping fixtures (<mapping>.tests/)\n"
        "  broker    run the embedded Kafka broker standalone\n"
        "\n"
        "Run 'dxnorm <command> --help' for the options of a command.\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::cout << "dxnorm " DXNORM_VERSION "\n";
    return 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "convert") return dxnorm::cli::convert_main(args);
    if (cmd == "run") return dxnorm::cli::run_main(args);
    if (cmd == "publish") return dxnorm::cli::publish_main(args);
    if (cmd == "broker") return dxnorm::cli::broker_main(args);
    if (cmd == "replay") return dxnorm::cli::replay_main(args);
    if (cmd == "lint") return dxnorm::cli::lint_main(args);
    if (cmd == "test") return dxnorm::cli::test_main(args);
  } catch (const std::exception& e) {
    std::cerr << "dxnorm " << cmd << ": " << e.what() << '\n';
    return 2;
  }
  std::cerr << "dxnorm: unknown command '" << cmd << "'\n";
  usage(std::cerr);
  return 2;
}
