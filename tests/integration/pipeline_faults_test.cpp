// Broker faults while messages flow through an in-process PipelineRunner on a
// 3-broker embedded cluster: a broker down for 3 s, then injected Produce and
// Fetch errors. The pipeline recovers by itself; nothing is lost.
// Every producer runs with max.in.flight.requests.per.connection=1: with more,
// the mock cluster itself loses idempotent records under injected errors
// (docs/EMBEDDED_BROKER.md), and the test would measure the mock's bug.
#include <atomic>
#include <set>

#include "connectors/kafka/kafka_sink.h"
#include "integration_util.h"

using namespace dxnorm;
using namespace dxnorm::itest;

TEST_CASE("broker down for 3 s and injected Produce/Fetch errors while messages flow: none lost") {
  quiet_logs();
  kafka::EmbeddedBroker broker(3);
  auto cfg = test_config(broker, "itest-faults");
  cfg.producer["message.timeout.ms"] = "60000";
  auto topics = create_topics(broker, cfg, 6, 3);
  TopicReader reader(broker.bootstraps(), topics);  // from the start: the mock drops old data

  const std::string oru = fixture("valid/oru_r01_cbc_nm.hl7");
  const std::string adt = fixture("valid/adt_a04_register.hl7");
  const std::string siu = fixture("invalid/siu_s12_no_route.hl7");
  constexpr int kN = 2400;
  std::vector<Input> inputs;
  for (int i = 0; i < kN; ++i) {
    const std::string id = "FAULT-" + std::to_string(i);
    if (i % 20 == 19) inputs.push_back({"siu", id, make_variant(siu, id), false});
    else if (i % 3 == 0) inputs.push_back({"adt", id, make_variant(adt, id), true});
    else inputs.push_back({"oru", id, make_variant(oru, id, "F" + std::to_string(i)), true});
  }

  RunnerThread rt(cfg, load_mappings());
  REQUIRE(rt.wait_ready(30s));

  // Produce at a rate over ~6 s, through both faults.
  kafka::KafkaSinkOptions so;
  so.properties = {{"bootstrap.servers", broker.bootstraps()},
                   {"linger.ms", "2"},
                   {"max.in.flight.requests.per.connection", "1"},
                   {"message.timeout.ms", "60000"},
                   {"reconnect.backoff.max.ms", "500"}};
  std::atomic<int> delivered{0}, failed{0};
  std::thread producer([&] {
    kafka::KafkaSink sink(so);
    for (int i = 0; i < kN; ++i) {
      auto c = kafka::DeliveryCompletion::create([&](const Status& s) { (s.ok() ? delivered : failed).fetch_add(1); });
      (void)sink.produce("hl7v2.in", inputs[i].control_id, inputs[i].payload, {}, c);
      c->seal();
      if (i % 40 == 39) std::this_thread::sleep_for(100ms);
    }
    CHECK(sink.flush(60s).ok());
  });

  // The faults hit a flowing stream: some records through, most to come.
  const auto flowing_by = Clock::now() + 20s;
  while (rt.runner().counts().published < 200 && Clock::now() < flowing_by) std::this_thread::sleep_for(10ms);
  const auto before_down = rt.runner().counts();
  broker.set_broker_down(2);
  std::this_thread::sleep_for(3s);
  broker.set_broker_up(2);
  std::this_thread::sleep_for(700ms);
  broker.push_request_errors(kafka::KafkaApi::kProduce,
                             {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT});
  broker.push_request_errors(kafka::KafkaApi::kFetch,
                             {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
                              RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE});
  producer.join();
  REQUIRE(delivered.load() == kN);
  REQUIRE(failed.load() == 0);
  const auto after_faults = rt.runner().counts();
  MESSAGE("processed " << before_down.published + before_down.dead_lettered << " before the broker went down, "
                       << after_faults.published + after_faults.dead_lettered << " when the input was complete");
  CHECK(before_down.published >= 200);                              // the faults hit a flowing stream
  CHECK(after_faults.published + after_faults.dead_lettered < kN);  // ... not a finished one

  std::set<std::string> missing;
  for (const auto& in : inputs) missing.insert(in.control_id);
  std::size_t bundle_seen = 0, dead_seen = 0;
  auto covered = [&] {
    for (const auto& r : reader.records(cfg.bundle_topic, bundle_seen)) {
      ++bundle_seen;
      missing.erase(r.header("dxnorm-message-control-id").value_or(""));
    }
    for (const auto& r : reader.records(cfg.dead_letter_topic, dead_seen)) {
      ++dead_seen;
      missing.erase(r.header("dxnorm-message-control-id").value_or(""));
    }
    return missing.empty();
  };
  const bool all_out = reader.wait_for(covered, 60s);
  CHECK_MESSAGE(all_out, missing.size() << " messages never came out, e.g. " << (missing.empty() ? "" : *missing.begin()));
  REQUIRE(rt.wait_done(kN, 10s));
  const auto counts = rt.runner().counts();
  CHECK(rt.finish() == 0);
  MESSAGE("consumed " << counts.consumed << ", published " << counts.published << ", dead-lettered "
                      << counts.dead_lettered << ", delivery retries " << counts.retried);
  CHECK(counts.consumed == counts.published + counts.dead_lettered);
  CHECK(counts.consumed >= static_cast<std::uint64_t>(kN));

  // Valid ones on fhir.bundle, the SIUs on the dead-letter topic, never the other way.
  CHECK(reader.low_watermark("hl7v2.in") == 0);  // no input dropped by the mock
  CHECK(reader.gaps() == 0);                      // every output record was read
  std::set<std::string> bundled, dead;
  for (const auto& r : reader.records(cfg.bundle_topic)) bundled.insert(r.header("dxnorm-message-control-id").value_or(""));
  for (const auto& r : reader.records(cfg.dead_letter_topic))
    dead.insert(r.header("dxnorm-message-control-id").value_or(""));
  std::size_t wrong = 0;
  for (const auto& in : inputs)
    if ((in.valid ? bundled : dead).count(in.control_id) != 1) ++wrong;
  CHECK(wrong == 0);
  CHECK(bundled.size() + dead.size() == static_cast<std::size_t>(kN));
}
