#include "connectors/kafka/kafka_config.h"

#include <string>

#include "connectors/kafka/kafka_log.h"

namespace dxnorm::kafka {
namespace {

void forward_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  std::string line;
  if (rk != nullptr) {
    line.append(rd_kafka_name(rk)).append(" ");
  }
  line.append(fac).append(": ").append(buf);
  log(level, line);
}

}  // namespace

bool is_secret_property(const std::string& name) noexcept {
  for (const char* marker : {"password", "secret", "key", "token", "jaas"}) {
    if (name.find(marker) != std::string::npos) return true;
  }
  return false;
}

KafkaProperties merge_properties(KafkaProperties base, const KafkaProperties& overrides) {
  for (const auto& [name, value] : overrides) base[name] = value;
  return base;
}

ConfHandle make_conf(const KafkaProperties& properties) {
  ConfHandle conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &forward_log);
  char errstr[512];
  for (const auto& [name, value] : properties) {
    errstr[0] = '\0';
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), errstr, sizeof errstr);
    if (res == RD_KAFKA_CONF_OK) continue;
    std::string message = "kafka property '" + name + "': ";
    if (res == RD_KAFKA_CONF_UNKNOWN) {
      message += "unknown librdkafka property";
    } else if (is_secret_property(name)) {
      message += "invalid value (not shown: secret)";
    } else {
      message += errstr;
    }
    throw KafkaConfigError(name, message);
  }
  return conf;
}

KafkaHandle make_client(rd_kafka_type_t type, ConfHandle conf) {
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    throw KafkaConfigError("", std::string("cannot create kafka ") +
                                   (type == RD_KAFKA_CONSUMER ? "consumer" : "producer") + ": " + errstr);
  }
  (void)conf.release();  // owned by rk now
  return KafkaHandle(rk);
}

}  // namespace dxnorm::kafka
