// dxnorm convert: files of HL7 v2 / EDIFACT / DICOM JSON messages -> FHIR R4
// Bundles (and the NHSACK an EDIFACT interchange asked for).
#include <Poco/Util/Option.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "pipeline/cli/cli_common.h"
#include "pipeline/core/fhir_json.h"
#include "pipeline/publish/message_converter.h"

namespace dxnorm::cli {

namespace fs = std::filesystem;
using Poco::Util::Option;

namespace {

const char* kUsage = "[--mapping NAME] [--mappings DIR] [--out DIR] [--format bundle|ndjson] INPUT...";

Poco::Util::OptionSet convert_options() {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("mapping", "m", "use this mapping (by name, e.g. hl7v2-oru-r01, or a .yaml file) for every message instead of routing by MSH-9")
                  .argument("NAME"));
  o.addOption(Option("mappings", "M", "mappings directory (default: $DXNORM_MAPPINGS, ./mappings, or the shipped ones)")
                  .argument("DIR"));
  o.addOption(Option("out", "o", "write one file per message to DIR as <input name>.<n>.json (default: stdout)")
                  .argument("DIR"));
  o.addOption(Option("format", "f", "bundle (one transaction Bundle per message, default) or ndjson (one resource per line)")
                  .argument("FORMAT"));
  o.addOption(Option("input-format", "i", "input format of every file (hl7v2, ...); default: guessed from each file's content")
                  .argument("FORMAT"));
  o.addOption(Option("pretty", "p", "indent the JSON"));
  o.addOption(Option("no-validate", "", "skip FHIR validation (for debugging mappings only)"));
  o.addOption(Option("unmapped-fields", "", "also report every non-empty field that no rule read (default: segments only)"));
  o.addOption(Option("quiet", "q", "print errors only (no warnings or unmapped report)"));
  o.addOption(Option("trace", "t", "for every FHIR element, the mapping rule (file:line:column) that wrote it and the "
                                   "input it came from: <output>.trace.tsv beside each file with --out, else on stderr"));
  return o;
}

// The reply an input asked for (an EDIFACT interchange with UNB-9 = 1: the
// NHSACK `dxnorm run` would publish to outputs.ack-topic): with --out,
// <input name>.ack.edi beside the Bundles; else on stderr, after a line
// saying what it is.
void write_acknowledgement(const publish::InputFormat& fmt, const std::string& file, std::string_view data,
                           const Error* split_error, const std::vector<publish::MessageOutcome>& outcomes,
                           const std::string& out_dir, bool quiet) {
  auto ack = fmt.acknowledge(data, split_error, outcomes);
  if (!ack) return;
  if (!out_dir.empty()) {
    fs::path p = fs::path(out_dir) / (fs::path(file).filename().string() + ".ack.edi");
    std::ofstream f(p, std::ios::binary);
    f << ack->payload;
    if (!quiet) std::cerr << file << ": info: acknowledgement " << ack->status << " written to " << p.string() << '\n';
    return;
  }
  std::cerr << file << ": info: acknowledgement " << ack->status
            << " (what dxnorm run would send to outputs.ack-topic):\n"
            << ack->payload << '\n';
}

void write_ndjson(const rapidjson::Value& bundle, std::ostream& os) {
  if (!bundle.HasMember("entry")) return;
  for (const auto& e : bundle["entry"].GetArray()) {
    os << fhir::to_fhir_json(e["resource"]) << '\n';
  }
}

}  // namespace

int convert_main(const std::vector<std::string>& args) {
  auto opts = convert_options();
  ParsedArgs pa;
  if (!parse_args(args, opts, pa, "convert", kUsage)) return 2;
  if (pa.has("help")) {
    print_help(opts, "convert", kUsage,
               "Converts HL7 v2 messages (single messages, batch files FHS/BHS, MLLP-framed files; a directory means "
               "every file below it) to FHIR R4. Each message is routed to a mapping by MSH-9 and the sending "
               "application/facility, mapped, validated, and written as a transaction Bundle. Errors go to stderr "
               "with the file, message number and location; the other messages are still converted.\n"
               "EDIFACT interchanges (NHS003 pathology) give one Bundle per UNH...UNT message. When an interchange "
               "asks for an acknowledgement (UNB ... ++1), the NHSACK (NHS001) that dxnorm run would publish to "
               "outputs.ack-topic is written too: with --out as <input name>.ack.edi beside the Bundles, else on "
               "stderr (IAF accepted, IAP partially accepted, IRA all rejected, IRI/IRM interchange rejected).",
               "Exit status: 0 all converted, 1 any message failed, 2 bad usage or mappings that do not load.\n"
               "Examples:\n"
               "  dxnorm convert tests/fixtures/hl7v2/oru_r01_cbc.hl7\n"
               "  dxnorm convert --out out/ --format ndjson examples/\n"
               "  dxnorm convert --mapping hl7v2-oru-r01 --pretty message.hl7\n"
               "  dxnorm convert --out out/ interchange.edi   # out/interchange.edi.<n>.json + interchange.edi.ack.edi\n");
    return 0;
  }
  if (pa.positional.empty()) {
    std::cerr << "dxnorm convert: no input files\nusage: dxnorm convert " << kUsage << "\n";
    return 2;
  }
  std::string format = pa.get("format", "bundle");
  if (format != "bundle" && format != "ndjson") {
    std::cerr << "dxnorm convert: --format is bundle or ndjson\n";
    return 2;
  }
  bool pretty = pa.has("pretty");
  bool quiet = pa.has("quiet");
  bool fields = pa.has("unmapped-fields");
  std::string out_dir = pa.get("out");
  if (!out_dir.empty()) fs::create_directories(out_dir);

  std::shared_ptr<const map::MappingSet> set;
  publish::ConverterOptions copts;
  copts.validate = !pa.has("no-validate");
  copts.trace = pa.has("trace");
  try {
    map::Diagnostics warnings;
    std::string mapping = pa.get("mapping");
    std::string dir = pa.get("mappings", default_mappings_dir());
    if (mapping.size() > 5 && mapping.ends_with(".yaml")) {
      set = map::MappingSet::load_files({mapping}, dir + "/codes", map::LoaderOptions{}, &warnings);
      copts.forced_mapping = set->mappings().front()->name;
    } else {
      set = map::MappingSet::load(dir, map::LoaderOptions{}, &warnings);
      copts.forced_mapping = mapping;
    }
    if (!quiet)
      for (const auto& w : warnings.items()) std::cerr << w.to_string() << '\n';
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm convert: mappings failed to load (" << e.diagnostics.items().size()
              << " problem(s))\n";
    return 2;
  }
  validate::FhirValidator validator;
  publish::MessageConverter converter(set, validator, copts);
  map::Output out;
  publish::MessageInfo info;

  std::string error;
  auto files = expand_inputs(pa.positional, error);
  if (!error.empty()) {
    std::cerr << "dxnorm convert: " << error << "\n";
    return 2;
  }
  std::size_t ok = 0, failed = 0;
  for (const auto& file : files) {
    std::string data;
    if (!read_file(file, data)) {
      std::cerr << file << ": error: cannot read\n";
      ++failed;
      continue;
    }
    const publish::InputFormat* fmt = pa.has("input-format") ? publish::find_input_format(pa.get("input-format"))
                                                             : publish::detect_input_format(data);
    if (!fmt) {
      std::cerr << file << ": error: unknown or unsupported input format"
                << (pa.has("input-format") ? " '" + pa.get("input-format") + "'" : std::string()) << '\n';
      ++failed;
      continue;
    }
    auto split = fmt->split(data);
    if (!split.ok()) {
      std::cerr << file << ": error: " << split.error().to_string() << '\n';
      ++failed;
      write_acknowledgement(*fmt, file, data, &split.error(), {}, out_dir, quiet);
      continue;
    }
    if (!quiet)
      for (const auto& i : split->issues)
        std::cerr << file << ": " << to_string(i.severity) << ": " << i.code << " at " << i.location << ": "
                  << i.message << '\n';
    std::size_t n = 0;
    std::vector<publish::MessageOutcome> outcomes;
    for (std::string_view msg : split->messages) {
      ++n;
      Status st = converter.convert(fmt->name(), msg, out, info);
      outcomes.push_back(st.ok() ? publish::MessageOutcome{}
                                 : publish::MessageOutcome{false, std::string(to_string(st.error().stage)) + " " +
                                                                      st.error().error_code +
                                                                      (st.error().location.empty()
                                                                           ? ""
                                                                           : " at " + st.error().location)});
      std::string where = file + "#" + std::to_string(n) +
                          (info.control_id.empty() ? "" : " (control id " + info.control_id + ")");
      if (!st.ok()) {
        ++failed;
        std::cerr << where << ": error: " << st.error().to_string() << '\n';
        continue;
      }
      ++ok;
      if (!quiet) {
        std::string unmapped_segments, unmapped_fields;
        for (const auto& i : out.issues) {
          if (i.code == "UNMAPPED_SEGMENT") {
            unmapped_segments += (unmapped_segments.empty() ? "" : ", ") + i.location;
          } else if (i.code == "UNMAPPED_FIELD") {
            unmapped_fields += (unmapped_fields.empty() ? "" : ", ") + i.location;
          } else {
            std::cerr << where << ": " << to_string(i.severity) << ": " << i.code
                      << (i.location.empty() ? "" : " at " + i.location) << ": " << i.message << '\n';
          }
        }
        if (!unmapped_segments.empty())
          std::cerr << where << ": info: segments no rule read: " << unmapped_segments << '\n';
        if (fields && !unmapped_fields.empty())
          std::cerr << where << ": info: fields no rule read: " << unmapped_fields << '\n';
      }
      std::ostream* os = &std::cout;
      std::ofstream f;
      if (!out_dir.empty()) {
        std::string name = fs::path(file).filename().string() + "." + std::to_string(n) +
                           (format == "ndjson" ? ".ndjson" : ".json");
        f.open(fs::path(out_dir) / name, std::ios::binary);
        os = &f;
      }
      if (format == "bundle") *os << fhir::to_fhir_json(out.bundle, pretty) << '\n';
      else write_ndjson(out.bundle, *os);
      if (copts.trace) {
        std::ofstream tf;
        std::ostream* ts = &std::cerr;
        if (!out_dir.empty()) {
          tf.open(fs::path(out_dir) / (fs::path(file).filename().string() + "." + std::to_string(n) + ".trace.tsv"),
                  std::ios::binary);
          ts = &tf;
          *ts << "fhir_path\trule\tinput\n";
        }
        for (const auto& t : out.trace)
          *ts << (out_dir.empty() ? "trace: " : "") << t.fhir_path << '\t' << t.rule << '\t' << t.input << '\n';
      }
    }
    write_acknowledgement(*fmt, file, data, nullptr, outcomes, out_dir, quiet);
  }
  if (!quiet || failed)
    std::cerr << "dxnorm convert: " << ok << " message(s) converted, " << failed << " failed\n";
  return failed ? 1 : 0;
}

}  // namespace dxnorm::cli
