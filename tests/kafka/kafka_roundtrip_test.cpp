// Source and sink against the embedded broker: round trip, completions,
// at-least-once across a restart, pause/resume, lag, publish, `dxnorm broker`.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>

#include "connectors/kafka/kafka_publish.h"
#include "kafka_test_util.h"

using namespace dxnorm::kafka;
using namespace dxnorm::kafka::testing;
using dxnorm::Status;
using dxnorm::StatusCode;

TEST_CASE("produce/consume round trip keeps keys, payload bytes and headers") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("roundtrip");
  broker.create_topic({topic, 1, 1});
  {
    KafkaSink sink(sink_options(broker));
    const std::string binary("\x0bMSH|^~\\&|\0\xff|\x1c\r", 14);
    KafkaHeaders headers{{"content-type", "application/fhir+json; fhirVersion=4.0"}, {"source.offset", "17"},
                         {"empty", ""}};
    std::atomic<int> fired{0};
    auto done = DeliveryCompletion::create([&](const Status& s) {
      CHECK(s.ok());
      fired.fetch_add(1);
    });
    CHECK(sink.produce(topic, "Patient/p1", binary, headers, done).ok());
    CHECK(sink.produce(topic, "", "no key", {}, done).ok());
    done->seal();
    CHECK(sink.flush(5s).ok());
    CHECK(fired.load() == 1);
    CHECK(done->delivered() == 2);
    CHECK(sink.close(1s).ok());

    KafkaSource source(source_options(broker, unique_name("g"), {topic}));
    auto records = consume(source, 2, 15s, true);
    REQUIRE(records.size() == 2);
    CHECK(records[0].topic == topic);
    CHECK(records[0].partition == 0);
    CHECK(records[0].offset == 0);
    CHECK(records[0].key == "Patient/p1");
    CHECK(records[0].payload == binary);
    CHECK(records[0].timestamp_ms > 0);
    REQUIRE(records[0].headers.size() == 3);
    CHECK(records[0].header("content-type") == "application/fhir+json; fhirVersion=4.0");
    CHECK(records[0].header("source.offset") == "17");
    CHECK(records[0].header("empty") == "");
    CHECK_FALSE(records[0].header("missing").has_value());
    CHECK(records[1].key.empty());
    CHECK(records[1].payload == "no key");
    CHECK(records[1].headers.empty());
    CHECK(source.assigned_partitions() == 1);
    CHECK(source.in_flight() == 0);
    CHECK(source.close().ok());
    CHECK(source.assigned_partitions() == 0);
  }
}

TEST_CASE("a completion fires once, after all N records of an input are delivered") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("fanout");
  broker.create_topic({topic, 3, 1});
  // Slow broker: deliveries are still pending when seal() is called.
  broker.set_broker_rtt(1, 100);
  KafkaSink sink(sink_options(broker));
  std::atomic<int> fired{0};
  std::atomic<std::uint32_t> delivered_when_fired{0};
  std::shared_ptr<DeliveryCompletion> done;
  done = DeliveryCompletion::create([&](const Status& s) {
    CHECK(s.ok());
    delivered_when_fired = done->delivered();
    fired.fetch_add(1);
  });
  constexpr int kN = 7;
  for (int i = 0; i < kN; ++i) {
    const std::string key = "Observation/o" + std::to_string(i);
    REQUIRE(sink.produce(topic, key, "{}", {}, done).ok());
  }
  CHECK(fired.load() == 0);
  done->seal();
  CHECK(wait_until([&] { return fired.load() > 0; }, 10s));
  CHECK(delivered_when_fired.load() == kN);
  std::this_thread::sleep_for(200ms);
  CHECK(fired.load() == 1);

  // Nothing produced: fires at seal(), on the calling thread.
  std::atomic<int> empty_fired{0};
  auto empty = DeliveryCompletion::create([&](const Status& s) {
    CHECK(s.ok());
    ++empty_fired;
  });
  empty->seal();
  CHECK(empty_fired.load() == 1);
}

TEST_CASE("an oversized record fails its completion with kInvalidInput, once") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("big");
  broker.create_topic({topic, 1, 1});
  KafkaSink sink(sink_options(broker, {{"message.max.bytes", "2000"}}));
  std::vector<dxnorm::Error> errors;
  int oks = 0;
  std::mutex m;
  auto done = DeliveryCompletion::create([&](const Status& s) {
    std::lock_guard lock(m);
    if (s.ok()) ++oks; else errors.push_back(s.error());
  });
  CHECK(sink.produce(topic, "k", "small", {}, done).ok());
  Status big = sink.produce(topic, "k", std::string(5000, 'x'), {}, done);
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().code == StatusCode::kInvalidInput);
  CHECK(big.error().error_code == "KAFKA_MSG_SIZE_TOO_LARGE");
  CHECK(big.error().stage == dxnorm::Stage::kPublish);
  done->seal();
  CHECK(sink.flush(5s).ok());
  std::lock_guard lock(m);
  CHECK(oks == 0);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].code == StatusCode::kInvalidInput);
}

TEST_CASE("at-least-once: un-acked records are redelivered after a restart, acked ones are not") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("alo");
  broker.create_topic({topic, 2, 1});
  const std::string group = unique_name("g");
  {
    KafkaSink sink(sink_options(broker));
    produce_n(sink, topic, 40);
  }
  std::set<std::string> acked;
  std::map<int, std::int64_t> first_unacked;  // partition -> lowest offset not acked
  {
    KafkaSource source(source_options(broker, group, {topic}));
    auto records = consume(source, 40, 15s);
    REQUIRE(records.size() == 40);
    // Ack the first 8 of each partition, in reverse order (as a worker pool
    // might), leaving the 4th unfinished; also ack the 10th.
    std::map<int, std::vector<KafkaRecord*>> by_partition;
    for (auto& r : records) by_partition[r.partition].push_back(&r);
    REQUIRE(by_partition.size() == 2);
    for (auto& [p, recs] : by_partition) {
      REQUIRE(recs.size() > 10);
      for (int i = 7; i >= 0; --i) {
        if (i == 3) continue;
        CHECK(source.ack(*recs[static_cast<std::size_t>(i)]));
        if (i < 3) acked.insert(recs[static_cast<std::size_t>(i)]->payload);
      }
      CHECK(source.ack(*recs[9]));  // done, but behind the unfinished 4th
      first_unacked[p] = recs[3]->offset;
    }
    CHECK(source.in_flight() == 40 - 2 * 8);
    CHECK(source.close().ok());
  }
  {
    KafkaSource source(source_options(broker, group, {topic}));
    // Expected: everything from the first unfinished offset on, per partition.
    const std::size_t expected = 40 - acked.size();
    auto records = consume(source, expected, 15s, true);
    CHECK(poll_for(source, 300ms).empty());  // and nothing more
    CHECK(records.size() == expected);
    for (const auto& r : records) {
      CHECK(acked.count(r.payload) == 0);
      CHECK(r.offset >= first_unacked[r.partition]);
    }
    std::map<int, std::int64_t> lowest;
    for (const auto& r : records) {
      if (!lowest.count(r.partition) || r.offset < lowest[r.partition]) lowest[r.partition] = r.offset;
    }
    CHECK(lowest == first_unacked);
    CHECK(source.close().ok());
  }
}

TEST_CASE("pause stops delivery, resume continues; lag counts what is not yet acked") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("pause");
  broker.create_topic({topic, 1, 1});
  KafkaSink sink(sink_options(broker));
  produce_n(sink, topic, 10, "a");
  KafkaSource source(source_options(broker, unique_name("g"), {topic}));
  auto first = consume(source, 10, 15s);
  REQUIRE(first.size() == 10);
  for (int i = 0; i < 4; ++i) source.ack(first[static_cast<std::size_t>(i)]);
  (void)source.poll(10ms);  // stores the acked position
  auto lag = source.lag();
  REQUIRE(lag.size() == 1);
  CHECK(lag[0].tp.topic == topic);
  CHECK(lag[0].high_watermark == 10);
  CHECK(lag[0].position == 4);
  CHECK(lag[0].lag == 6);

  source.pause();
  CHECK(source.paused());
  produce_n(sink, topic, 5, "b");
  CHECK(poll_for(source, 700ms).empty());
  source.resume();
  auto second = consume(source, 5, 10s);
  CHECK(second.size() == 5);
  CHECK(source.close().ok());
}

TEST_CASE("publish_records puts one record per payload and reports counts") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("publish");
  broker.create_topic({topic, 3, 1});
  std::vector<std::string> payloads;
  for (int i = 0; i < 50; ++i) payloads.push_back("MSH|^~\\&|" + std::to_string(i));
  auto report = publish_records({{"bootstrap.servers", broker.bootstraps()}}, topic, payloads,
                                [](std::size_t i, std::string_view) { return i % 2 ? std::string() : "k" + std::to_string(i); });
  CHECK(report.ok());
  CHECK(report.delivered == 50);
  CHECK(report.failed == 0);

  KafkaSource source(source_options(broker, unique_name("g"), {topic}));
  auto records = consume(source, 50, 15s, true);
  CHECK(records.size() == 50);
  std::set<std::string> seen;
  for (const auto& r : records) seen.insert(r.payload);
  CHECK(seen.size() == 50);

  // An unreachable cluster: every record fails, counted, with kUnavailable.
  auto failed = publish_records({{"bootstrap.servers", "127.0.0.1:1"}, {"message.timeout.ms", "300"}}, topic,
                                {"a", "b"}, {}, 2s);
  CHECK(failed.delivered == 0);
  CHECK(failed.failed == 2);
  REQUIRE(failed.first_error.has_value());
  CHECK(failed.first_error->code == StatusCode::kUnavailable);
}

TEST_CASE("dxnorm broker: writes its address, serves clients, stops on SIGTERM") {
  quiet_logs();
  const std::string file = "/tmp/dxnorm-kafka-test-bootstrap-" + std::to_string(getpid());
  std::remove(file.c_str());
  std::cout.flush();  // the child must not re-emit our buffered output
  std::fflush(nullptr);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    BrokerOptions opts;
    opts.topics = {{"hl7v2.in", 2, 1}};
    opts.bootstrap_file = file;
    _exit(run_standalone_broker(opts));
  }
  std::string bootstraps;
  CHECK(wait_until([&] {
    std::ifstream in(file);
    return static_cast<bool>(std::getline(in, bootstraps)) && !bootstraps.empty();
  }, 10s));
  CHECK(bootstraps.rfind("127.0.0.1:", 0) == 0);
  auto report = publish_records({{"bootstrap.servers", bootstraps}}, "hl7v2.in", {"x", "y", "z"}, {}, 10s);
  CHECK(report.delivered == 3);
  kill(child, SIGTERM);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::remove(file.c_str());
}
