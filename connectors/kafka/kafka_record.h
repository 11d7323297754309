// Records and headers as dxnorm sees them: plain owned values, no librdkafka
// types, so the rest of the pipeline can hold them without lifetime hazards
// (a record may outlive the KafkaSource that produced it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dxnorm::kafka {

struct KafkaHeader {
  std::string key;
  std::string value;  // a null header value is read as empty
};
using KafkaHeaders = std::vector<KafkaHeader>;

// First header named `key`, if any.
std::optional<std::string_view> find_header(const KafkaHeaders& headers, std::string_view key) noexcept;

namespace detail {
struct PartitionTrack;  // OffsetTracker's per-partition state
}

// Identifies one consumed record for acknowledgement (KafkaSource::ack).
// Small and copyable: hand it to whichever thread finishes the record.
// Valid only for the assignment generation it came from: after its
// partition is revoked, an ack with it is dropped.
class AckToken {
 public:
  AckToken() = default;  // empty: ack is a no-op
  bool empty() const noexcept { return track_ == nullptr; }
  std::int64_t offset() const noexcept { return offset_; }

 private:
  friend class OffsetTracker;
  AckToken(std::shared_ptr<detail::PartitionTrack> track, std::int64_t offset)
      : track_(std::move(track)), offset_(offset) {}
  std::shared_ptr<detail::PartitionTrack> track_;
  std::int64_t offset_ = -1;
};

// One consumed Kafka record, owning copies of its bytes. Move-only, so that
// payloads are never copied by accident.
struct KafkaRecord {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::string key;      // empty when the record has no key (null) or an empty one
  std::string payload;  // raw bytes, unchanged
  std::int64_t timestamp_ms = -1;  // CreateTime/LogAppendTime; -1 if none
  KafkaHeaders headers;
  AckToken ack_token;  // empty for records not from a KafkaSource

  KafkaRecord() = default;
  KafkaRecord(KafkaRecord&&) noexcept = default;
  KafkaRecord& operator=(KafkaRecord&&) noexcept = default;
  KafkaRecord(const KafkaRecord&) = delete;
  KafkaRecord& operator=(const KafkaRecord&) = delete;

  std::optional<std::string_view> header(std::string_view name) const noexcept {
    return find_header(headers, name);
  }
};

}  // namespace dxnorm::kafka
