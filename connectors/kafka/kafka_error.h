// librdkafka error codes -> dxnorm::Error, so that the pipeline acts on a
// StatusCode and never on librdkafka's numbers:
//   kUnavailable        transient (broker down, timeout, queue full, purge):
//                       back off, keep the offset, retry
//   kInvalidInput       this record can never be produced (MSG_SIZE_TOO_LARGE,
//                       INVALID_RECORD): dead-letter it
//   kFailedPrecondition configuration/permissions (unknown topic, authorization,
//                       authentication): alert, don't retry until fixed
//   kInternal           fatal client state (idempotent producer fenced or out
//                       of sequence, invalid argument): alert; the client must be recreated
// error_code is "KAFKA_" + rd_kafka_err2name (e.g. "KAFKA_MSG_SIZE_TOO_LARGE",
// "KAFKA__MSG_TIMED_OUT"); location is "topic[partition]" or "topic".
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/core/status.h"

namespace dxnorm::kafka {

StatusCode status_code_for(rd_kafka_resp_err_t err) noexcept;

Error kafka_error(rd_kafka_resp_err_t err, Stage stage, std::string location);

// "topic[3]"; "topic" when partition < 0 (unassigned).
std::string topic_location(std::string_view topic, std::int32_t partition);

}  // namespace dxnorm::kafka
