// Helpers shared by the Kafka connector tests (embedded broker, in-process).
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "connectors/kafka/embedded_broker.h"
#include "connectors/kafka/kafka_log.h"
#include "connectors/kafka/kafka_sink.h"
#include "connectors/kafka/kafka_source.h"

namespace dxnorm::kafka::testing {

using namespace std::chrono_literals;

// librdkafka is chatty about refused connections in fault tests: keep
// warnings and errors only, unless DXNORM_KAFKA_TEST_LOG is set.
inline void quiet_logs() {
  static const bool once = [] {
    if (std::getenv("DXNORM_KAFKA_TEST_LOG") == nullptr) {
      set_log_handler([](int level, std::string_view msg) {
        if (level <= kLogError) fprintf(stderr, "kafka[%d] %.*s\n", level, static_cast<int>(msg.size()), msg.data());
      });
    }
    return true;
  }();
  (void)once;
}

inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(++counter);
}

// The mock coordinator waits session.timeout.ms - 1 s for members to (re)join
// after a member joins or leaves, so a shorter session keeps restarts and
// rebalances quick. Not below ~3.5 s: the mock's first join waits 3 s, and a
// member whose session expires meanwhile is dropped (its join never answered).
inline KafkaSourceOptions source_options(const EmbeddedBroker& broker, const std::string& group,
                                         std::vector<std::string> topics) {
  KafkaSourceOptions o;
  o.properties = {
      {"bootstrap.servers", broker.bootstraps()},
      {"group.id", group},
      {"session.timeout.ms", "3500"},
      {"heartbeat.interval.ms", "500"},
      {"auto.commit.interval.ms", "200"},
      {"topic.metadata.refresh.interval.ms", "1000"},
  };
  o.topics = std::move(topics);
  return o;
}

inline KafkaSinkOptions sink_options(const EmbeddedBroker& broker, KafkaProperties extra = {}) {
  KafkaSinkOptions o;
  o.properties = merge_properties({{"bootstrap.servers", broker.bootstraps()}, {"linger.ms", "1"}}, extra);
  return o;
}

// Polls until `want` records arrived or `deadline` passed; optionally acks each.
inline std::vector<KafkaRecord> consume(KafkaSource& source, std::size_t want,
                                        std::chrono::milliseconds deadline, bool ack = false) {
  std::vector<KafkaRecord> out;
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (out.size() < want && std::chrono::steady_clock::now() < end) {
    auto r = source.poll(100ms);
    if (!r.ok() || !r->has_value()) continue;
    if (ack) source.ack(**r);
    out.push_back(std::move(**r));
  }
  return out;
}

// Polls (serving rebalances) for the given time, returning anything received.
inline std::vector<KafkaRecord> poll_for(KafkaSource& source, std::chrono::milliseconds how_long) {
  return consume(source, static_cast<std::size_t>(-1), how_long);
}

// Produces `n` records "<prefix>-i" and waits until all are delivered.
inline void produce_n(KafkaSink& sink, const std::string& topic, int n, const std::string& prefix = "m") {
  std::atomic<int> ok{0};
  for (int i = 0; i < n; ++i) {
    auto c = DeliveryCompletion::create([&](const Status& s) {
      if (s.ok()) ok.fetch_add(1);
    });
    const std::string v = prefix + "-" + std::to_string(i);
    (void)sink.produce(topic, v, v, {}, c);
    c->seal();
  }
  REQUIRE(sink.flush(10s).ok());
  REQUIRE(ok.load() == n);
}

inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace dxnorm::kafka::testing
