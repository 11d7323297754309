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

}  // namespace dxnorm::kafka
