// dxnorm run / dxnorm broker / dxnorm publish: the Kafka commands.
#include <Poco/Util/Option.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_publish.h"
#include "pipeline/cli/cli_common.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/runtime/http_endpoints.h"
#include "pipeline/runtime/json_log.h"
#include "pipeline/runtime/mapping_reloader.h"
#include "pipeline/runtime/pipeline_runner.h"

namespace dxnorm::cli {

using Poco::Util::Option;
namespace fs = std::filesystem;

namespace {

// Blocks SIGINT/SIGTERM/SIGHUP in the calling thread (and every thread
// started after), and returns a thread that waits for them: SIGHUP calls
// `on_hup` and keeps waiting; SIGINT/SIGTERM call `on_stop` and end it.
std::thread signal_thread(std::function<void(int)> on_stop, std::function<void()> on_hup) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return std::thread([set, on_stop, on_hup]() mutable {
    while (true) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        on_hup();
        continue;
      }
      on_stop(sig);
      return;
    }
  });
}

void route_kafka_logs() {
  kafka::set_log_handler([](int level, std::string_view msg) {
    runtime::LogLevel l = level <= 3 ? runtime::LogLevel::kError
                          : level == 4 ? runtime::LogLevel::kWarning
                          : level <= 6 ? runtime::LogLevel::kInfo
                                       : runtime::LogLevel::kDebug;
    runtime::log(l, "kafka", {{"detail", std::string(msg)}});
  });
}

}  // namespace

int run_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("config", "c", "configuration file (default: $DXNORM_CONFIG, ./config/dxnorm.yaml, or the shipped one)").argument("FILE"));
  o.addOption(Option("http-port", "", "override http.port (0: any free port)").argument("PORT"));
  o.addOption(Option("bootstrap-file", "", "where the embedded broker's address is written (default from config)").argument("FILE"));
  const char* usage = "[--config FILE]";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "run", usage)) return 2;
  if (pa.has("help")) {
    print_help(o, "run", usage,
               "Runs the pipeline: consumes raw messages from the configured input topics (a consumer group), "
               "converts them with the mappings and publishes FHIR R4: one transaction Bundle per message to "
               "the bundle topic and each resource to fhir.<Type>, keyed Type/id; failures go to the dead-letter "
               "topic with the reason in headers. Offsets are committed only after delivery. Without "
               "kafka.properties.bootstrap.servers in the config, an embedded broker (librdkafka's mock cluster, "
               "memory only) is started and its address written to the bootstrap file. SIGINT/SIGTERM stop it "
               "cleanly. SIGHUP reloads mappings and code tables (and, with reload.watch, so does any change of "
               "their files): a new set goes live only if it loads and passes its fixtures. "
               "HTTP: /metrics, /healthz, /readyz.",
               "Examples:\n  dxnorm run\n  dxnorm run --config /etc/dxnorm/dxnorm.yaml\n");
    return 0;
  }
  std::string cfg_path = pa.get("config", default_config_file());
  runtime::RunConfig cfg;
  try {
    cfg = runtime::RunConfig::load(cfg_path);
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm run: configuration has errors\n";
    return 2;
  }
  if (pa.has("http-port")) cfg.http_port = std::stoi(pa.get("http-port"));
  if (pa.has("bootstrap-file")) cfg.bootstrap_file = pa.get("bootstrap-file");
  runtime::set_log_level(runtime::parse_log_level(cfg.log_level));
  route_kafka_logs();

  std::shared_ptr<const map::MappingSet> mappings;
  try {
    map::Diagnostics warnings;
    map::LoaderOptions lo;
    lo.default_zone = cfg.source_zone;
    mappings = map::MappingSet::load(cfg.mappings_dir, lo, &warnings);
    for (const auto& w : warnings.items()) std::cerr << w.to_string() << '\n';
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what() << "dxnorm run: mappings failed to load\n";
    return 2;
  }
  // Cross-checks between config and mappings, with the config's locations.
  {
    map::Diagnostics d;
    for (const auto& in : cfg.inputs)
      if (!in.mapping.empty() && !mappings->find(in.mapping)) {
        map::Diagnostic x;
        x.file = cfg.file;
        x.line = in.line;
        x.column = in.column;
        x.message = "input " + in.topic + " names mapping '" + in.mapping + "', which is not in " + cfg.mappings_dir;
        d.add(x);
      }
    if (d.has_errors()) {
      std::cerr << d.to_string() << "dxnorm run: configuration has errors\n";
      return 2;
    }
  }

  std::atomic<runtime::PipelineRunner*> runner_ptr{nullptr};
  std::atomic<runtime::MappingReloader*> reloader_ptr{nullptr};
  std::atomic<bool> stop_early{false};
  std::thread sig = signal_thread(
      [&](int s) {
        runtime::log(runtime::LogLevel::kInfo, "signal received; stopping", {{"signal", std::to_string(s)}});
        stop_early = true;
        if (auto* r = runner_ptr.load()) r->stop();
      },
      [&] {
        if (auto* r = reloader_ptr.load()) r->reload("SIGHUP");
      });
  sig.detach();

  std::unique_ptr<kafka::EmbeddedBroker> broker;
  try {
    if (cfg.embedded()) {
      broker = std::make_unique<kafka::EmbeddedBroker>(cfg.embedded_brokers);
      for (const auto& t : cfg.all_topics())
        broker->create_topic({t, cfg.embedded_partitions_for(t), std::min(cfg.embedded_brokers, 3)});
      cfg.kafka["bootstrap.servers"] = broker->bootstraps();
      broker->write_bootstraps(cfg.bootstrap_file);
      std::cerr << kafka::embedded_broker_warning() << "\n";
      std::cout << "embedded broker: " << broker->bootstraps() << " (address written to " << cfg.bootstrap_file
                << ")" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "dxnorm run: embedded broker: " << e.what() << '\n';
    return 1;
  }

  runtime::Metrics metrics;
  runtime::PipelineRunner runner(cfg, mappings, metrics);
  std::unique_ptr<runtime::HttpEndpoints> http;
  try {
    http = std::make_unique<runtime::HttpEndpoints>(cfg.http_address, cfg.http_port, metrics,
                                                    [&runner] { return runner.ready(); });
  } catch (const std::exception& e) {
    std::cerr << "dxnorm run: HTTP endpoints on " << cfg.http_address << ":" << cfg.http_port << ": " << e.what()
              << " (set http.port, or --http-port 0)\n";
    return 1;
  }
  std::cout << "inputs:";
  for (const auto& in : cfg.inputs) std::cout << ' ' << in.topic << " (" << in.format << ")";
  std::cout << "\noutputs: " << cfg.bundle_topic << " (Bundles)";
  if (cfg.per_resource_topics) std::cout << ", " << cfg.resource_topic_prefix << "<ResourceType> (resources, keyed Type/id)";
  std::cout << "\ndead letters: " << cfg.dead_letter_topic << "\nmappings: " << mappings->mappings().size()
            << " loaded from " << cfg.mappings_dir << " (version " << mappings->version() << ")"
            << "\nhttp: http://" << cfg.http_address << ":" << http->port() << "/metrics /healthz /readyz"
            << std::endl;
  runtime::MappingReloader reloader(cfg, mappings->version(), metrics,
                                    [&runner](std::shared_ptr<const map::MappingSet> set) { runner.set_mappings(std::move(set)); });
  reloader_ptr = &reloader;
  if (cfg.reload_watch) reloader.start_watch(std::chrono::milliseconds(cfg.reload_interval_ms));
  runner_ptr = &runner;
  if (stop_early) runner.stop();
  int rc = 1;
  try {
    rc = runner.run();
  } catch (const std::exception& e) {
    std::cerr << "dxnorm run: " << e.what() << '\n';
    rc = 1;
  }
  runner_ptr = nullptr;
  reloader_ptr = nullptr;
  reloader.stop();
  http->stop();
  return rc;
}

int broker_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("config", "c", "create the topics of this configuration (default: the shipped one)").argument("FILE"));
  o.addOption(Option("brokers", "b", "number of brokers (default from config, 1)").argument("N"));
  o.addOption(Option("bootstrap-file", "", "write the bootstrap address here").argument("FILE"));
  o.addOption(Option("topic", "t", "create an extra topic NAME[:PARTITIONS] (repeatable)").argument("TOPIC").repeatable(true));
  const char* usage = "[--config FILE] [--topic NAME[:N]]...";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "broker", usage)) return 2;
  if (pa.has("help")) {
    print_help(o, "broker", usage,
               "Runs the embedded Kafka broker (librdkafka's mock cluster, real Kafka protocol on 127.0.0.1) "
               "standalone, so that dxnorm run, dxnorm publish, kcat and other Kafka clients can connect. It "
               "keeps data in memory only. Stops on SIGINT/SIGTERM.",
               "Example:\n  dxnorm broker --bootstrap-file /tmp/bootstrap.txt &\n"
               "  kcat -b $(cat /tmp/bootstrap.txt) -L\n");
    return 0;
  }
  runtime::RunConfig cfg;
  try {
    cfg = runtime::RunConfig::load(pa.get("config", default_config_file()));
  } catch (const map::LoadFailure& e) {
    std::cerr << e.what();
    return 2;
  }
  kafka::BrokerOptions bo;
  bo.brokers = pa.has("brokers") ? std::stoi(pa.get("brokers")) : cfg.embedded_brokers;
  bo.bootstrap_file = pa.get("bootstrap-file", cfg.bootstrap_file);
  for (const auto& t : cfg.all_topics()) bo.topics.push_back({t, cfg.embedded_partitions_for(t), 1});
  for (const auto& t : pa.all("topic")) {
    auto c = t.find(':');
    bo.topics.push_back({t.substr(0, c), c == std::string::npos ? cfg.embedded_partitions : std::stoi(t.substr(c + 1)), 1});
  }
  return kafka::run_standalone_broker(bo);
}

int publish_main(const std::vector<std::string>& args) {
  Poco::Util::OptionSet o;
  o.addOption(Option("help", "h", "show this help"));
  o.addOption(Option("topic", "t", "topic to publish to (required)").argument("TOPIC"));
  o.addOption(Option("bootstrap", "b", "bootstrap.servers (default: read from --bootstrap-file)").argument("SERVERS"));
  o.addOption(Option("bootstrap-file", "", "file holding the embedded broker's address (default from config)").argument("FILE"));
  o.addOption(Option("property", "X", "librdkafka property NAME=VALUE (repeatable)").argument("NAME=VALUE").repeatable(true));
  o.addOption(Option("config", "c", "configuration file (for the default bootstrap file)").argument("FILE"));
  o.addOption(Option("input-format", "i", "format of the inputs (default: guessed per file)").argument("FORMAT"));
  const char* usage = "--topic T [--bootstrap SERVERS | --bootstrap-file FILE] INPUT...";
  ParsedArgs pa;
  if (!parse_args(args, o, pa, "publish", usage)) return 2;
  if (pa.has("help")) {
    print_help(o, "publish", usage,
               "Puts raw messages on a topic, one record per message: files, batch files (FHS/BHS), MLLP-framed "
               "files and directories are split into messages first. Records are keyed by MSH-10 (the message "
               "control id).",
               "Examples:\n  dxnorm publish --topic hl7v2.in config/examples/\n"
               "  dxnorm publish --topic hl7v2.in --bootstrap kafka1:9092 -X security.protocol=SSL batch.hl7\n");
    return 0;
  }
  if (!pa.has("topic") || pa.positional.empty()) {
    std::cerr << "usage: dxnorm publish " << usage << "\n";
    return 2;
  }
  kafka::KafkaProperties props;
  for (const auto& p : pa.all("property")) {
    auto eq = p.find('=');
    if (eq == std::string::npos) {
      std::cerr << "dxnorm publish: --property wants NAME=VALUE\n";
      return 2;
    }
    props[p.substr(0, eq)] = p.substr(eq + 1);
  }
  std::string bootstrap = pa.get("bootstrap");
  if (bootstrap.empty()) {
    std::string file = pa.get("bootstrap-file");
    if (file.empty()) {
      try {
        file = runtime::RunConfig::load(pa.get("config", default_config_file())).bootstrap_file;
      } catch (const map::LoadFailure& e) {
        std::cerr << e.what();
        return 2;
      }
    }
    std::string text;
    if (!read_file(file, text)) {
      std::cerr << "dxnorm publish: no --bootstrap and cannot read " << file << " (is dxnorm run or dxnorm broker running?)\n";
      return 2;
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    bootstrap = text;
  }
  props["bootstrap.servers"] = bootstrap;
  std::string error;
  auto files = expand_inputs(pa.positional, error);
  if (!error.empty()) {
    std::cerr << "dxnorm publish: " << error << '\n';
    return 2;
  }
  std::vector<std::string> payloads;
  std::vector<std::string> keys;
  int bad = 0;
  for (const auto& f : files) {
    std::string data;
    if (!read_file(f, data)) {
      std::cerr << f << ": cannot read\n";
      ++bad;
      continue;
    }
    const publish::InputFormat* fmt = pa.has("input-format") ? publish::find_input_format(pa.get("input-format"))
                                                             : publish::detect_input_format(data);
    auto split = fmt ? fmt->split(data) : Result<publish::SplitMessages>(publish::SplitMessages{});
    if (!split.ok() || split->messages.empty()) {
      // Not splittable: publish as is; the pipeline dead-letters it with the reason.
      payloads.push_back(data);
      keys.emplace_back();
      continue;
    }
    auto parser = fmt->new_parser();
    for (auto m : split->messages) {
      payloads.emplace_back(m);
      // Key: the message's control id (MSH-10, ...), when it parses.
      publish::MessageHeaderInfo info;
      keys.push_back(parser->parse(m, info).ok() ? info.control_id : std::string());
    }
  }
  try {
    auto report = kafka::publish_records(props, pa.get("topic"), payloads,
                                         [&keys](std::size_t i, std::string_view) { return keys[i]; });
    std::cout << "published " << report.delivered << " record(s) to " << pa.get("topic");
    if (report.failed) std::cout << ", " << report.failed << " failed: " << report.first_error->to_string();
    std::cout << '\n';
    return report.ok() && bad == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "dxnorm publish: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace dxnorm::cli
