#include "pipeline/map/source_format.h"

#include "pipeline/map/dicom_path.h"
#include "pipeline/map/edifact_path.h"
#include "pipeline/map/hl7v2_path.h"

namespace dxnorm::map {

bool SourcePath::read_first(const Scope& scope, EvalContext& ctx, Value& out) const {
  const std::size_t base = ctx.stack.size();
  const std::size_t n = eval(scope, ctx, false);
  bool found = false;
  for (std::size_t i = 0; i < n && !found; ++i)
    if (!ctx.stack[base + i].text.empty()) {
      out = ctx.stack[base + i];
      found = true;
    }
  ctx.stack.resize(base);
  return found;
}

namespace {
// Every format of the mapping language. A new format adds its line here.
const SourceFormat* const* formats() {
  static const SourceFormat* const all[] = {&hl7v2_format(), &edifact_format(), &dicom_json_format(), nullptr};
  return all;
}
}  // namespace

const SourceFormat* find_format(std::string_view name) noexcept {
  for (auto f = formats(); *f; ++f)
    if ((*f)->name() == name) return *f;
  return nullptr;
}

std::vector<std::string> format_names() {
  std::vector<std::string> r;
  for (auto f = formats(); *f; ++f) r.emplace_back((*f)->name());
  return r;
}

}  // namespace dxnorm::map
