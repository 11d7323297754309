#include "pipeline/publish/input_format.h"

namespace dxnorm::publish {

const InputFormat& hl7v2_input();
const InputFormat& edifact_input();
const InputFormat& dicom_json_input();

namespace {
// Every input format. A new format adds its line here.
std::vector<const InputFormat*> all() { return {&hl7v2_input(), &edifact_input(), &dicom_json_input()}; }
}  // namespace

const InputFormat* find_input_format(std::string_view name) noexcept {
  for (const InputFormat* f : all())
    if (f->name() == name) return f;
  return nullptr;
}

const InputFormat* detect_input_format(std::string_view b) noexcept {
  std::size_t i = 0;
  if (b.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < b.size() && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) ++i;
  std::string_view rest = b.substr(i);
  if (!rest.empty() && (rest[0] == '{' || rest[0] == '[')) return find_input_format("dicom-json");
  if (rest.substr(0, 3) == "UNA" || rest.substr(0, 3) == "UNB" || rest.substr(0, 3) == "UNH")
    return find_input_format("edifact");
  return find_input_format("hl7v2");
}

std::vector<std::string> input_format_names() {
  std::vector<std::string> r;
  for (const InputFormat* f : all()) r.emplace_back(f->name());
  return r;
}

}  // namespace dxnorm::publish
