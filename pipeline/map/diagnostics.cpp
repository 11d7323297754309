#include "pipeline/map/diagnostics.h"

#include <yaml-cpp/yaml.h>

namespace dxnorm::map {

std::string Diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
         (severity == Severity::kError ? "error: " : "warning: ") + message;
}

static Diagnostic make(Diagnostic::Severity s, const std::string& file, const YAML::Node& at, std::string m) {
  Diagnostic d;
  d.severity = s;
  d.file = file;
  if (at.IsDefined()) {
    YAML::Mark mk = at.Mark();
    if (mk.line >= 0) {
      d.line = mk.line + 1;
      d.column = mk.column + 1;
    }
  }
  d.message = std::move(m);
  return d;
}

void Diagnostics::error(const std::string& file, const YAML::Node& at, std::string message) {
  items_.push_back(make(Diagnostic::Severity::kError, file, at, std::move(message)));
}
void Diagnostics::warning(const std::string& file, const YAML::Node& at, std::string message) {
  items_.push_back(make(Diagnostic::Severity::kWarning, file, at, std::move(message)));
}
bool Diagnostics::has_errors() const noexcept {
  for (const auto& d : items_)
    if (d.severity == Diagnostic::Severity::kError) return true;
  return false;
}
std::string Diagnostics::to_string() const {
  std::string s;
  for (const auto& d : items_) {
    s += d.to_string();
    s += '\n';
  }
  return s;
}

}  // namespace dxnorm::map
