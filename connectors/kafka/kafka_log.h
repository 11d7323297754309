// Logging hook for the Kafka connector.
//
// Contract: the connector logs topic, partition, offset, broker ids and
// librdkafka error names only, never keys, payloads or header values (they
// carry patient data). librdkafka's own log lines are forwarded here too.
//
// Levels are syslog levels, as librdkafka uses them: 3 error, 4 warning,
// 5 notice, 6 info, 7 debug.
#pragma once

#include <functional>
#include <string_view>

namespace dxnorm::kafka {

inline constexpr int kLogError = 3;
inline constexpr int kLogWarning = 4;
inline constexpr int kLogNotice = 5;
inline constexpr int kLogInfo = 6;
inline constexpr int kLogDebug = 7;

using LogHandler = std::function<void(int level, std::string_view message)>;

// Process-wide. The default writes "dxnorm kafka [level] message" to stderr.
// An empty handler restores the default. Thread-safe; the handler itself is
// called from librdkafka's internal threads too, so it must be thread-safe
// and must not call back into the connector.
void set_log_handler(LogHandler handler);

// Thread-safe, noexcept: a throwing handler is swallowed.
void log(int level, std::string_view message) noexcept;

}  // namespace dxnorm::kafka
