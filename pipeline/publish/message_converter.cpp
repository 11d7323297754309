#include "pipeline/publish/message_converter.h"

#include "pipeline/parse/hl7v2/hl7v2_value.h"

namespace dxnorm::publish {

MessageConverter::MessageConverter(std::shared_ptr<const map::MappingSet> mappings,
                                   const validate::FhirValidator& validator, ConverterOptions options)
    : mappings_(std::move(mappings)), validator_(validator), options_(std::move(options)) {}

Status MessageConverter::convert(std::string_view text, map::Output& out, MessageInfo& info) {
  out.clear();
  info = MessageInfo{};
  Status parsed = parser_.parse(text, message_);
  if (!parsed.ok()) return parsed;
  const auto& d = message_.delimiters();
  info.control_id = std::string(message_.control_id());
  info.message_type = std::string(message_.message_type()) + "^" + std::string(message_.trigger_event());
  if (!message_.segments().empty()) {
    const auto& msh = message_.segments()[0];
    info.sending_application = std::string(hl7v2::component(message_.field(msh, 3), d, 1));
    info.sending_facility = std::string(hl7v2::component(message_.field(msh, 4), d, 1));
  }
  const map::CompiledMapping* mapping = nullptr;
  if (!options_.forced_mapping.empty()) {
    mapping = mappings_->find(options_.forced_mapping);
    if (!mapping)
      return make_error(StatusCode::kFailedPrecondition, Stage::kRoute, "MAPPING_NOT_FOUND", "",
                        "no mapping named '" + options_.forced_mapping + "'");
  } else {
    map::RouteKey key{"hl7v2", message_.message_type(), message_.trigger_event(), info.sending_application,
                      info.sending_facility};
    mapping = mappings_->route(key);
    if (!mapping)
      return make_error(StatusCode::kInvalidInput, Stage::kRoute, "NO_ROUTE", "MSH-9",
                        "no mapping handles " + info.message_type + " from this sender");
  }
  info.mapping = mapping;
  map::ConvertOptions copts;
  copts.report_unmapped = options_.report_unmapped;
  Status mapped = engine_.convert(*mapping, message_, out, copts);
  // Parser findings come first: they describe the input.
  out.issues.insert(out.issues.begin(), message_.issues().begin(), message_.issues().end());
  if (!mapped.ok()) return mapped;
  if (options_.validate) {
    Issues vissues;
    Status valid = validator_.validate_bundle(out.bundle, vissues);
    if (!valid.ok()) {
      Error e = std::move(valid).error();
      // Name every failing path (capped), so one dead letter tells the whole story.
      std::string all;
      int n = 0;
      for (const auto& i : vissues) {
        if (i.severity != Severity::kError) continue;
        if (n++ == 5) {
          all += "; ...";
          break;
        }
        if (!all.empty()) all += "; ";
        all += i.location + ": " + i.message;
      }
      if (!all.empty()) e.message = all;
      out.issues.insert(out.issues.end(), vissues.begin(), vissues.end());
      return e;
    }
  }
  return ok_status();
}

}  // namespace dxnorm::publish
