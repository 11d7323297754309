// Test helpers: fixtures are read from the source tree (never /work/shared).
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pipeline/parse/hl7v2/hl7v2_message.h"

namespace dxnorm::hl7v2::test {

inline std::string fixture(std::string_view name) {
  const std::string path = std::string(DXNORM_SOURCE_DIR) + "/tests/fixtures/hl7v2/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool has_issue(const Issues& issues, std::string_view code) {
  for (const Issue& i : issues) {
    if (i.code == code) return true;
  }
  return false;
}

inline const Issue* find_issue(const Issues& issues, std::string_view code) {
  for (const Issue& i : issues) {
    if (i.code == code) return &i;
  }
  return nullptr;
}

}  // namespace dxnorm::hl7v2::test
