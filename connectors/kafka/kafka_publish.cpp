#include "connectors/kafka/kafka_publish.h"

#include <mutex>

#include "connectors/kafka/kafka_sink.h"

namespace dxnorm::kafka {

PublishReport publish_records(const KafkaProperties& properties, const std::string& topic,
                              const std::vector<std::string>& payloads, const PublishKeyFn& key,
                              std::chrono::milliseconds timeout) {
  PublishReport report;
  std::mutex mutex;  // guards report; completions fire on the sink's threads
  auto record_outcome = [&](const Status& outcome) {
    std::lock_guard lock(mutex);
    if (outcome.ok()) {
      ++report.delivered;
      return;
    }
    ++report.failed;
    if (!report.first_error) report.first_error = outcome.error();
  };
  {
    KafkaSink sink(KafkaSinkOptions{properties});
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      auto completion = DeliveryCompletion::create(record_outcome);
      const std::string k = key ? key(i, payloads[i]) : std::string();
      (void)sink.produce(topic, k, payloads[i], {}, completion);  // a failure lands in the completion
      completion->seal();
    }
    // close() fires every remaining completion (purged ones with an error)
    // before the sink is destroyed, so `report` is final after this scope.
    (void)sink.close(timeout);
  }
  return report;
}

}  // namespace dxnorm::kafka
