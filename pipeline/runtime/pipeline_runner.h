// PipelineRunner: the main job of `dxnorm run`.
//
//   KafkaSource (consumer group) --poll thread--> worker queues (one worker
//   per partition hash, so each partition's records are converted and
//   published in order) --> MessageConverter (parse, route, map, validate)
//   --> KafkaSink: the Bundle to the bundle topic and each resource to its
//   per-type topic, keyed Type/id; or the original bytes to the dead-letter
//   topic with the reason in headers.
//
// Delivery contract (at-least-once): a consumed record is acknowledged to the
// source (and its offset becomes committable) only after every output record
// of it, or its dead letter, was confirmed by the brokers. A delivery failure
// (after librdkafka's own retries) re-queues the record; its offset is held.
// Deterministic ids make redelivery harmless.
//
// Threading: run() on the main thread; stop() from any thread or a signal
// handler thread; ready()/metrics from the HTTP threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "pipeline/map/mapping_set.h"
#include "pipeline/runtime/metrics.h"
#include "pipeline/runtime/run_config.h"

namespace dxnorm::runtime {

class PipelineRunner {
 public:
  PipelineRunner(RunConfig config, std::shared_ptr<const map::MappingSet> mappings, Metrics& metrics);
  ~PipelineRunner();

  // Consumes until stop(); then finishes in-flight records, flushes the sink
  // and commits. Throws at start-up only (bad Kafka properties).
  // Returns 0 on a clean stop, 1 when a fatal error stopped the pipeline.
  int run();
  void stop() noexcept;
  bool ready() const noexcept;
  // Hot reload: every worker switches to `mappings` before its next message
  // (a message is never mapped half by one set, half by another). Any thread.
  void set_mappings(std::shared_ptr<const map::MappingSet> mappings);

  struct Counts {
    std::uint64_t consumed = 0, published = 0, dead_lettered = 0, retried = 0;
  };
  Counts counts() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dxnorm::runtime
