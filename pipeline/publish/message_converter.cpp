#include "pipeline/publish/message_converter.h"

namespace dxnorm::publish {

MessageConverter::MessageConverter(std::shared_ptr<const map::MappingSet> mappings,
                                   const validate::FhirValidator& validator, ConverterOptions options)
    : mappings_(std::move(mappings)), validator_(validator), options_(std::move(options)) {}

Status MessageConverter::convert(std::string_view format, std::string_view text, map::Output& out,
                                 MessageInfo& info) {
  out.clear();
  info = MessageInfo{};
  info.format = std::string(format);
  DocumentParser* parser = nullptr;
  for (auto& [name, p] : parsers_)
    if (name == format) parser = p.get();
  if (!parser) {
    const InputFormat* f = find_input_format(format);
    if (!f)
      return make_error(StatusCode::kFailedPrecondition, Stage::kParse, "FORMAT_UNKNOWN", "",
                        "no input format named '" + std::string(format) + "'");
    parsers_.emplace_back(std::string(format), f->new_parser());
    parser = parsers_.back().second.get();
  }
  Status parsed = parser->parse(text, info);
  if (!parsed.ok()) return parsed;
  const SourceDocument& doc = parser->document();
  const map::CompiledMapping* mapping = nullptr;
  if (!options_.forced_mapping.empty()) {
    mapping = mappings_->find(options_.forced_mapping);
    if (!mapping)
      return make_error(StatusCode::kFailedPrecondition, Stage::kRoute, "MAPPING_NOT_FOUND", "",
                        "no mapping named '" + options_.forced_mapping + "'");
  } else {
    map::RouteKey key{format, info.type, info.trigger, info.sending_application, info.sending_facility};
    mapping = mappings_->route(key);
    if (!mapping)
      return make_error(StatusCode::kInvalidInput, Stage::kRoute, "NO_ROUTE", format == "hl7v2" ? "MSH-9" : "",
                        "no mapping handles " + std::string(format) + " " + info.message_type + " from this sender");
  }
  info.mapping = mapping;
  map::ConvertOptions copts;
  copts.report_unmapped = options_.report_unmapped;
  copts.unmapped_fields = options_.unmapped_fields;
  copts.trace = options_.trace;
  Status mapped = engine_.convert(*mapping, doc, out, copts);
  // Parser findings come first: they describe the input.
  out.issues.insert(out.issues.begin(), doc.issues().begin(), doc.issues().end());
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
