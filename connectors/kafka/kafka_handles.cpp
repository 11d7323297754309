#include "connectors/kafka/kafka_handles.h"

#include <string>

#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {

void KafkaDeleter::operator()(rd_kafka_t* rk) const noexcept {
  if (rk == nullptr) return;
  // rd_kafka_type is safe to call on any handle; only consumers have a group
  // to leave. consumer_close is idempotent-safe via rd_kafka_consumer_closed.
  if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER && !rd_kafka_consumer_closed(rk)) {
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log(kLogWarning, std::string("consumer close before destroy failed: ") + rd_kafka_err2name(err));
    }
  }
  rd_kafka_destroy(rk);
}

KafkaRecord to_kafka_record(const rd_kafka_message_t* msg) {
  KafkaRecord rec;
  rec.topic = rd_kafka_topic_name(msg->rkt);
  rec.partition = msg->partition;
  rec.offset = msg->offset;
  if (msg->key != nullptr) rec.key.assign(static_cast<const char*>(msg->key), msg->key_len);
  if (msg->payload != nullptr) rec.payload.assign(static_cast<const char*>(msg->payload), msg->len);
  rd_kafka_timestamp_type_t ts_type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  rec.timestamp_ms = rd_kafka_message_timestamp(msg, &ts_type);
  if (ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE) rec.timestamp_ms = -1;
  rd_kafka_headers_t* hdrs = nullptr;  // owned by msg
  if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    rec.headers.reserve(rd_kafka_header_cnt(hdrs));
    for (std::size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
      rec.headers.push_back({name, value != nullptr ? std::string(static_cast<const char*>(value), size) : std::string()});
  }
  return rec;
}

}  // namespace dxnorm::kafka
