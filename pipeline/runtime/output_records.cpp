#include "pipeline/runtime/output_records.h"

#include <algorithm>

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
  const SharedHeaders headers = std::make_shared<const kafka::KafkaHeaders>(std::move(base));

  // Each resource is written once; the Bundle reuses those bytes.
  const auto& entries = out.bundle["entry"];
  const std::size_t count = std::min<std::size_t>(entries.Size(), out.resources.size());
  const std::size_t first = records.size() + 1;  // the Bundle goes first
  records.reserve(first + count);
  records.emplace_back();  // the Bundle, filled below
  for (std::size_t i = 0; i < count; ++i) {
    const auto& ro = out.resources[i];
    sb.Clear();
    fhir::write_fhir_json(entries[static_cast<rapidjson::SizeType>(i)]["resource"], sb);
    OutputRecord& r = records.emplace_back();
    r.topic = cfg.resource_topic(ro.type);
    r.key.reserve(ro.type.size() + 1 + ro.id.size());
    r.key.append(ro.type).append(1, '/').append(ro.id);
    r.value.assign(sb.GetString(), sb.GetSize());
    r.headers = headers;
  }
  std::vector<std::string_view> texts;
  texts.reserve(count);
  for (std::size_t i = first; i < records.size(); ++i) texts.emplace_back(records[i].value);
  OutputRecord& bundle = records[first - 1];
  fhir::write_fhir_bundle(out.bundle, texts, sb, bundle.value);
  bundle.topic = cfg.bundle_topic;
  bundle.key = "Bundle/";
  if (out.bundle.HasMember("id")) bundle.key += out.bundle["id"].GetString();
  bundle.headers = headers;
  if (!cfg.per_resource_topics) records.resize(first);
}

void add_header(std::vector<OutputRecord>& records, const kafka::KafkaHeader& h) {
  SharedHeaders before, after;
  for (auto& r : records) {
    if (!after || r.headers != before) {
      before = r.headers;
      auto extended = std::make_shared<kafka::KafkaHeaders>(before ? *before : kafka::KafkaHeaders{});
      extended->push_back(h);
      after = std::move(extended);
    }
    r.headers = after;
  }
}

OutputRecord build_dead_letter(const RunConfig& cfg, const SourcePosition& from, const publish::MessageInfo& info,
                               const Error& e, std::string_view original_key, std::string_view original) {
  kafka::KafkaHeaders h = source_headers(from, info);
  h.push_back({"dxnorm-error-code", e.error_code});
  h.push_back({"dxnorm-error-stage", std::string(to_string(e.stage))});
  h.push_back({"dxnorm-error-status", std::string(to_string(e.code))});
  h.push_back({"dxnorm-error-location", e.location});
  h.push_back({"dxnorm-error-message", e.message.substr(0, 1000)});
  if (info.mapping) h.push_back({"dxnorm-mapping", info.mapping->name});
  OutputRecord r;
  r.topic = cfg.dead_letter_topic;
  r.key = std::string(original_key);
  r.value = std::string(original);
  r.headers = std::make_shared<const kafka::KafkaHeaders>(std::move(h));
  return r;
}

}  // namespace dxnorm::runtime
