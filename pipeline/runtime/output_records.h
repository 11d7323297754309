// The records `dxnorm run` publishes for one consumed message, built in one
// place so that every producer of FHIR (run, replay) publishes exactly the
// same topics, keys, values and headers.
//
//   converted: the Bundle to the bundle topic (key Bundle/<id>) and each
//              resource to <prefix><Type> (key Type/<id>), headers:
//              content-type, dxnorm-source-topic/-partition/-offset,
//              dxnorm-message-control-id, dxnorm-mapping, -mapping-version,
//              dxnorm-version, dxnorm-warnings (when any)
//   failed:    the original bytes, unchanged, to the dead-letter topic with
//              dxnorm-error-code/-stage/-status/-location/-message
#pragma once

#include <rapidjson/stringbuffer.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/kafka/kafka_record.h"
#include "pipeline/core/status.h"
#include "pipeline/map/mapping_engine.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::runtime {

inline constexpr const char* kFhirContentType = "application/fhir+json; fhirVersion=4.0";

// Immutable once built: the records of one message (a Bundle and ~20
// resources) share one set instead of each copying ~8 headers.
using SharedHeaders = std::shared_ptr<const kafka::KafkaHeaders>;

struct OutputRecord {
  std::string topic;
  std::string key;
  std::string value;
  SharedHeaders headers;  // never null once built
};

// Where the message came from (topic/partition/offset headers).
struct SourcePosition {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

kafka::KafkaHeaders source_headers(const SourcePosition& from, const publish::MessageInfo& info);

// Appends the records of a converted message. `set_version` is the mapping
// set's content hash (MappingSet::version()); `scratch` is reused.
void build_fhir_records(const RunConfig& cfg, const SourcePosition& from, const publish::MessageInfo& info,
                        const map::Output& out, std::string_view set_version, rapidjson::StringBuffer& scratch,
                        std::vector<OutputRecord>& records);

// Appends `h` to the headers of every record; records that shared their
// headers still share them (copy on write, never in place).
void add_header(std::vector<OutputRecord>& records, const kafka::KafkaHeader& h);

// The dead letter of a message that failed: `original` unchanged.
OutputRecord build_dead_letter(const RunConfig& cfg, const SourcePosition& from, const publish::MessageInfo& info,
                               const Error& error, std::string_view original_key, std::string_view original);

}  // namespace dxnorm::runtime
