// KafkaSink: an idempotent producer with per-input-message completions.
//
// One input message usually yields N output records (a Bundle, one record
// per resource, or one dead letter). Give all N the same DeliveryCompletion,
// then seal() it: its callback fires exactly once, with ok when all N were
// delivered (acks=all), or with the first error. Then ack the input offset.
//
// Threading: produce(), flush(), outq_len(), fatal_error() from any thread.
// close() and the destructor: once, after every producing thread has stopped.
// Delivery reports are served by a dedicated poll thread owned by the sink.
//
// Lifetime: completions may outlive the sink; close() fails every record
// still queued (kUnavailable, KAFKA__PURGE_QUEUE/_INFLIGHT) so every
// completion fires before the sink is gone.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_record.h"
#include "pipeline/core/status.h"

namespace dxnorm::kafka {

// Ref-counted (shared_ptr) outcome of one input message's output records.
// Thread-safe. The callback runs exactly once, on:
//   - the sink's poll thread (normally: the last delivery report), or
//   - the thread calling seal() (nothing pending any more), or
//   - the thread calling produce() (a record failed synchronously), or
//   - the thread calling KafkaSink::close() (records purged at shutdown).
// It must be quick and must not block or call flush()/close(): typically it
// records the outcome and acks the input (KafkaSource::ack is cheap).
//
// Lifetime: while any of its records is in librdkafka, the completion keeps
// itself alive (one self-reference taken by the sink's first produce() with
// it, dropped after the last delivery report and seal()), so the caller may
// drop its reference right after seal(). A completion that is produced with
// but never sealed is never released: seal() is required.
class DeliveryCompletion {
 public:
  using Callback = std::function<void(const Status& outcome)>;

  static std::shared_ptr<DeliveryCompletion> create(Callback callback);

  // No more produce() calls will use this completion. Required: before
  // seal() the completion cannot know that N records were all there is.
  void seal() noexcept;

  // Keeps `owner` alive until this completion is destroyed, which is after
  // the delivery report of every record produced with it: where the bytes
  // of KafkaSink::produce_borrowed() records live. Call it before the first
  // produce with this completion, from the producing thread.
  void keep_alive(std::shared_ptr<const void> owner) noexcept { owned_ = std::move(owner); }

  bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }
  std::uint32_t delivered() const noexcept { return delivered_.load(std::memory_order_relaxed); }

  // Used by KafkaSink (and tests); not part of the producer-facing contract.
  // retain(): `self` is this completion; held until the last release.
  void retain(const std::shared_ptr<DeliveryCompletion>& self) noexcept;
  void add_pending() noexcept { pending_.fetch_add(1, std::memory_order_relaxed); }
  void on_delivered() noexcept;
  void on_failed(Error error) noexcept;

  explicit DeliveryCompletion(Callback callback) : callback_(std::move(callback)) {}

 private:
  void release() noexcept;
  void fire(const Status& outcome) noexcept;

  Callback callback_;
  std::shared_ptr<const void> owned_;  // destroyed with the completion, after every report
  std::shared_ptr<DeliveryCompletion> self_;  // set once by retain(); dropped by the last release()
  std::atomic<bool> retained_{false};
  std::atomic<std::int32_t> pending_{1};  // +1 until seal()
  std::atomic<std::uint32_t> delivered_{0};
  std::atomic<bool> fired_{false};
};

struct KafkaSinkOptions {
  // librdkafka producer properties, passed through (bootstrap.servers,
  // max.in.flight.requests.per.connection, linger.ms, message.timeout.ms,
  // compression.type, ...). Overlaid on KafkaSink::default_properties().
  KafkaProperties properties;
  // produce() waits at most this long for room when librdkafka's local queue
  // is full (backpressure), then fails with kUnavailable KAFKA__QUEUE_FULL.
  std::chrono::milliseconds queue_full_timeout{10'000};
};

class KafkaSink {
 public:
  // Defaults config may override: acks=all, partitioner=murmur2_random (same
  // key -> same partition as Java clients). Enforced (conflicting value
  // throws KafkaConfigError): enable.idempotence=true.
  static KafkaProperties default_properties();

  // Start-up only: throws KafkaConfigError. Starts the poll thread.
  explicit KafkaSink(KafkaSinkOptions options);
  ~KafkaSink();  // close(5 s) if not closed; noexcept

  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  // Any thread. Copies key, value and headers (the caller's buffers may go
  // away on return). An empty key is produced as a null key. `completion`
  // may be null (fire and forget). On a synchronous failure the error is
  // returned AND passed to the completion, so the completion stays the
  // single outcome to wait for; stop producing the message's other records.
  //   kUnavailable        queue still full after queue_full_timeout
  //   kInvalidInput       MSG_SIZE_TOO_LARGE (message.max.bytes)
  //   kFailedPrecondition unknown topic/partition; sink closed
  //   kInternal           fatal producer error (see fatal_error())
  Status produce(std::string_view topic, std::string_view key, std::string_view value,
                 const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion);

  // As produce(), but `value` is NOT copied: librdkafka reads it until the
  // record's delivery report. The caller guarantees the bytes stay valid and
  // unchanged until then; the way to do that is to let `completion` own them
  // (DeliveryCompletion::keep_alive), since a completion is destroyed only
  // after the last report of its records, even when an early failure has
  // already fired its callback. `completion` must not be null. Key and
  // headers are still copied.
  Status produce_borrowed(std::string_view topic, std::string_view key, std::string_view value,
                          const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion);

  // Any thread. Waits until everything queued is delivered or failed.
  // kUnavailable KAFKA__TIMED_OUT with outq_len() > 0 if not within `timeout`.
  Status flush(std::chrono::milliseconds timeout);

  // Records (and requests) not yet acknowledged by the brokers.
  std::size_t outq_len() const;

  // Set once librdkafka raised a fatal error (the idempotent producer can no
  // longer guarantee ordering/no duplicates); recreate the sink.
  std::optional<Error> fatal_error() const;

  // Once. flush(timeout); records still queued are purged and their
  // completions fire with kUnavailable; stops the poll thread. Returns
  // kUnavailable if anything had to be purged.
  Status close(std::chrono::milliseconds timeout);

  std::uint64_t delivered_count() const noexcept { return reports_.delivered.load(std::memory_order_relaxed); }
  std::uint64_t failed_count() const noexcept { return reports_.failed.load(std::memory_order_relaxed); }

 private:
  // The conf's opaque: must outlive rk_, so declared before it.
  struct Reports {
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> failed{0};
    std::atomic<bool> fatal{false};
  };
  static void delivery_cb(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  Status produce_impl(std::string_view topic, std::string_view key, std::string_view value, int msgflags,
                      const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion);
  // The cached handle of `topic` (created on first use; null if librdkafka
  // refused it). Valid until close(); any thread.
  rd_kafka_topic_t* topic_handle(std::string_view topic);
  void poll_loop();
  void stop_poll_thread() noexcept;

  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* rkt) const noexcept { rd_kafka_topic_destroy(rkt); }
  };
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  Reports reports_;
  std::chrono::milliseconds queue_full_timeout_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  KafkaHandle rk_;
  // Topic handles, one per output topic: produce() would otherwise look the
  // topic up by name (under librdkafka's handle lock) for every record.
  // Declared after rk_: released before rk_ is destroyed.
  std::mutex topics_mu_;
  std::unordered_map<std::string, std::unique_ptr<rd_kafka_topic_t, TopicDeleter>, NameHash, std::equal_to<>>
      topics_;
  std::thread poll_thread_;  // declared after rk_: joined before rk_ is destroyed
};

}  // namespace dxnorm::kafka
