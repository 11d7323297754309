// dxnorm replay: re-run a slice of a raw topic, or the dead-letter topic,
// through the current mappings (engine: pipeline/runtime/replay.h).
#include <Poco/Util/Option.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_log.h"
#include "pipeline/cli/cli_common.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/replay.h"

namespace dxnorm::cli {

using Poco::Util::Option;

namespace {

std::set<std::string> split_set(const std::vector<std::string>& values) {
  std::set<std::string> out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.insert(item);
  }
  return out;
}

std::string hms(double s) {
  if (s < 0) return "--:--";
  auto t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

void draw_bar(const runtime::ReplayProgress& p) {
  const int width = 30;
  double frac = p.total ? std::min(1.0, static_cast<double>(p.done) / static_cast<double>(p.total)) : 1.0;
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '.');
  std::fprintf(stderr, "\r[%s] %llu/%llu %3d%% %.0f msg/s ETA %s   ", bar.c_str(),
               static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total),
               static_cast<int>(frac * 100), p.rate, hms(p.eta_s).c_str());
  std::fflush(stderr);
}

}  // namespace

int replay_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("config", "c", "configuration file, as for dxnorm run (default: $DXNORM_CONFIG, ./config/dxnorm.yaml, or the shipped one)").argument("FILE"));
  o.addOption(Option("topic", "t", "raw input topic to replay, e.g. --topic hl7v2.in").argument("TOPIC"));
  o.addOption(Option("dead-letters", "", "replay the dead-letter topic of the config (re-drive failed messages); still-broken ones stay there"));
  o.addOption(Option("partitions", "p", "only these partitions, e.g. --partitions 0,3 (default: all)").argument("LIST"));
  o.addOption(Option("from-offset", "", "first offset, for every partition or per partition: --from-offset 1200, --from-offset 0:1200,3:90").argument("OFFSETS"));
  o.addOption(Option("to-offset", "", "end offset, exclusive (default: the high watermark at start): --to-offset 5000, --to-offset 0:5000").argument("OFFSETS"));
  o.addOption(Option("from", "", "first record time, ISO-8601: --from 2026-11-01T00:00Z (found with offsets-for-times, or a binary search on record timestamps where the broker cannot)").argument("TIME"));
  o.addOption(Option("to", "", "end time, exclusive, ISO-8601: --to 2026-11-02T06:30+00:00").argument("TIME"));
  o.addOption(Option("message-type", "m", "only these message types (repeatable or comma-separated): --message-type ORU^R01").argument("TYPE").repeatable(true));
  o.addOption(Option("sending-application", "", "only messages from these sending applications (MSH-3.1): --sending-application WINPATH").argument("APP").repeatable(true));
  o.addOption(Option("sending-facility", "", "only messages from these sending facilities (MSH-4.1): --sending-facility RBH").argument("FACILITY").repeatable(true));
  o.addOption(Option("control-ids", "", "only the message control ids (MSH-10) listed in FILE, one a line: --control-ids ids.txt").argument("FILE"));
  o.addOption(Option("error-code", "", "dead letters only: those with this dxnorm-error-code: --error-code CODE_UNMAPPED").argument("CODE").repeatable(true));
  o.addOption(Option("error-stage", "", "dead letters only: those failed at this stage (parse, route, map, validate): --error-stage map").argument("STAGE").repeatable(true));
  o.addOption(Option("dry-run", "n", "convert and report (would succeed/fail, resources, errors by code and location); publish nothing"));
  o.addOption(Option("compare", "", "with --dry-run: read the per-type FHIR topics and tell created, changed and unchanged resources apart"));
  o.addOption(Option("to-topic", "", "re-publish the raw records unchanged to TOPIC for a running pipeline instead of converting: --to-topic hl7v2.in").argument("TOPIC"));
  o.addOption(Option("max-rate", "r", "read at most N records per second: --max-rate 500").argument("N"));
  o.addOption(Option("resume", "", "write the position (next offset per partition) to FILE every second and at stop; resume from it when it exists: --resume /var/tmp/replay.pos").argument("FILE"));
  o.addOption(Option("mappings", "", "mappings directory (default: the config's): --mappings /etc/dxnorm/mappings-fixed").argument("DIR"));
  o.addOption(Option("format", "f", "input format of a topic not listed in the config: --format hl7v2").argument("FORMAT"));
  o.addOption(Option("mapping", "", "force this mapping for every message: --mapping hl7v2-oru-r01").argument("NAME"));
  o.addOption(Option("workers", "w", "converter threads (default: the config's workers): --workers 2").argument("N"));
  o.addOption(Option("bootstrap", "b", "bootstrap.servers when the config has none: --bootstrap kafka1:9092").argument("SERVERS"));
  o.addOption(Option("bootstrap-file", "", "file holding the embedded broker's address (default from config): --bootstrap-file dxnorm-bootstrap.txt").argument("FILE"));
  o.addOption(Option("property", "X", "librdkafka property NAME=VALUE for consumer and producer (repeatable): -X security.protocol=SSL").argument("NAME=VALUE").repeatable(true));
  const char* usage = "(--topic T | --dead-letters) [range] [filters] [--dry-run | --to-topic T] [--resume FILE]";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "replay", usage)) return 2;
  if (pa.has("help")) {
    print_help(
        o, "replay", usage,
        "Re-runs a slice of history through the current mappings: a raw input topic (all or some partitions, "
        "an offset or time range) or the dead-letter topic (re-drive after a mapping fix). By default it "
        "publishes exactly what dxnorm run publishes (Bundle and per-type topics, same keys and headers) plus a "
        "'replay-of: topic/partition/offset' header; deterministic ids make a repeated replay update resources, "
        "never duplicate them. Failures are dead-lettered as in run, except when re-driving the dead-letter "
        "topic: still-broken messages stay where they are. It reads with its own partition assignment and a "
        "throwaway group id, and never commits offsets (the live pipeline's consumer group is untouched). It "
        "refuses to write into the topic it reads. Progress: a bar on a terminal, periodic lines otherwise; "
        "Ctrl-C stops after finishing and flushing what was read (and writes --resume). Exit status: 0 when "
        "nothing failed, 1 when a message failed (or would, with --dry-run), 2 for bad usage or configuration.",
        "Examples:\n"
        "  dxnorm replay --topic hl7v2.in --from 2026-11-01T00:00Z --to 2026-11-02T00:00Z --dry-run\n"
        "  dxnorm replay --topic hl7v2.in --partitions 2 --from-offset 1200 --to-offset 1500\n"
        "  dxnorm replay --dead-letters --error-code CODE_UNMAPPED --mappings mappings-fixed/ --resume redrive.pos\n"
        "  dxnorm replay --topic hl7v2.in --message-type ORU^R01 --sending-facility RBH --max-rate 200\n"
        "  dxnorm replay --topic hl7v2.archive --to-topic hl7v2.in --control-ids ids.txt\n");
    return 0;
  }
  if (!pa.positional.empty()) {
    std::cerr << "dxnorm replay: unexpected argument '" << pa.positional.front() << "'\nusage: dxnorm replay " << usage << "\n";
    return 2;
  }
  if (pa.has("topic") == pa.has("dead-letters")) {
    std::cerr << "dxnorm replay: give either --topic T or --dead-letters\nusage: dxnorm replay " << usage << "\n";
    return 2;
  }
  if (pa.has("dry-run") && pa.has("to-topic")) {
    std::cerr << "dxnorm replay: --dry-run and --to-topic exclude each other\n";
    return 2;
  }
  if (pa.has("compare") && !pa.has("dry-run")) {
    std::cerr << "dxnorm replay: --compare goes with --dry-run\n";
    return 2;
  }

  runtime::RunConfig cfg;
  try {
    cfg = runtime::RunConfig::load(pa.get("config", default_config_file()));
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm replay: configuration has errors\n";
    return 2;
  }
  runtime::set_log_level(runtime::LogLevel::kWarning);
  kafka::set_log_handler([](int level, std::string_view msg) {
    if (level <= kafka::kLogWarning) std::cerr << "kafka: " << msg << '\n';
  });
  for (const auto& p : pa.all("property")) {
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      std::cerr << "dxnorm replay: --property wants NAME=VALUE\n";
      return 2;
    }
    cfg.kafka[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (pa.has("bootstrap")) cfg.kafka["bootstrap.servers"] = pa.get("bootstrap");
  if (cfg.embedded()) {
    std::string file = pa.get("bootstrap-file", cfg.bootstrap_file);
    std::string text;
    if (!read_file(file, text)) {
      std::cerr << "dxnorm replay: no bootstrap.servers in " << cfg.file << ", no --bootstrap, and cannot read "
                << file << " (is dxnorm run or dxnorm broker running?)\n";
      return 2;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    cfg.kafka["bootstrap.servers"] = text;
  }

  runtime::ReplayOptions ro;
  try {
    ro.source_topic = pa.has("dead-letters") ? cfg.dead_letter_topic : pa.get("topic");
    for (const auto& p : split_set(pa.all("partitions"))) {
      auto b = runtime::OffsetBound::parse(p);  // a plain non-negative integer
      ro.partitions.push_back(static_cast<std::int32_t>(*b.all));
    }
    if (pa.has("from-offset")) ro.from_offset = runtime::OffsetBound::parse(pa.get("from-offset"));
    if (pa.has("to-offset")) ro.to_offset = runtime::OffsetBound::parse(pa.get("to-offset"));
    if (pa.has("from")) ro.from_time_ms = runtime::parse_iso8601_ms(pa.get("from"));
    if (pa.has("to")) ro.to_time_ms = runtime::parse_iso8601_ms(pa.get("to"));
    if (pa.has("max-rate")) ro.max_rate = std::stod(pa.get("max-rate"));
    if (pa.has("workers")) ro.workers = std::stoi(pa.get("workers"));
  } catch (const std::exception& e) {
    std::cerr << "dxnorm replay: " << e.what() << '\n';
    return 2;
  }
  ro.format = pa.get("format");
  ro.mapping = pa.get("mapping");
  ro.message_types = split_set(pa.all("message-type"));
  ro.sending_applications = split_set(pa.all("sending-application"));
  ro.sending_facilities = split_set(pa.all("sending-facility"));
  ro.error_codes = split_set(pa.all("error-code"));
  ro.error_stages = split_set(pa.all("error-stage"));
  if (pa.has("control-ids")) {
    std::string text;
    if (!read_file(pa.get("control-ids"), text)) {
      std::cerr << "dxnorm replay: cannot read " << pa.get("control-ids") << '\n';
      return 2;
    }
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty() && line[0] != '#') ro.control_ids.insert(line);
    }
    if (ro.control_ids.empty()) {
      std::cerr << "dxnorm replay: " << pa.get("control-ids") << " lists no control ids\n";
      return 2;
    }
  }
  ro.mode = pa.has("dry-run") ? runtime::ReplayMode::kDryRun
            : pa.has("to-topic") ? runtime::ReplayMode::kRawToTopic
                                 : runtime::ReplayMode::kConvert;
  ro.to_topic = pa.get("to-topic");
  ro.compare_existing = pa.has("compare");
  ro.resume_file = pa.get("resume");

  std::shared_ptr<const map::MappingSet> mappings;
  const std::string mappings_dir = pa.get("mappings", cfg.mappings_dir);
  try {
    map::LoaderOptions lo;
    lo.default_zone = cfg.source_zone;
    mappings = map::MappingSet::load(mappings_dir, lo);
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm replay: mappings failed to load from " << mappings_dir << "\n";
    return 2;
  }

  // Signals: Ctrl-C / SIGTERM stop reading; what was read is finished.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::atomic<runtime::Replay*> current{nullptr};
  std::thread([set, &current]() mutable {
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "\ndxnorm replay: stopping (finishing and flushing what was read)...\n";
    if (auto* r = current.load()) r->stop();
  }).detach();

  try {
    runtime::Replay replay(cfg, mappings, ro);
    struct Unpublish {  // destroyed before `replay`: the signal thread never sees a dead one
      std::atomic<runtime::Replay*>& ptr;
      ~Unpublish() { ptr = nullptr; }
    } unpublish{current};
    const bool tty = ::isatty(2) != 0;
    replay.progress_interval = tty ? std::chrono::milliseconds(200) : std::chrono::seconds(5);
    replay.on_progress = [tty](const runtime::ReplayProgress& p) {
      if (tty) {
        draw_bar(p);
      } else {
        std::fprintf(stderr, "replay: %llu/%llu records, %.0f msg/s, elapsed %s, ETA %s\n",
                     static_cast<unsigned long long>(p.done), static_cast<unsigned long long>(p.total), p.rate,
                     hms(p.elapsed_s).c_str(), hms(p.eta_s).c_str());
      }
    };
    current = &replay;
    std::cerr << "replaying " << ro.source_topic << " with mappings " << mappings->version() << " from "
              << mappings_dir << (ro.mode == runtime::ReplayMode::kDryRun ? " (dry run)" : "") << "\n";
    runtime::ReplayReport report = replay.run();
    if (tty) std::cerr << "\n";
    std::cout << runtime::format_report(report, ro.mode);
    return report.exit_status();
  } catch (const runtime::ReplayError& e) {
    std::cerr << "dxnorm replay: " << e.what() << '\n';
    return 2;
  } catch (const kafka::KafkaConfigError& e) {
    std::cerr << "dxnorm replay: " << e.what() << '\n';
    return 2;
  }
}

}  // namespace dxnorm::cli
