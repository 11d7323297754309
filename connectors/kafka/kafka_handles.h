// RAII owners for every librdkafka handle. Nothing else in dxnorm calls
// rd_kafka_*_destroy directly.
//
// Hazards the deleters encode:
//  - A consumer is closed (rd_kafka_consumer_close: leaves the group, runs
//    the revoke callback, commits stored offsets) before it is destroyed.
//    Owners that need the close outcome (KafkaSource) close explicitly first;
//    the deleter's close is then a cheap no-op (rd_kafka_consumer_closed).
//  - Callbacks and their opaque objects registered on a conf must outlive
//    the rd_kafka_t built from it: declare them before the KafkaHandle member.
//  - rd_kafka_new takes ownership of the conf only on success: call
//    ConfHandle::release() after a successful rd_kafka_new, not before.
//  - rd_kafka_producev takes ownership of a headers list only on success.
// All deleters are noexcept and accept null.
#pragma once

#include "connectors/kafka/kafka_record.h"

#include <librdkafka/rdkafka.h>

#include <memory>

namespace dxnorm::kafka {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const noexcept;  // closes a consumer first
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const noexcept { rd_kafka_conf_destroy(conf); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const noexcept {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* msg) const noexcept { rd_kafka_message_destroy(msg); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* hdrs) const noexcept { rd_kafka_headers_destroy(hdrs); }
};
struct KafkaErrorDeleter {
  void operator()(rd_kafka_error_t* error) const noexcept { rd_kafka_error_destroy(error); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const noexcept { rd_kafka_queue_destroy(queue); }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using KafkaErrorHandle = std::unique_ptr<rd_kafka_error_t, KafkaErrorDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;

inline PartitionListHandle make_partition_list(int capacity = 0) {
  return PartitionListHandle(rd_kafka_topic_partition_list_new(capacity));
}

// An owned copy of a consumed message (topic, partition, offset, key,
// payload, timestamp, headers); the ack token is left empty for the caller.
KafkaRecord to_kafka_record(const rd_kafka_message_t* msg);

}  // namespace dxnorm::kafka
