#include "pipeline/runtime/output_records.h"

#include "pipeline/core/fhir_json.h"

namespace dxnorm::runtime {

kafka::KafkaHeaders source_headers(const SourcePosition& from, const publish::MessageInfo& info) {
  kafka::KafkaHeaders h{
      {"dxnorm-source-topic", from.topic},
      {"dxnorm-source-partition", std::to_string(from.partition)},
      {"dxnorm-source-offset", std::to_string(from.offset)},
      {"dxnorm-version", DXNORM_VERSION},
  };
  if (!info.control_id.empty()) h.push_back({"dxnorm-message-control-id", info.control_id});
  return h;
}

void build_fhir_records(const RunConfig& cfg, const SourcePosition& from, const publish::MessageInfo& info,
                        const map::Output& out, std::string_view set_version, rapidjson::StringBuffer& sb,
                        std::vector<OutputRecord>& records) {
  kafka::KafkaHeaders base = source_headers(from, info);
  base.push_back({"content-type", kFhirContentType});
  if (info.mapping) {
    base.push_back({"dxnorm-mapping", info.mapping->name});
    base.push_back({"dxnorm-mapping-version", info.mapping->version + "+" + std::string(set_version)});
  }
  std::size_t warnings = 0;
  for (const auto& i : out.issues)
    if (i.severity == Severity::kWarning) ++warnings;
  if (warnings) base.push_back({"dxnorm-warnings", std::to_string(warnings)});

  // Each resource is written once; the Bundle reuses those bytes.
  const auto& entries = out.bundle["entry"];
  const std::size_t first = records.size() + 1;  // the Bundle goes first
  std::vector<std::string_view> texts;
  records.emplace_back();  // the Bundle, filled below
  for (rapidjson::SizeType i = 0; i < entries.Size() && i < out.resources.size(); ++i) {
    const auto& ro = out.resources[i];
    sb.Clear();
    fhir::write_fhir_json(entries[i]["resource"], sb);
    OutputRecord r;
    r.topic = cfg.resource_topic(ro.type);
    r.key = ro.type + "/" + ro.id;
    r.value.assign(sb.GetString(), sb.GetSize());
    r.headers = base;
    records.push_back(std::move(r));
  }
  for (std::size_t i = first; i < records.size(); ++i) texts.emplace_back(records[i].value);
  sb.Clear();
  fhir::write_fhir_bundle(out.bundle, texts, sb);
  OutputRecord& bundle = records[first - 1];
  bundle.topic = cfg.bundle_topic;
  bundle.key = "Bundle/";
  if (out.bundle.HasMember("id")) bundle.key += out.bundle["id"].GetString();
  bundle.value.assign(sb.GetString(), sb.GetSize());
  bundle.headers = std::move(base);
  if (!cfg.per_resource_topics) records.resize(first);
}

OutputRecord build_dead_letter(const RunConfig& cfg, const SourcePosition& from, const publish::MessageInfo& info,
                               const Error& e, std::string_view original_key, std::string_view original) {
  OutputRecord r;
  r.topic = cfg.dead_letter_topic;
  r.key = std::string(original_key);
  r.value = std::string(original);
  r.headers = source_headers(from, info);
  r.headers.push_back({"dxnorm-error-code", e.error_code});
  r.headers.push_back({"dxnorm-error-stage", std::string(to_string(e.stage))});
  r.headers.push_back({"dxnorm-error-status", std::string(to_string(e.code))});
  r.headers.push_back({"dxnorm-error-location", e.location});
  r.headers.push_back({"dxnorm-error-message", e.message.substr(0, 1000)});
  if (info.mapping) r.headers.push_back({"dxnorm-mapping", info.mapping->name});
  return r;
}

}  // namespace dxnorm::runtime
