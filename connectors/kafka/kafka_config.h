// librdkafka configuration from dxnorm config.
//
// Every librdkafka property passes through unchanged (bootstrap.servers,
// security.protocol, sasl.*, ssl.*, timeouts, test.mock.num.brokers, ...).
// Start-up only: these functions throw KafkaConfigError, which names the
// offending property; they never echo values of secret-looking properties.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <stdexcept>
#include <string>

#include "connectors/kafka/kafka_handles.h"

namespace dxnorm::kafka {

// librdkafka property name -> value, e.g. {"bootstrap.servers", "host:9092"}.
using KafkaProperties = std::map<std::string, std::string>;

// Thrown at start-up for a bad property or a handle that cannot be created.
class KafkaConfigError : public std::runtime_error {
 public:
  KafkaConfigError(std::string property, const std::string& message)
      : std::runtime_error(message), property_(std::move(property)) {}
  // The property at fault; empty when the failure is not about one property.
  const std::string& property() const noexcept { return property_; }

 private:
  std::string property_;
};

// Returns `base` overlaid with `overrides` (overrides win).
KafkaProperties merge_properties(KafkaProperties base, const KafkaProperties& overrides);

// Builds a conf with every property set, plus dxnorm's log callback (librdkafka
// log lines go to kafka::log). Throws KafkaConfigError naming the property.
ConfHandle make_conf(const KafkaProperties& properties);

// Creates a client from `conf` (taking ownership of it only on success).
// Throws KafkaConfigError with librdkafka's reason (e.g. a conflict between
// properties, which librdkafka only detects here).
KafkaHandle make_client(rd_kafka_type_t type, ConfHandle conf);

// True when a property name looks like it holds a secret (password, secret,
// key material); such values are never put in error messages or logs.
bool is_secret_property(const std::string& name) noexcept;

}  // namespace dxnorm::kafka
