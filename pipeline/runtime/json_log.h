// Structured JSON logs (one object per line on stderr) for `dxnorm run`.
//
// Contract: callers pass ids, offsets, codes and locations as fields; never
// message content (patient data). Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace dxnorm::runtime {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void set_log_level(LogLevel level);
LogLevel parse_log_level(std::string_view s);

using LogField = std::pair<std::string_view, std::string>;
void log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

}  // namespace dxnorm::runtime
