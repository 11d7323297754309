#include "connectors/kafka/embedded_broker.h"

#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "connectors/kafka/kafka_config.h"
#include "connectors/kafka/kafka_handles.h"
#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {
namespace {

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Blocks SIGINT/SIGTERM for the lifetime of the guard in this thread, so
// threads spawned meanwhile inherit a mask that leaves the signals to the
// application's own threads.
class BlockTerminationSignals {
 public:
  BlockTerminationSignals() {
    sigset_t set = termination_signals();
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockTerminationSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  BlockTerminationSignals(const BlockTerminationSignals&) = delete;
  BlockTerminationSignals& operator=(const BlockTerminationSignals&) = delete;

 private:
  sigset_t old_;
};

void check(rd_kafka_resp_err_t err, const std::string& what) {
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("embedded broker: " + what + ": " + rd_kafka_err2str(err));
  }
}

}  // namespace

struct EmbeddedBroker::Impl {
  // Order matters: the cluster is destroyed before the handle that owns it.
  KafkaHandle rk;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  ~Impl() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
  }
};

EmbeddedBroker::EmbeddedBroker(int brokers) : impl_(std::make_unique<Impl>()), brokers_(brokers) {
  if (brokers < 1) throw std::runtime_error("embedded broker: need at least one broker");
  BlockTerminationSignals blocked;
  // The mock cluster needs a client handle to live in; it never connects.
  // The handle only hosts the mock cluster and never connects anywhere: keep
  // librdkafka from warning that it has no bootstrap.servers (log_level 3 =
  // errors only, for this handle alone).
  impl_->rk = make_client(RD_KAFKA_PRODUCER, make_conf({{"client.id", "dxnorm-embedded-broker"}, {"log_level", "3"}}));
  impl_->cluster = rd_kafka_mock_cluster_new(impl_->rk.get(), brokers);
  if (impl_->cluster == nullptr) throw std::runtime_error("embedded broker: cannot start the mock cluster");
  bootstraps_ = rd_kafka_mock_cluster_bootstraps(impl_->cluster);
  log(kLogInfo, "embedded broker: " + std::to_string(brokers) + " broker(s) at " + bootstraps_);
}

EmbeddedBroker::~EmbeddedBroker() = default;

void EmbeddedBroker::create_topic(const TopicSpec& topic) {
  if (topic.replication_factor > brokers_) {
    throw std::runtime_error("embedded broker: topic '" + topic.name + "': replication factor " +
                             std::to_string(topic.replication_factor) + " > " + std::to_string(brokers_) +
                             " broker(s)");
  }
  check(rd_kafka_mock_topic_create(impl_->cluster, topic.name.c_str(), topic.partitions, topic.replication_factor),
        "create topic '" + topic.name + "'");
}

void EmbeddedBroker::write_bootstraps(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << bootstraps_ << '\n';
    if (!out.flush()) throw std::runtime_error("embedded broker: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("embedded broker: cannot rename " + tmp + " to " + path);
  }
}

void EmbeddedBroker::set_broker_down(std::int32_t broker_id) {
  check(rd_kafka_mock_broker_set_down(impl_->cluster, broker_id), "broker " + std::to_string(broker_id) + " down");
}

void EmbeddedBroker::set_broker_up(std::int32_t broker_id) {
  check(rd_kafka_mock_broker_set_up(impl_->cluster, broker_id), "broker " + std::to_string(broker_id) + " up");
}

void EmbeddedBroker::set_broker_rtt(std::int32_t broker_id, int rtt_ms) {
  check(rd_kafka_mock_broker_set_rtt(impl_->cluster, broker_id, rtt_ms), "broker " + std::to_string(broker_id) + " rtt");
}

void EmbeddedBroker::push_request_errors(KafkaApi api, const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(impl_->cluster, static_cast<std::int16_t>(api), errors.size(),
                                          errors.data());
}

void EmbeddedBroker::clear_request_errors(KafkaApi api) {
  rd_kafka_mock_clear_request_errors(impl_->cluster, static_cast<std::int16_t>(api));
}

const char* embedded_broker_warning() noexcept {
  return "WARNING: embedded Kafka broker (librdkafka mock cluster) for development and demos only. "
         "It keeps data in memory only: about 5 MB per partition, after which the oldest records are "
         "dropped silently, and everything is lost when it stops. Set bootstrap.servers to use a real "
         "Kafka cluster.";
}

int run_standalone_broker(const BrokerOptions& options) {
  // Blocked for good in this thread (and inherited by the threads it
  // creates); sigwait below receives them.
  sigset_t signals = termination_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    EmbeddedBroker broker(options.brokers);
    for (const auto& topic : options.topics) broker.create_topic(topic);
    if (!options.bootstrap_file.empty()) broker.write_bootstraps(options.bootstrap_file);
    std::cerr << embedded_broker_warning() << '\n';
    std::cout << "dxnorm broker: " << options.brokers << " broker(s), bootstrap.servers=" << broker.bootstraps()
              << '\n';
    for (const auto& topic : options.topics) {
      std::cout << "  topic " << topic.name << " (" << topic.partitions << " partition"
                << (topic.partitions == 1 ? "" : "s") << ")\n";
    }
    if (!options.bootstrap_file.empty()) {
      std::cout << "  bootstrap address written to " << options.bootstrap_file << '\n';
    }
    std::cout << "Press Ctrl-C (SIGINT) or send SIGTERM to stop." << std::endl;
    int sig = 0;
    sigwait(&signals, &sig);
    std::cout << "dxnorm broker: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping" << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "dxnorm broker: " << e.what() << '\n';
    return 1;
  }
}

}  // namespace dxnorm::kafka
