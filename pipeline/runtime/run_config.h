// The configuration of `dxnorm run` (config/dxnorm.yaml), as a typed spec:
// unknown keys are errors, every problem is reported at once with
// file:line:column, cross-field rules are checked (a dead-letter topic that is
// also an input, an unknown format...). Start-up only: load() throws
// map::LoadFailure.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/map/diagnostics.h"

namespace dxnorm::runtime {

struct InputTopic {
  std::string topic;
  std::string format = "hl7v2";   // hl7v2 (dicom-json, edifact: later issues)
  std::string mapping;            // optional default mapping name
  int line = 0, column = 0;       // where it was declared (for later checks)
};

struct RunConfig {
  std::string file;               // where it was loaded from
  // librdkafka properties shared by consumers and producers; no
  // bootstrap.servers means: start the embedded broker.
  std::map<std::string, std::string> kafka;
  std::map<std::string, std::string> consumer;  // consumer-only overrides (group.id ...)
  std::map<std::string, std::string> producer;  // producer-only overrides
  std::vector<InputTopic> inputs;
  std::string bundle_topic = "fhir.bundle";
  std::string resource_topic_prefix = "fhir.";  // fhir.Patient, fhir.Observation...
  bool per_resource_topics = true;
  std::string dead_letter_topic = "dxnorm.dead-letter";
  // Replies the inputs ask for (EDIFACT NHSACK); empty: none are sent.
  std::string ack_topic;
  std::vector<std::string> resource_types = {"Patient", "DiagnosticReport", "Observation", "Specimen",
                                             "ServiceRequest", "Practitioner", "Organization",
                                             "ImagingStudy", "Endpoint"};
  std::string mappings_dir;       // resolved relative to the config file
  std::string source_zone = "Europe/London";
  int workers = 2;
  // Messages consumed but not yet converted, queue_per_worker x workers in
  // all (one budget shared by the workers; the poll thread waits beyond it).
  std::size_t queue_per_worker = 512;
  std::string http_address = "127.0.0.1";
  int http_port = 8080;           // 0: choose a free port
  std::string log_level = "info";
  // Hot reload of mappings: SIGHUP always; file watching when enabled.
  bool reload_watch = false;
  int reload_interval_ms = 2000;
  // Embedded broker (used only without kafka.bootstrap.servers).
  int embedded_brokers = 1;
  int embedded_partitions = 6;         // input topics (bounds consumer parallelism)
  int embedded_output_partitions = 0;  // every other topic; 0: embedded_partitions
  std::string bootstrap_file = "dxnorm-bootstrap.txt";

  bool embedded() const { return kafka.find("bootstrap.servers") == kafka.end(); }
  std::string resource_topic(std::string_view type) const { return resource_topic_prefix + std::string(type); }
  // Every topic dxnorm reads or writes (for the embedded broker).
  std::vector<std::string> all_topics() const;
  // Partitions the embedded broker gives `topic`: embedded_partitions for an
  // input topic, embedded_output_partitions (if set) for any other.
  int embedded_partitions_for(const std::string& topic) const;

  static RunConfig load(const std::string& path);
};

}  // namespace dxnorm::runtime
