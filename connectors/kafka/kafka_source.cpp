#include "connectors/kafka/kafka_source.h"

#include <cstring>
#include <string>

#include "connectors/kafka/kafka_error.h"
#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {
namespace {

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<std::size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) out.push_back({list->elems[i].topic, list->elems[i].partition});
  return out;
}

PartitionListHandle to_list(const std::vector<PartitionOffset>& positions) {
  auto list = make_partition_list(static_cast<int>(positions.size()));
  for (const auto& p : positions) {
    rd_kafka_topic_partition_list_add(list.get(), p.tp.topic.c_str(), p.tp.partition)->offset = p.offset;
  }
  return list;
}

std::string describe(const rd_kafka_topic_partition_list_t* list) {
  std::string out;
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    if (i > 0) out += ",";
    out += topic_location(list->elems[i].topic, list->elems[i].partition);
  }
  return out;
}


}  // namespace

KafkaProperties KafkaSource::default_properties() {
  return {
      {"partition.assignment.strategy", "cooperative-sticky"},
      {"session.timeout.ms", "6000"},
      {"heartbeat.interval.ms", "1000"},
      {"auto.offset.reset", "earliest"},
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "false"},
  };
}

KafkaSource::KafkaSource(KafkaSourceOptions options) {
  if (auto it = options.properties.find("enable.auto.offset.store");
      it != options.properties.end() && it->second != "false") {
    throw KafkaConfigError("enable.auto.offset.store",
                           "kafka property 'enable.auto.offset.store': must be false; dxnorm stores offsets "
                           "only after every sink has confirmed");
  }
  KafkaProperties props = merge_properties(default_properties(), options.properties);
  if (props.count("group.id") == 0 || props["group.id"].empty()) {
    throw KafkaConfigError("group.id", "kafka property 'group.id': required for a consumer");
  }
  if (options.topics.empty()) throw KafkaConfigError("", "kafka source: no topics to subscribe to");

  ConfHandle conf = make_conf(props);
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaSource::rebalance_cb);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSource::error_cb);
  rk_ = make_client(RD_KAFKA_CONSUMER, std::move(conf));
  rd_kafka_poll_set_consumer(rk_.get());  // one queue: rebalances served by poll()

  auto topics = make_partition_list(static_cast<int>(options.topics.size()));
  for (const auto& t : options.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_.get(), topics.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaConfigError("", std::string("kafka source: subscribe failed: ") + rd_kafka_err2str(err));
  }
}

KafkaSource::~KafkaSource() {
  try {
    if (rk_ && !closed()) (void)close();
  } catch (...) {
    log(kLogError, "kafka source: close failed in destructor");
  }
}

void KafkaSource::error_cb(rd_kafka_t*, int err, const char* reason, void*) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  int level = code == RD_KAFKA_RESP_ERR__FATAL ? kLogError : kLogWarning;
  log(level, std::string("kafka consumer error ") + rd_kafka_err2name(code) + ": " + reason);
}

void KafkaSource::rebalance_cb(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                               void* opaque) {
  static_cast<KafkaSource*>(opaque)->on_rebalance(err, partitions);
}

void KafkaSource::commit_sync(const std::vector<PartitionOffset>& positions) {
  if (positions.empty()) return;
  auto list = to_list(positions);
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_.get(), list.get(), 0 /* sync */);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    log(kLogWarning, std::string("kafka source: commit of ") + describe(list.get()) + " failed: " +
                         rd_kafka_err2name(err));
  }
}

void KafkaSource::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
  rd_kafka_t* rk = rk_.get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    log(kLogInfo, "kafka source: assigned " + describe(partitions));
    tracker_.assign(to_vector(partitions));
    if (cooperative) {
      KafkaErrorHandle e(rd_kafka_incremental_assign(rk, partitions));
      if (e) log(kLogError, std::string("kafka source: incremental assign failed: ") + rd_kafka_error_name(e.get()));
    } else {
      rd_kafka_assign(rk, partitions);
    }
    if (paused()) rd_kafka_pause_partitions(rk, partitions);
    return;
  }
  if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    log(kLogError, std::string("kafka source: rebalance error ") + rd_kafka_err2name(err));
    tracker_.clear();
    if (cooperative) {
      KafkaErrorHandle e(rd_kafka_incremental_unassign(rk, partitions));
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    return;
  }
  // Revoke: commit what is contiguously done, then forget the in-flight state.
  const bool lost = rd_kafka_assignment_lost(rk) != 0;
  store_acked();
  std::vector<PartitionOffset> positions = tracker_.revoke(to_vector(partitions));
  if (lost) {
    log(kLogWarning, "kafka source: assignment lost, not committing " + describe(partitions));
  } else {
    commit_sync(positions);
    log(kLogInfo, "kafka source: revoked " + describe(partitions));
  }
  if (cooperative) {
    KafkaErrorHandle e(rd_kafka_incremental_unassign(rk, partitions));
    if (e) log(kLogError, std::string("kafka source: incremental unassign failed: ") + rd_kafka_error_name(e.get()));
  } else {
    rd_kafka_assign(rk, nullptr);
  }
}

void KafkaSource::store_acked() {
  std::vector<PartitionOffset> positions = tracker_.take_committable();
  if (positions.empty()) return;
  auto list = to_list(positions);
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk_.get(), list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    log(kLogWarning, std::string("kafka source: offset store failed: ") + rd_kafka_err2name(err));
    return;
  }
  for (int i = 0; i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log(kLogWarning, "kafka source: offset store " + topic_location(list->elems[i].topic, list->elems[i].partition) +
                           " failed: " + rd_kafka_err2name(list->elems[i].err));
    }
  }
}

Result<std::optional<KafkaRecord>> KafkaSource::poll(std::chrono::milliseconds timeout) {
  if (closed()) {
    return make_error(StatusCode::kFailedPrecondition, Stage::kSource, "KAFKA_SOURCE_CLOSED", "",
                      "poll after close");
  }
  store_acked();
  MessageHandle msg(rd_kafka_consumer_poll(rk_.get(), static_cast<int>(timeout.count())));
  if (!msg) return std::optional<KafkaRecord>();
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return std::optional<KafkaRecord>();
    std::string where = msg->rkt != nullptr ? topic_location(rd_kafka_topic_name(msg->rkt), msg->partition) : "";
    Error error = kafka_error(msg->err, Stage::kSource, std::move(where));
    log(kLogWarning, "kafka source: " + error.to_string());
    return error;
  }
  KafkaRecord rec = to_kafka_record(msg.get());
  rec.ack_token = tracker_.begin({rec.topic, rec.partition}, rec.offset);
  return std::optional<KafkaRecord>(std::move(rec));
}

void KafkaSource::pause() {
  paused_.store(true);
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionListHandle list(raw);
  rd_kafka_pause_partitions(rk_.get(), list.get());
}

void KafkaSource::resume() {
  paused_.store(false);
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(rk_.get(), &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  PartitionListHandle list(raw);
  rd_kafka_resume_partitions(rk_.get(), list.get());
}

Status KafkaSource::close() {
  if (closed_.exchange(true)) return ok_status();
  store_acked();
  // Runs the revoke callback (store + synchronous commit) before leaving.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_.get());
  tracker_.clear();
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Error error = kafka_error(err, Stage::kSource, "");
    log(kLogWarning, "kafka source: close: " + error.to_string());
    return error;
  }
  return ok_status();
}

std::vector<PartitionLag> KafkaSource::lag() const {
  std::vector<PartitionLag> out;
  if (closed()) return out;
  for (auto& p : tracker_.positions()) {
    PartitionLag l;
    l.tp = p.tp;
    l.position = p.offset;
    std::int64_t low = -1;
    std::int64_t high = -1;
    if (rd_kafka_get_watermark_offsets(rk_.get(), p.tp.topic.c_str(), p.tp.partition, &low, &high) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        high >= 0) {
      l.high_watermark = high;
    }
    if (l.position < 0) {
      // Nothing handed out in this generation: use the fetch position.
      auto list = make_partition_list(1);
      rd_kafka_topic_partition_list_add(list.get(), p.tp.topic.c_str(), p.tp.partition);
      if (rd_kafka_position(rk_.get(), list.get()) == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].offset >= 0) {
        l.position = list->elems[0].offset;
      }
    }
    if (l.high_watermark >= 0 && l.position >= 0) l.lag = std::max<std::int64_t>(0, l.high_watermark - l.position);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace dxnorm::kafka
