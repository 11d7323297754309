#include "pipeline/runtime/run_config.h"

#include "pipeline/publish/input_format.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace dxnorm::runtime {

namespace fs = std::filesystem;
using map::Diagnostics;
using map::LoadFailure;

std::vector<std::string> RunConfig::all_topics() const {
  std::vector<std::string> t;
  for (const auto& i : inputs) t.push_back(i.topic);
  t.push_back(bundle_topic);
  t.push_back(dead_letter_topic);
  if (!ack_topic.empty()) t.push_back(ack_topic);
  if (per_resource_topics)
    for (const auto& r : resource_types) t.push_back(resource_topic(r));
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  return t;
}

int RunConfig::embedded_partitions_for(const std::string& topic) const {
  for (const auto& i : inputs)
    if (i.topic == topic) return embedded_partitions;
  return embedded_output_partitions > 0 ? embedded_output_partitions : embedded_partitions;
}

namespace {

bool scalar(const std::string& file, const YAML::Node& v, Diagnostics& d, const std::string& what) {
  if (!v.IsScalar()) {
    d.error(file, v, what + " must be a single value");
    return false;
  }
  return true;
}

void read_props(const std::string& file, const YAML::Node& v, std::map<std::string, std::string>& out,
                Diagnostics& d, const std::string& what) {
  if (!v.IsMap()) {
    d.error(file, v, what + " is a map of librdkafka properties (name: value)");
    return;
  }
  for (const auto& kv : v) {
    if (!scalar(file, kv.second, d, what + "." + kv.first.as<std::string>())) continue;
    out[kv.first.as<std::string>()] = kv.second.as<std::string>();
  }
}

int read_int(const std::string& file, const YAML::Node& v, Diagnostics& d, const std::string& what, int lo, int hi) {
  try {
    int x = v.as<int>();
    if (x < lo || x > hi) {
      d.error(file, v, what + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      return lo;
    }
    return x;
  } catch (const YAML::Exception&) {
    d.error(file, v, what + " must be a whole number");
    return lo;
  }
}

}  // namespace

RunConfig RunConfig::load(const std::string& path) {
  RunConfig c;
  c.file = path;
  Diagnostics d;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    map::Diagnostic x;
    x.file = path;
    x.message = "cannot read config file";
    d.add(x);
    throw LoadFailure(std::move(d));
  } catch (const YAML::Exception& e) {
    map::Diagnostic x;
    x.file = path;
    x.line = e.mark.line + 1;
    x.column = e.mark.column + 1;
    x.message = "YAML syntax: " + e.msg;
    d.add(x);
    throw LoadFailure(std::move(d));
  }
  fs::path base = fs::path(path).parent_path();
  c.mappings_dir = (base / ".." / "mappings").lexically_normal().string();
  if (!root.IsMap()) {
    d.error(path, root, "the config file is a map (kafka, inputs, outputs, mappings, ...)");
    throw LoadFailure(std::move(d));
  }
  YAML::Node inputs_node;
  for (const auto& kv : root) {
    std::string k = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (k == "kafka") {
      if (!v.IsMap()) {
        d.error(path, v, "kafka is a map: properties, consumer, producer");
        continue;
      }
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        if (n == "properties") read_props(path, kk.second, c.kafka, d, "kafka.properties");
        else if (n == "consumer") read_props(path, kk.second, c.consumer, d, "kafka.consumer");
        else if (n == "producer") read_props(path, kk.second, c.producer, d, "kafka.producer");
        else d.error(path, kk.first, "unknown key 'kafka." + n + "' (expected properties, consumer, producer)");
      }
    } else if (k == "embedded-broker") {
      if (!v.IsMap()) {
        d.error(path, v, "embedded-broker is a map: brokers, partitions, output-partitions, bootstrap-file");
        continue;
      }
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        if (n == "brokers") c.embedded_brokers = read_int(path, kk.second, d, "embedded-broker.brokers", 1, 9);
        else if (n == "partitions") c.embedded_partitions = read_int(path, kk.second, d, "embedded-broker.partitions", 1, 256);
        else if (n == "output-partitions")
          c.embedded_output_partitions = read_int(path, kk.second, d, "embedded-broker.output-partitions", 1, 256);
        else if (n == "bootstrap-file") c.bootstrap_file = kk.second.as<std::string>();
        else d.error(path, kk.first, "unknown key 'embedded-broker." + n + "' (expected brokers, partitions, output-partitions, bootstrap-file)");
      }
    } else if (k == "inputs") {
      inputs_node.reset(v);
    } else if (k == "outputs") {
      if (!v.IsMap()) {
        d.error(path, v, "outputs is a map");
        continue;
      }
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        const YAML::Node& x = kk.second;
        if (n == "bundle-topic") c.bundle_topic = x.as<std::string>();
        else if (n == "resource-topic-prefix") c.resource_topic_prefix = x.as<std::string>();
        else if (n == "per-resource-topics") c.per_resource_topics = x.as<bool>();
        else if (n == "dead-letter-topic") c.dead_letter_topic = x.as<std::string>();
        else if (n == "ack-topic") c.ack_topic = x.as<std::string>();
        else if (n == "resource-types") {
          c.resource_types.clear();
          for (const auto& t : x) c.resource_types.push_back(t.as<std::string>());
        } else
          d.error(path, kk.first,
                  "unknown key 'outputs." + n +
                      "' (expected bundle-topic, resource-topic-prefix, per-resource-topics, dead-letter-topic, ack-topic, resource-types)");
      }
    } else if (k == "mappings") {
      fs::path p = v.as<std::string>();
      c.mappings_dir = (p.is_absolute() ? p : (base / p)).lexically_normal().string();
    } else if (k == "source-zone") {
      c.source_zone = v.as<std::string>();
    } else if (k == "workers") {
      c.workers = read_int(path, v, d, "workers", 1, 64);
    } else if (k == "queue-per-worker") {
      c.queue_per_worker = static_cast<std::size_t>(read_int(path, v, d, "queue-per-worker", 1, 1 << 20));
    } else if (k == "http") {
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        if (n == "port") c.http_port = read_int(path, kk.second, d, "http.port", 0, 65535);
        else if (n == "address") c.http_address = kk.second.as<std::string>();
        else d.error(path, kk.first, "unknown key 'http." + n + "' (expected address, port)");
      }
    } else if (k == "reload") {
      if (!v.IsMap()) {
        d.error(path, v, "reload is a map: watch, interval-ms");
        continue;
      }
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        if (n == "watch") c.reload_watch = kk.second.as<bool>();
        else if (n == "interval-ms") c.reload_interval_ms = read_int(path, kk.second, d, "reload.interval-ms", 100, 3600000);
        else d.error(path, kk.first, "unknown key 'reload." + n + "' (expected watch, interval-ms)");
      }
    } else if (k == "log") {
      for (const auto& kk : v) {
        std::string n = kk.first.as<std::string>();
        if (n == "level") {
          c.log_level = kk.second.as<std::string>();
          if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warning" && c.log_level != "error")
            d.error(path, kk.second, "log.level is debug, info, warning or error");
        } else {
          d.error(path, kk.first, "unknown key 'log." + n + "' (expected level)");
        }
      }
    } else {
      d.error(path, kv.first,
              "unknown key '" + k +
                  "' (expected kafka, embedded-broker, inputs, outputs, mappings, source-zone, workers, "
                  "queue-per-worker, http, log, reload)");
    }
  }
  if (!inputs_node.IsDefined() || inputs_node.IsNull() || !inputs_node.IsSequence() || inputs_node.size() == 0) {
    d.error(path, inputs_node.IsDefined() && !inputs_node.IsNull() ? inputs_node : root,
            "inputs lists at least one input topic ({topic: hl7v2.in, format: hl7v2})");
  } else {
    for (const auto& in : inputs_node) {
      InputTopic t;
      t.line = in.Mark().line + 1;
      t.column = in.Mark().column + 1;
      if (!in.IsMap()) {
        d.error(path, in, "an input is a map {topic, format, mapping}");
        continue;
      }
      for (const auto& kk : in) {
        std::string n = kk.first.as<std::string>();
        if (n == "topic") t.topic = kk.second.as<std::string>();
        else if (n == "format") t.format = kk.second.as<std::string>();
        else if (n == "mapping") t.mapping = kk.second.as<std::string>();
        else d.error(path, kk.first, "unknown key '" + n + "' in input (expected topic, format, mapping)");
      }
      if (t.topic.empty()) d.error(path, in, "input without 'topic'");
      if (!publish::find_input_format(t.format)) {
        std::string known;
        for (const auto& f : publish::input_format_names()) known += (known.empty() ? "" : ", ") + f;
        d.error(path, in["format"], "unsupported input format '" + t.format + "' (supported: " + known + ")");
      }
      if (!c.ack_topic.empty() && t.topic == c.ack_topic)
        d.error(path, in["topic"], "input topic '" + t.topic + "' is also the acknowledgement topic");
      if (t.topic == c.dead_letter_topic)
        d.error(path, in["topic"], "input topic '" + t.topic + "' is also the dead-letter topic: failures would loop");
      if (t.topic == c.bundle_topic || (c.per_resource_topics && t.topic.rfind(c.resource_topic_prefix, 0) == 0))
        d.error(path, in["topic"], "input topic '" + t.topic + "' is also an output topic");
      c.inputs.push_back(std::move(t));
    }
  }
  if (c.embedded() && c.kafka.count("security.protocol"))
    d.error(path, root["kafka"], "security settings given but no bootstrap.servers: the embedded broker has no TLS/SASL");
  if (d.has_errors()) throw LoadFailure(std::move(d));
  return c;
}

}  // namespace dxnorm::runtime
