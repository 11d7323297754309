#include "connectors/kafka/kafka_log.h"

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

namespace dxnorm::kafka {
namespace {

std::mutex g_mutex;
std::shared_ptr<const LogHandler> g_handler;  // null: default to stderr

void log_to_stderr(int level, std::string_view message) {
  std::string line = "dxnorm kafka [" + std::to_string(level) + "] ";
  line.append(message);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

void set_log_handler(LogHandler handler) {
  auto next = handler ? std::make_shared<const LogHandler>(std::move(handler)) : nullptr;
  std::lock_guard lock(g_mutex);
  g_handler = std::move(next);
}

void log(int level, std::string_view message) noexcept {
  try {
    std::shared_ptr<const LogHandler> handler;
    {
      std::lock_guard lock(g_mutex);
      handler = g_handler;
    }
    if (handler) {
      (*handler)(level, message);
    } else {
      log_to_stderr(level, message);
    }
  } catch (...) {  // a logger must never take the pipeline down
  }
}

}  // namespace dxnorm::kafka
