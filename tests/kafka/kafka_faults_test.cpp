// Broker faults during produce: nothing acknowledged is lost.
// max.in.flight.requests.per.connection=1: with 5 in flight the mock cluster
// itself loses idempotent records under injected errors (it checks sequences
// only for transactional producers; see docs/EMBEDDED_BROKER.md), and the test
// would measure the mock's bug, not ours.
#include <set>

#include "kafka_test_util.h"

using namespace dxnorm::kafka;
using namespace dxnorm::kafka::testing;
using dxnorm::Status;

namespace {

std::set<std::string> consume_all(EmbeddedBroker& broker, const std::string& topic, std::size_t want,
                                  std::size_t* total = nullptr) {
  KafkaSource source(source_options(broker, unique_name("verify"), {topic}));
  auto records = consume(source, want, 20s, true);
  for (auto& r : poll_for(source, 300ms)) records.push_back(std::move(r));  // duplicates, if any
  std::set<std::string> seen;
  for (const auto& r : records) seen.insert(r.payload);
  if (total != nullptr) *total = records.size();
  (void)source.close();
  return seen;
}

}  // namespace

TEST_CASE("broker down for 3 s during produce: every record is delivered once it is back") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("down");
  broker.create_topic({topic, 2, 1});
  KafkaSink sink(sink_options(broker, {{"max.in.flight.requests.per.connection", "1"},
                                        {"message.timeout.ms", "30000"},
                                        {"reconnect.backoff.max.ms", "500"}}));
  constexpr int kN = 3000;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  const auto start = std::chrono::steady_clock::now();
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) {
      auto c = DeliveryCompletion::create([&](const Status& s) { (s.ok() ? ok : failed).fetch_add(1); });
      const std::string v = "r-" + std::to_string(i);
      (void)sink.produce(topic, v, v, {}, c);
      c->seal();
      if (i % 100 == 0) std::this_thread::sleep_for(50ms);  // spread over ~1.5 s
    }
  });
  std::this_thread::sleep_for(300ms);
  broker.set_broker_down(1);
  std::this_thread::sleep_for(3s);
  broker.set_broker_up(1);
  producer.join();
  CHECK(sink.flush(20s).ok());
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  MESSAGE("broker-down produce: " << ok.load() << " delivered, " << failed.load() << " failed in " << took.count()
                                  << " ms");
  CHECK(ok.load() == kN);
  CHECK(failed.load() == 0);
  std::size_t total = 0;
  auto seen = consume_all(broker, topic, kN, &total);
  CHECK(seen.size() == static_cast<std::size_t>(kN));
  CHECK(total == static_cast<std::size_t>(kN));  // idempotent: no duplicates
}

TEST_CASE("injected retriable Produce errors: all delivered, no duplicates") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("errs");
  broker.create_topic({topic, 1, 1});
  broker.push_request_errors(KafkaApi::kProduce,
                             {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                              RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND});
  KafkaSink sink(sink_options(broker, {{"max.in.flight.requests.per.connection", "1"},
                                        {"retry.backoff.ms", "20"}}));
  produce_n(sink, topic, 500, "e");
  std::size_t total = 0;
  auto seen = consume_all(broker, topic, 500, &total);
  CHECK(seen.size() == 500);
  CHECK(total >= 500);
  MESSAGE("records in log after injected errors: " << total << " (500 distinct)");
}

TEST_CASE("undeliverable records at close: completions fire with kUnavailable") {
  quiet_logs();
  EmbeddedBroker broker;
  const std::string topic = unique_name("purge");
  broker.create_topic({topic, 1, 1});
  KafkaSink sink(sink_options(broker));
  produce_n(sink, topic, 1);  // connected
  broker.set_broker_down(1);
  std::atomic<int> unavailable{0};
  auto c = DeliveryCompletion::create([&](const Status& s) {
    if (!s.ok() && s.error().code == dxnorm::StatusCode::kUnavailable) ++unavailable;
  });
  for (int i = 0; i < 10; ++i) (void)sink.produce(topic, "", "x", {}, c);
  c->seal();
  Status closed = sink.close(300ms);
  CHECK_FALSE(closed.ok());
  CHECK(c->fired());
  CHECK(unavailable.load() == 1);
  CHECK(sink.outq_len() == 0);
  Status after = sink.produce(topic, "", "x", {}, nullptr);
  CHECK_FALSE(after.ok());
  broker.set_broker_up(1);
}
