// KafkaReader: a plain consumer that reads chosen offset ranges of one topic,
// for `dxnorm replay` and for tools that inspect topics.
//
// Contract:
//   - No consumer group membership and no commits, ever: partitions are
//     assign()ed by the reader itself, enable.auto.commit and
//     enable.auto.offset.store are forced to false (a conflicting property
//     throws), and nothing calls rd_kafka_commit. librdkafka wants a group.id
//     on a consumer handle, so a throwaway one is generated
//     ("dxnorm-replay-<pid>-<epoch ms>-<n>"); a group.id in the properties is
//     ignored, so the live pipeline's group can never be touched from here.
//   - Ranges are half-open, [from, to) per partition. A range ends when its
//     `to` offset is reached, or at end of partition (nothing more to read).
//
// Threading: one thread for everything (it owns one consumer handle).
// Errors: the constructor throws KafkaConfigError (start-up); every other call
// returns a Result whose Error comes from kafka_error.h (Stage::kSource).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_record.h"
#include "pipeline/core/status.h"

namespace dxnorm::kafka {

struct Watermarks {
  std::int64_t low = -1;   // first offset still stored
  std::int64_t high = -1;  // next offset to be written
};

struct OffsetRange {
  std::int32_t partition = -1;
  std::int64_t from = 0;  // first offset read
  std::int64_t to = 0;    // first offset NOT read (usually a high watermark)
};

// How offset_for_time found its answer.
enum class OffsetLookup : std::uint8_t {
  kOffsetsForTimes,  // the broker's ListOffsets by timestamp
  kBinarySearch,     // the broker answered -1 or failed: binary search on record timestamps
};
std::string_view to_string(OffsetLookup method) noexcept;

struct TimeOffset {
  std::int64_t offset = -1;  // first offset whose timestamp >= the asked time; high watermark when none
  OffsetLookup method = OffsetLookup::kOffsetsForTimes;
  int records_read = 0;      // single records fetched by the binary search
};

struct KafkaReaderOptions {
  // librdkafka consumer properties, passed through (bootstrap.servers,
  // security.*, ...). group.id is replaced by a throwaway id; see above.
  KafkaProperties properties;
  std::string topic;
  std::chrono::milliseconds request_timeout{10'000};  // metadata, watermarks, lookups
};

class KafkaReader {
 public:
  // Start-up only: throws KafkaConfigError (bad property, enable.auto.commit
  // or enable.auto.offset.store set to true, empty topic).
  explicit KafkaReader(KafkaReaderOptions options);
  ~KafkaReader();  // closes the consumer (no group, so no commit); noexcept

  KafkaReader(const KafkaReader&) = delete;
  KafkaReader& operator=(const KafkaReader&) = delete;

  const std::string& topic() const noexcept { return options_.topic; }
  const std::string& group_id() const noexcept { return group_id_; }

  // The topic's partitions, ascending (a metadata request).
  // kFailedPrecondition KAFKA_UNKNOWN_TOPIC_OR_PART when the topic does not exist.
  Result<std::vector<std::int32_t>> partitions();

  // Asks the partition leader (not the cached values).
  Result<Watermarks> watermarks(std::int32_t partition);

  // First offset of `partition` whose record timestamp is >= `timestamp_ms`
  // (the high watermark when every record is older). Uses the broker's
  // offsets-for-times; where it answers -1 (librdkafka's mock cluster does,
  // for every timestamp) or fails, binary-searches [low, high) reading single
  // records' timestamps, which assumes timestamps do not decrease along the
  // partition (CreateTime set by well-behaved producers, or LogAppendTime).
  // The binary search re-assigns the consumer: call it before assign().
  Result<TimeOffset> offset_for_time(std::int32_t partition, std::int64_t timestamp_ms);

  // Replaces the assignment with these ranges (empty ranges are done at
  // once). Positions are explicit: no committed offset is ever looked up.
  Status assign(const std::vector<OffsetRange>& ranges);

  // Next record inside the assigned ranges; ok(nullopt) on timeout or when
  // done(). Records at or past a range's `to` are never returned.
  Result<std::optional<KafkaRecord>> poll(std::chrono::milliseconds timeout);

  // Every assigned range has been read to its end.
  bool done() const noexcept { return open_ranges_ == 0; }

 private:
  struct RangeState {
    std::int64_t to = 0;
    bool done = false;
  };
  void finish(std::int32_t partition, RangeState& state);
  // The timestamp of the first record at or after `offset` (below `high`),
  // whose offset goes to found_offset_; nullopt when there is none.
  Result<std::optional<std::int64_t>> timestamp_at(std::int32_t partition, std::int64_t offset, std::int64_t high);

  KafkaReaderOptions options_;
  std::string group_id_;
  std::map<std::int32_t, RangeState> ranges_;
  std::size_t open_ranges_ = 0;
  std::int64_t found_offset_ = -1;
  KafkaHandle rk_;
};

}  // namespace dxnorm::kafka
