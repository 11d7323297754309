#include "connectors/kafka/kafka_reader.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "connectors/kafka/kafka_error.h"
#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {
namespace {

using Clock = std::chrono::steady_clock;

std::string throwaway_group_id() {
  static std::atomic<int> counter{0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  return "dxnorm-replay-" + std::to_string(::getpid()) + "-" + std::to_string(ms.count()) + "-" +
         std::to_string(++counter);
}

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const noexcept { rd_kafka_metadata_destroy(md); }
};

int ms(std::chrono::milliseconds d) { return static_cast<int>(std::max<std::int64_t>(0, d.count())); }

}  // namespace

std::string_view to_string(OffsetLookup method) noexcept {
  return method == OffsetLookup::kOffsetsForTimes ? "offsets-for-times" : "binary-search";
}


KafkaReader::KafkaReader(KafkaReaderOptions options) : options_(std::move(options)), group_id_(throwaway_group_id()) {
  if (options_.topic.empty()) throw KafkaConfigError("", "kafka reader: no topic");
  for (const char* forced : {"enable.auto.commit", "enable.auto.offset.store"}) {
    auto it = options_.properties.find(forced);
    if (it != options_.properties.end() && it->second != "false")
      throw KafkaConfigError(forced, std::string("kafka property '") + forced +
                                         "': must be false; a replay never commits offsets");
  }
  KafkaProperties props = options_.properties;
  // Consumer-group settings of the live pipeline do not apply to a reader.
  for (const char* drop : {"group.id", "group.instance.id", "partition.assignment.strategy", "session.timeout.ms",
                           "heartbeat.interval.ms", "auto.commit.interval.ms"})
    props.erase(drop);
  props["group.id"] = group_id_;
  props["enable.auto.commit"] = "false";
  props["enable.auto.offset.store"] = "false";
  props["enable.partition.eof"] = "true";
  if (!props.count("auto.offset.reset")) props["auto.offset.reset"] = "earliest";
  rk_ = make_client(RD_KAFKA_CONSUMER, make_conf(props));
}

KafkaReader::~KafkaReader() {
  if (!rk_) return;
  // Assign-only consumer with auto commit off: close commits nothing.
  rd_kafka_assign(rk_.get(), nullptr);
}

Result<std::vector<std::int32_t>> KafkaReader::partitions() {
  const rd_kafka_metadata_t* raw = nullptr;
  // all_topics=1: a request naming the topic would auto-create it on brokers
  // that allow that (the mock does).
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk_.get(), 1, nullptr, &raw, ms(options_.request_timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, Stage::kSource, options_.topic);
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (options_.topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(t.err, Stage::kSource, options_.topic);
    std::vector<std::int32_t> out;
    for (int p = 0; p < t.partition_cnt; ++p) out.push_back(t.partitions[p].id);
    std::sort(out.begin(), out.end());
    return out;
  }
  return kafka_error(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, Stage::kSource, options_.topic);
}

Result<Watermarks> KafkaReader::watermarks(std::int32_t partition) {
  Watermarks w;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk_.get(), options_.topic.c_str(), partition, &w.low,
                                                             &w.high, ms(options_.request_timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_error(err, Stage::kSource, topic_location(options_.topic, partition));
  return w;
}

Result<std::optional<std::int64_t>> KafkaReader::timestamp_at(std::int32_t partition, std::int64_t offset,
                                                              std::int64_t high) {
  // Reports the offset actually found through `offset` (a record may be
  // missing: compaction, transaction markers).
  auto list = make_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), partition)->offset = offset;
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, Stage::kSource, topic_location(options_.topic, partition));
  const auto deadline = Clock::now() + options_.request_timeout;
  while (Clock::now() < deadline) {
    MessageHandle msg(rd_kafka_consumer_poll(rk_.get(), 100));
    if (!msg || msg->partition != partition) continue;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<std::int64_t>();
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return kafka_error(msg->err, Stage::kSource, topic_location(options_.topic, partition));
    if (msg->offset < offset) continue;  // from before the re-assignment
    if (msg->offset >= high) return std::optional<std::int64_t>();
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    std::int64_t ts = rd_kafka_message_timestamp(msg.get(), &type);
    found_offset_ = msg->offset;
    return std::optional<std::int64_t>(type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts);
  }
  return kafka_error(RD_KAFKA_RESP_ERR__TIMED_OUT, Stage::kSource, topic_location(options_.topic, partition));
}

Result<TimeOffset> KafkaReader::offset_for_time(std::int32_t partition, std::int64_t timestamp_ms) {
  auto wm = watermarks(partition);
  if (!wm.ok()) return wm.error();
  TimeOffset out;
  {
    auto list = make_partition_list(1);
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), partition)->offset = timestamp_ms;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk_.get(), list.get(), ms(options_.request_timeout));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
        list->elems[0].offset >= 0) {
      out.offset = std::clamp(list->elems[0].offset, wm->low, wm->high);
      out.method = OffsetLookup::kOffsetsForTimes;
      return out;
    }
    log(kLogDebug, "kafka reader: offsets-for-times on " + topic_location(options_.topic, partition) +
                       " gave no offset; binary search on record timestamps");
  }
  // -1 means "no record at or after that time" on a real broker, and "not
  // supported" on the mock: the search answers both correctly.
  out.method = OffsetLookup::kBinarySearch;
  std::int64_t lo = wm->low, hi = wm->high;  // answer in [lo, hi]
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    auto ts = timestamp_at(partition, mid, hi);
    if (!ts.ok()) return ts.error();
    ++out.records_read;
    if (!ts->has_value() || **ts >= timestamp_ms) {
      hi = mid;
    } else {
      lo = found_offset_ + 1;
    }
  }
  out.offset = lo;
  rd_kafka_assign(rk_.get(), nullptr);
  return out;
}

Status KafkaReader::assign(const std::vector<OffsetRange>& ranges) {
  ranges_.clear();
  open_ranges_ = 0;
  auto list = make_partition_list(static_cast<int>(ranges.size()));
  for (const auto& r : ranges) {
    RangeState& s = ranges_[r.partition];
    s.to = r.to;
    s.done = r.from >= r.to;
    if (s.done) continue;
    ++open_ranges_;
    rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), r.partition)->offset = r.from;
  }
  if (rd_kafka_resp_err_t err = rd_kafka_assign(rk_.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_error(err, Stage::kSource, options_.topic);
  return ok_status();
}

void KafkaReader::finish(std::int32_t partition, RangeState& state) {
  if (state.done) return;
  state.done = true;
  --open_ranges_;
  auto list = make_partition_list(1);
  rd_kafka_topic_partition_list_add(list.get(), options_.topic.c_str(), partition);
  rd_kafka_pause_partitions(rk_.get(), list.get());  // stop fetching past the range
}

Result<std::optional<KafkaRecord>> KafkaReader::poll(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    MessageHandle msg(rd_kafka_consumer_poll(rk_.get(), ms(left)));
    if (!msg) return std::optional<KafkaRecord>();
    auto it = ranges_.find(msg->partition);
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // Everything stored has been read: a range past the end is done too.
      if (it != ranges_.end()) finish(msg->partition, it->second);
    } else if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Error error = kafka_error(msg->err, Stage::kSource, topic_location(options_.topic, msg->partition));
      log(kLogWarning, "kafka reader: " + error.to_string());
      return error;
    } else if (it != ranges_.end() && !it->second.done) {
      if (msg->offset >= it->second.to) {
        finish(msg->partition, it->second);
      } else {
        KafkaRecord rec = to_kafka_record(msg.get());
        if (msg->offset + 1 >= it->second.to) finish(msg->partition, it->second);
        return std::optional<KafkaRecord>(std::move(rec));
      }
    }
    if (Clock::now() >= deadline) break;
  }
  return std::optional<KafkaRecord>();
}

}  // namespace dxnorm::kafka
