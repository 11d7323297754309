// publish_records: the engine of `dxnorm publish --topic T INPUT...`.
// The CLI splits its inputs into messages; this puts one record per message
// on the topic and waits for every delivery.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/kafka/kafka_config.h"
#include "pipeline/core/status.h"

namespace dxnorm::kafka {

struct PublishReport {
  std::size_t delivered = 0;
  std::size_t failed = 0;                // includes records never queued
  std::optional<Error> first_error;      // the first failure, if any
  bool ok() const noexcept { return failed == 0; }
};

// Key for payload number `index`; an empty key is a null key.
using PublishKeyFn = std::function<std::string(std::size_t index, std::string_view payload)>;

// Produces every payload to `topic` with a KafkaSink (idempotent, acks=all)
// built from `properties` (bootstrap.servers and any librdkafka property),
// then flushes, waiting at most `timeout` for the deliveries. Records are
// produced in order; with a null key function every key is null.
// Throws KafkaConfigError at start-up (bad properties); delivery failures
// are counted in the report.
PublishReport publish_records(const KafkaProperties& properties, const std::string& topic,
                              const std::vector<std::string>& payloads, const PublishKeyFn& key = {},
                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace dxnorm::kafka
