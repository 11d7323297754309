// KafkaSource: a consumer-group source with late, explicit acknowledgement.
//
// Delivery contract (at-least-once):
//   - poll() hands out records; each is "in flight" until ack()ed.
//   - An offset is STORED only over the contiguous prefix of acked records of
//     a partition (OffsetTracker); librdkafka auto-commits stored offsets
//     (enable.auto.commit=true, auto.commit.interval.ms, default 5 s), and
//     dxnorm commits synchronously on revoke and on close().
//   - Ack a record only once every sink has confirmed it (or its dead letter
//     has). A record never acked is redelivered after a restart/rebalance.
//   - Partitions are assigned cooperatively (cooperative-sticky). On revoke,
//     the contiguous-done position of the revoked partitions is committed
//     synchronously, then their in-flight state is forgotten: acks arriving
//     later for them are dropped (stale generation), never stored; the new
//     owner redelivers those records.
//
// Threading:
//   - poll(), pause(), resume(), close() and the destructor: ONE thread (the
//     poll thread). The rebalance callback runs inside poll()/close() on it.
//     Keep calling poll() while paused: it serves rebalances and heartbeats
//     and stores acked offsets.
//   - ack(), assigned_partitions(), in_flight(), stale_acks(), lag(),
//     paused(): any thread. ack() takes one per-partition mutex, marks the
//     record done and returns; no librdkafka call, no I/O. The stored offset
//     reaches librdkafka at the next poll()/close() on the poll thread.
//
// Lifetime: records and AckTokens may outlive the source; acks after close()
// are dropped. The source is neither copyable nor movable (librdkafka holds
// `this` as callback opaque); hold it by unique_ptr.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_record.h"
#include "connectors/kafka/offset_tracker.h"
#include "pipeline/core/status.h"

namespace dxnorm::kafka {

struct KafkaSourceOptions {
  // librdkafka consumer properties, passed through. Needs bootstrap.servers
  // and group.id. Overlaid on KafkaSource::default_properties().
  KafkaProperties properties;
  std::vector<std::string> topics;  // subscribed as a group
};

struct PartitionLag {
  TopicPartition tp;
  std::int64_t high_watermark = -1;  // cached from the last fetch response
  std::int64_t position = -1;        // next offset not yet acked (committable)
  std::int64_t lag = -1;             // high_watermark - position; -1 if unknown
};

class KafkaSource {
 public:
  // Defaults dxnorm sets and config may override:
  //   partition.assignment.strategy=cooperative-sticky, session.timeout.ms=6000,
  //   heartbeat.interval.ms=1000, auto.offset.reset=earliest,
  //   enable.auto.commit=true.
  // Always enforced (a conflicting value throws KafkaConfigError):
  //   enable.auto.offset.store=false.
  static KafkaProperties default_properties();

  // Creates the consumer and subscribes. Start-up only: throws
  // KafkaConfigError (bad property, no group.id, no topics, subscribe failed).
  explicit KafkaSource(KafkaSourceOptions options);
  ~KafkaSource();  // close() if not yet closed; noexcept

  KafkaSource(const KafkaSource&) = delete;
  KafkaSource& operator=(const KafkaSource&) = delete;

  // Poll thread. Waits up to `timeout` for one record. Returns:
  //   ok(record)        a record, now in flight (ack it via record.ack_token)
  //   ok(nullopt)       nothing within the timeout
  //   error             a consumer error, Stage::kSource, code per kafka_error.h
  //                     (kUnavailable: log and keep polling; kFailedPrecondition
  //                     / kInternal: stop the pipeline)
  // Also stores offsets acked since the last call.
  Result<std::optional<KafkaRecord>> poll(std::chrono::milliseconds timeout);

  // Any thread. Marks the record done. Returns false if it was dropped
  // (stale generation after revoke/close, duplicate, or empty token).
  bool ack(const AckToken& token) noexcept { return tracker_.ack(token); }
  bool ack(const KafkaRecord& record) noexcept { return tracker_.ack(record.ack_token); }

  // Poll thread. Pauses fetching on every assigned partition (and on any
  // assigned later, until resume()). Records already returned stay in flight.
  void pause();
  void resume();
  bool paused() const noexcept { return paused_.load(std::memory_order_relaxed); }

  // Poll thread. Stores what is acked, leaves the group (the revoke callback
  // commits synchronously), closes. Acks after this are dropped, so drain
  // workers first. Idempotent. Returns the close error, if any (kUnavailable).
  Status close();
  bool closed() const noexcept { return closed_.load(std::memory_order_relaxed); }

  // Any thread.
  std::size_t assigned_partitions() const { return tracker_.assigned_count(); }
  std::size_t in_flight() const { return tracker_.in_flight(); }
  std::uint64_t stale_acks() const noexcept { return tracker_.stale_acks(); }
  // Per assigned partition. Cheap: no network round trip (librdkafka's cached
  // watermarks, updated by fetches; stale while paused).
  std::vector<PartitionLag> lag() const;

 private:
  static void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  void store_acked();  // poll thread
  void commit_sync(const std::vector<PartitionOffset>& positions);

  // Declared before rk_: the rebalance callback uses them until rk_ is gone.
  OffsetTracker tracker_;
  std::atomic<bool> paused_{false};
  std::atomic<bool> closed_{false};
  KafkaHandle rk_;
};

}  // namespace dxnorm::kafka
