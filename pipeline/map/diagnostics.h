// Load-time diagnostics for mappings, code tables and config: every problem
// found is collected (never stop at the first), each with file:line:column,
// printed in the format editors and CI annotate:
//   mappings/hl7v2/oru_r01.yaml:42:7: error: unknown FHIR element 'valu' in Observation
#pragma once

#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace dxnorm::map {

struct Diagnostic {
  enum class Severity { kError, kWarning } severity = Severity::kError;
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string message;
  std::string to_string() const;
};

class Diagnostics {
 public:
  void error(const std::string& file, const YAML::Node& at, std::string message);
  void warning(const std::string& file, const YAML::Node& at, std::string message);
  void add(Diagnostic d) { items_.push_back(std::move(d)); }
  bool has_errors() const noexcept;
  const std::vector<Diagnostic>& items() const noexcept { return items_; }
  std::string to_string() const;  // one line each

 private:
  std::vector<Diagnostic> items_;
};

// Thrown at start-up (never per message) when mappings fail to load.
struct LoadFailure : std::exception {
  explicit LoadFailure(Diagnostics d) : diagnostics(std::move(d)), text(diagnostics.to_string()) {}
  const char* what() const noexcept override { return text.c_str(); }
  Diagnostics diagnostics;
  std::string text;
};

}  // namespace dxnorm::map
