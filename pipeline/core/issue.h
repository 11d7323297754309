// Non-fatal findings attached to a message as it flows: warnings (an invalid
// NHS number not emitted), information (a segment no rule read). They travel
// with the output and are reported by `convert`, counted by `run`.
//
// Hazard: `message` must never contain patient data (values from the input);
// say what and where, not the content.
#pragma once

#include <string>
#include <vector>

namespace dxnorm {

enum class Severity : unsigned char { kInfo, kWarning, kError };

struct Issue {
  Severity severity = Severity::kWarning;
  std::string code;      // stable machine code, e.g. "NHS_NUMBER_INVALID"
  std::string location;  // input location, e.g. "PID(1)-3(2).1"
  std::string message;   // one line, no patient data
};

using Issues = std::vector<Issue>;

const char* to_string(Severity s) noexcept;

}  // namespace dxnorm
