#include "status.h"

namespace dxnorm {

std::string_view to_string(StatusCode code) noexcept {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidInput: return "invalid-input";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kFailedPrecondition: return "failed-precondition";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

std::string_view to_string(Stage stage) noexcept {
  switch (stage) {
    case Stage::kSource: return "source";
    case Stage::kParse: return "parse";
    case Stage::kRoute: return "route";
    case Stage::kMap: return "map";
    case Stage::kValidate: return "validate";
    case Stage::kPublish: return "publish";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string s(dxnorm::to_string(stage));
  s += ' ';
  s += error_code;
  if (!location.empty()) {
    s += " at ";
    s += location;
  }
  s += ": ";
  s += message;
  return s;
}

}  // namespace dxnorm
