#include "connectors/kafka/kafka_sink.h"

#include <string>

#include "connectors/kafka/kafka_error.h"
#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {

// ---- DeliveryCompletion ----------------------------------------------------

std::shared_ptr<DeliveryCompletion> DeliveryCompletion::create(Callback callback) {
  return std::make_shared<DeliveryCompletion>(std::move(callback));
}

void DeliveryCompletion::fire(const Status& outcome) noexcept {
  if (fired_.exchange(true, std::memory_order_acq_rel)) return;
  if (!callback_) return;
  try {
    callback_(outcome);
  } catch (...) {
    log(kLogError, "kafka sink: delivery completion callback threw; ignored");
  }
}

void DeliveryCompletion::retain(const std::shared_ptr<DeliveryCompletion>& self) noexcept {
  // Before seal(), so pending_ > 0: no release() can drop self_ meanwhile.
  // The final release() reads self_ after an acq_rel decrement that follows
  // this write, so it sees it.
  if (!retained_.exchange(true, std::memory_order_relaxed)) self_ = self;
}

void DeliveryCompletion::release() noexcept {
  if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  fire(ok_status());  // no-op if a failure fired first
  // Every record is reported and seal() was called: nothing touches this
  // completion any more but its owners. Dropping the self-reference may
  // destroy it (and what keep_alive() holds): last statement.
  std::shared_ptr<DeliveryCompletion> self = std::move(self_);
}

void DeliveryCompletion::seal() noexcept { release(); }

void DeliveryCompletion::on_delivered() noexcept {
  delivered_.fetch_add(1, std::memory_order_relaxed);
  release();
}

void DeliveryCompletion::on_failed(Error error) noexcept {
  fire(Status(std::move(error)));  // first error wins; later outcomes ignored
  release();
}

// ---- KafkaSink --------------------------------------------------------------

KafkaProperties KafkaSink::default_properties() {
  return {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"partitioner", "murmur2_random"},
  };
}

KafkaSink::KafkaSink(KafkaSinkOptions options) : queue_full_timeout_(options.queue_full_timeout) {
  if (auto it = options.properties.find("enable.idempotence");
      it != options.properties.end() && it->second != "true") {
    throw KafkaConfigError("enable.idempotence",
                           "kafka property 'enable.idempotence': must be true for dxnorm's sinks");
  }
  ConfHandle conf = make_conf(merge_properties(default_properties(), options.properties));
  rd_kafka_conf_set_opaque(conf.get(), &reports_);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaSink::delivery_cb);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaSink::error_cb);
  rk_ = make_client(RD_KAFKA_PRODUCER, std::move(conf));
  poll_thread_ = std::thread([this] { poll_loop(); });
}

KafkaSink::~KafkaSink() {
  if (!closed_.load()) (void)close(std::chrono::seconds(5));
  stop_poll_thread();
}

void KafkaSink::poll_loop() {
  while (!stop_.load(std::memory_order_acquire)) rd_kafka_poll(rk_.get(), 100);
}

void KafkaSink::stop_poll_thread() noexcept {
  stop_.store(true, std::memory_order_release);
  if (poll_thread_.joinable()) poll_thread_.join();
}

void KafkaSink::error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    static_cast<Reports*>(opaque)->fatal.store(true);
    char buf[256] = {0};
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    log(kLogError, std::string("kafka producer fatal error ") + rd_kafka_err2name(orig) + ": " + buf);
    return;
  }
  log(kLogWarning, std::string("kafka producer error ") + rd_kafka_err2name(code) + ": " + reason);
}

void KafkaSink::delivery_cb(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* reports = static_cast<Reports*>(opaque);
  // The record's pending count, taken in produce(); the completion keeps
  // itself alive until its last one is released (DeliveryCompletion::retain).
  // Releasing may destroy the completion and a borrowed payload with it:
  // nothing below reads msg->payload.
  auto* completion = static_cast<DeliveryCompletion*>(msg->_private);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    reports->delivered.fetch_add(1, std::memory_order_relaxed);
    if (completion) completion->on_delivered();
    return;
  }
  reports->failed.fetch_add(1, std::memory_order_relaxed);
  std::string where = topic_location(rd_kafka_topic_name(msg->rkt), msg->partition);
  Error error = kafka_error(msg->err, Stage::kPublish, where);
  log(kLogWarning, "kafka sink: delivery failed " + where + ": " + rd_kafka_err2name(msg->err));
  if (completion) completion->on_failed(std::move(error));
}

rd_kafka_topic_t* KafkaSink::topic_handle(std::string_view topic) {
  std::lock_guard lock(topics_mu_);
  if (auto it = topics_.find(topic); it != topics_.end()) return it->second.get();
  std::string name(topic);
  // No topic conf: the producer's default topic conf (acks, partitioner...),
  // as producev(RD_KAFKA_V_TOPIC) would use.
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr);
  if (rkt == nullptr) return nullptr;
  topics_.emplace(std::move(name), std::unique_ptr<rd_kafka_topic_t, TopicDeleter>(rkt));
  return rkt;
}

Status KafkaSink::produce(std::string_view topic, std::string_view key, std::string_view value,
                          const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion) {
  return produce_impl(topic, key, value, RD_KAFKA_MSG_F_COPY, headers, completion);
}

Status KafkaSink::produce_borrowed(std::string_view topic, std::string_view key, std::string_view value,
                                   const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion) {
  if (!completion) {
    return make_error(StatusCode::kFailedPrecondition, Stage::kPublish, "KAFKA_SINK_NO_COMPLETION",
                      std::string(topic), "produce_borrowed needs a completion that owns the payload");
  }
  return produce_impl(topic, key, value, 0 /* no copy, no free */, headers, completion);
}

Status KafkaSink::produce_impl(std::string_view topic, std::string_view key, std::string_view value, int msgflags,
                               const KafkaHeaders& headers, const std::shared_ptr<DeliveryCompletion>& completion) {
  // From here on every path ends in exactly one of: the record is queued
  // (delivery_cb settles it) or on_failed() settles it now.
  if (completion) {
    completion->retain(completion);
    completion->add_pending();
  }
  auto fail = [&](Error error) -> Status {
    if (completion) completion->on_failed(error);
    return error;
  };
  if (closed_.load(std::memory_order_acquire)) {
    return fail(make_error(StatusCode::kFailedPrecondition, Stage::kPublish, "KAFKA_SINK_CLOSED",
                           std::string(topic), "produce after close"));
  }
  if (reports_.fatal.load()) {
    if (auto fatal = fatal_error()) return fail(*fatal);
  }
  rd_kafka_topic_t* rkt = topic_handle(topic);
  if (rkt == nullptr) {
    const rd_kafka_resp_err_t err = rd_kafka_last_error();
    log(kLogWarning, "kafka sink: topic " + std::string(topic) + " refused: " + rd_kafka_err2name(err));
    return fail(kafka_error(err, Stage::kPublish, std::string(topic)));
  }
  const auto deadline = std::chrono::steady_clock::now() + queue_full_timeout_;
  auto backoff = std::chrono::microseconds(200);
  for (;;) {
    HeadersHandle hdrs;
    if (!headers.empty()) {
      hdrs.reset(rd_kafka_headers_new(headers.size()));
      for (const auto& h : headers) {
        rd_kafka_header_add(hdrs.get(), h.key.data(), static_cast<ssize_t>(h.key.size()), h.value.data(),
                            static_cast<ssize_t>(h.value.size()));
      }
    }
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_MSGFLAGS(msgflags),
        RD_KAFKA_V_KEY(key.empty() ? nullptr : const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(hdrs.get()), RD_KAFKA_V_OPAQUE(completion.get()), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)hdrs.release();  // owned by the message now
      return ok_status();    // delivery_cb releases the pending count
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      // The poll thread drains delivery reports; wait for room.
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::microseconds(20'000));
      continue;
    }
    log(kLogWarning, "kafka sink: produce to " + std::string(topic) + " failed: " + rd_kafka_err2name(err));
    return fail(kafka_error(err, Stage::kPublish, std::string(topic)));
  }
}

Status KafkaSink::flush(std::chrono::milliseconds timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk_.get()) > 0) {
    return make_error(StatusCode::kUnavailable, Stage::kPublish, "KAFKA__TIMED_OUT", "",
                      "flush timed out with " + std::to_string(rd_kafka_outq_len(rk_.get())) + " queued");
  }
  return ok_status();
}

std::size_t KafkaSink::outq_len() const { return static_cast<std::size_t>(rd_kafka_outq_len(rk_.get())); }

std::optional<Error> KafkaSink::fatal_error() const {
  char buf[256] = {0};
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk_.get(), buf, sizeof buf);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  return make_error(StatusCode::kInternal, Stage::kPublish, std::string("KAFKA_") + rd_kafka_err2name(err), "",
                    std::string("fatal producer error: ") + buf);
}

Status KafkaSink::close(std::chrono::milliseconds timeout) {
  if (closed_.exchange(true)) return ok_status();
  // Serve delivery reports here from now on: the completions must all fire
  // before close() returns.
  stop_poll_thread();
  Status flushed = flush(timeout);
  if (flushed.ok()) return flushed;
  const int left = rd_kafka_outq_len(rk_.get());
  log(kLogError, "kafka sink: " + std::to_string(left) + " records not delivered at close; purging");
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  (void)rd_kafka_flush(rk_.get(), 1000);  // serves the purge reports
  rd_kafka_poll(rk_.get(), 0);
  return make_error(StatusCode::kUnavailable, Stage::kPublish, "KAFKA__PURGE_QUEUE", "",
                    std::to_string(left) + " records purged at close");
}

}  // namespace dxnorm::kafka
