// EmbeddedBroker: librdkafka's mock cluster (rdkafka_mock.h) on 127.0.0.1,
// for `dxnorm run` without bootstrap.servers, `dxnorm broker`, and tests.
//
// Hazards (see docs/EMBEDDED_BROKER.md):
//  - Memory only, about 5 MB per partition; older data is dropped silently.
//    Never present it as durable storage.
//  - No CreateTopics: create topics here before clients use them (a metadata
//    request auto-creates an unknown topic with 4 partitions).
//  - The mock API is experimental in librdkafka; this unit is the only code
//    that includes rdkafka_mock.h. Its types stay out of this header.
//  - Ports are random on each start: hand bootstraps() to clients, or write
//    them to a file for other processes.
//
// Threading: all methods are safe from any thread (the mock cluster
// serialises them on its own thread). SIGINT/SIGTERM are blocked while its
// threads are spawned, so signals reach the application's threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

namespace dxnorm::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication_factor = 1;  // <= number of brokers
};

// Kafka protocol API keys, for push_request_errors.
enum class KafkaApi : std::int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kInitProducerId = 22,
};

class EmbeddedBroker {
 public:
  // Starts `brokers` brokers (ids 1..brokers). Throws std::runtime_error.
  explicit EmbeddedBroker(int brokers = 1);
  ~EmbeddedBroker();  // stops the brokers; connected clients see them go down

  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // Throws std::runtime_error (e.g. replication factor > brokers).
  void create_topic(const TopicSpec& topic);

  // "127.0.0.1:port,..." — the value for bootstrap.servers.
  const std::string& bootstraps() const noexcept { return bootstraps_; }
  int broker_count() const noexcept { return brokers_; }

  // Writes bootstraps() plus a newline, atomically (temp file + rename).
  // Throws std::runtime_error.
  void write_bootstraps(const std::string& path) const;

  // Fault injection (tests, demos). Throw std::runtime_error on a bad id.
  void set_broker_down(std::int32_t broker_id);
  void set_broker_up(std::int32_t broker_id);
  void set_broker_rtt(std::int32_t broker_id, int rtt_ms);
  // The next errors.size() requests of `api` (any broker) fail with these
  // errors, in order.
  void push_request_errors(KafkaApi api, const std::vector<rd_kafka_resp_err_t>& errors);
  void clear_request_errors(KafkaApi api);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string bootstraps_;
  int brokers_ = 0;
};

struct BrokerOptions {
  int brokers = 1;
  std::vector<TopicSpec> topics;
  std::string bootstrap_file;  // written when non-empty
};

// `dxnorm broker`: starts an EmbeddedBroker, creates the topics, prints the
// bootstrap address on stdout (and writes it to bootstrap_file), prints the
// memory-only warning on stderr, then runs until SIGINT or SIGTERM.
// Blocks SIGINT/SIGTERM in the calling thread (and so in threads it creates)
// and waits for them with sigwait: call it from the main thread before
// starting other threads. Returns the process exit code: 0 after a signal,
// 1 when start-up failed (reason on stderr).
int run_standalone_broker(const BrokerOptions& options);

// The warning both `dxnorm broker` and `dxnorm run` print when they embed a
// broker (one paragraph, no trailing newline).
const char* embedded_broker_warning() noexcept;

}  // namespace dxnorm::kafka
