// Start-up errors name the property; defaults and enforced settings.
#include <doctest/doctest.h>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_error.h"
#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/kafka_source.h"

using namespace dxnorm::kafka;
using dxnorm::StatusCode;

TEST_CASE("an unknown property is rejected by name") {
  try {
    (void)make_conf({{"bootstrap.servers", "127.0.0.1:1"}, {"bootstrap.server", "x"}});
    FAIL("expected KafkaConfigError");
  } catch (const KafkaConfigError& e) {
    CHECK(e.property() == "bootstrap.server");
    CHECK(std::string(e.what()).find("'bootstrap.server'") != std::string::npos);
  }
}

TEST_CASE("an invalid value names the property and hides secrets") {
  try {
    (void)make_conf({{"session.timeout.ms", "soon"}});
    FAIL("expected KafkaConfigError");
  } catch (const KafkaConfigError& e) {
    CHECK(e.property() == "session.timeout.ms");
  }
  try {
    (void)make_conf({{"ssl.key.password", ""}, {"sasl.mechanisms", "PLAIN"}, {"sasl.password", "hunter2"},
                     {"security.protocol", "bogus-hunter2"}});
    FAIL("expected KafkaConfigError");
  } catch (const KafkaConfigError& e) {
    CHECK(e.property() == "security.protocol");
  }
  CHECK(is_secret_property("sasl.password"));
  CHECK(is_secret_property("ssl.key.password"));
  CHECK_FALSE(is_secret_property("bootstrap.servers"));
}

TEST_CASE("every librdkafka property passes through") {
  CHECK_NOTHROW((void)make_conf({{"bootstrap.servers", "a:1,b:2"},
                                 {"security.protocol", "plaintext"},
                                 {"socket.keepalive.enable", "true"},
                                 {"test.mock.num.brokers", "1"},
                                 {"statistics.interval.ms", "0"}}));
}

TEST_CASE("the source enforces explicit offset storage and requires a group") {
  KafkaSourceOptions o;
  o.topics = {"in"};
  o.properties = {{"bootstrap.servers", "127.0.0.1:1"}, {"group.id", "g"}, {"enable.auto.offset.store", "true"}};
  CHECK_THROWS_AS(KafkaSource{o}, KafkaConfigError);
  o.properties = {{"bootstrap.servers", "127.0.0.1:1"}};
  CHECK_THROWS_AS(KafkaSource{o}, KafkaConfigError);
  auto defaults = KafkaSource::default_properties();
  CHECK(defaults["partition.assignment.strategy"] == "cooperative-sticky");
  CHECK(defaults["session.timeout.ms"] == "6000");
  CHECK(defaults["heartbeat.interval.ms"] == "1000");
  CHECK(defaults["enable.auto.commit"] == "true");
  CHECK(defaults["enable.auto.offset.store"] == "false");
}

TEST_CASE("the sink enforces idempotence") {
  KafkaSinkOptions o;
  o.properties = {{"bootstrap.servers", "127.0.0.1:1"}, {"enable.idempotence", "false"}};
  CHECK_THROWS_AS(KafkaSink{o}, KafkaConfigError);
  // librdkafka itself rejects acks=1 with idempotence, at client creation.
  o.properties = {{"bootstrap.servers", "127.0.0.1:1"}, {"acks", "1"}};
  CHECK_THROWS_AS(KafkaSink{o}, KafkaConfigError);
}

TEST_CASE("librdkafka errors map to the action the pipeline takes") {
  CHECK(status_code_for(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) == StatusCode::kInvalidInput);
  CHECK(status_code_for(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) == StatusCode::kUnavailable);
  CHECK(status_code_for(RD_KAFKA_RESP_ERR__TRANSPORT) == StatusCode::kUnavailable);
  CHECK(status_code_for(RD_KAFKA_RESP_ERR__QUEUE_FULL) == StatusCode::kUnavailable);
  CHECK(status_code_for(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) == StatusCode::kFailedPrecondition);
  CHECK(status_code_for(RD_KAFKA_RESP_ERR__FATAL) == StatusCode::kInternal);
  auto e = kafka_error(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, dxnorm::Stage::kPublish, topic_location("fhir.bundle", 2));
  CHECK(e.error_code == "KAFKA_MSG_SIZE_TOO_LARGE");
  CHECK(e.location == "fhir.bundle[2]");
}
