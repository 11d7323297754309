// MessageConverter: one raw message -> a validated FHIR Bundle, or an
// Error that says which stage failed and where. The chain every entry point
// shares (convert, run, replay, test): parse -> route -> map -> validate.
//
// Contract: one converter per thread (it owns the parser output, engine and
// scratch); the MappingSet and validator are shared and immutable. Never
// throws on the per-message path.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "pipeline/core/issue.h"
#include "pipeline/core/status.h"
#include "pipeline/map/mapping_engine.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/validate/fhir_validator.h"

namespace dxnorm::publish {

struct ConverterOptions {
  std::string forced_mapping;     // use this mapping for every message (convert --mapping)
  bool validate = true;
  bool report_unmapped = true;
  bool unmapped_fields = true;  // UNMAPPED_FIELD issues too (run counts segments only)
  bool trace = false;             // record the rule and input of every element (convert --trace)
};

// What is known about a message whatever happened to it (for headers, logs).
struct MessageInfo : MessageHeaderInfo {
  std::string format;             // "hl7v2"
  const map::CompiledMapping* mapping = nullptr;
};

class MessageConverter {
 public:
  MessageConverter(std::shared_ptr<const map::MappingSet> mappings, const validate::FhirValidator& validator,
                   ConverterOptions options = {});

  // `text` is one message of `format` (see InputFormat::split). On success
  // `out` holds the Bundle and every issue (parser, mapping, unmapped).
  Status convert(std::string_view format, std::string_view text, map::Output& out, MessageInfo& info);
  // HL7 v2 (the first format; kept for callers that only speak it).
  Status convert(std::string_view text, map::Output& out, MessageInfo& info) {
    return convert("hl7v2", text, out, info);
  }

  const map::MappingSet& mappings() const noexcept { return *mappings_; }
  // Swap in a new set (hot reload); takes effect at the next message.
  void set_mappings(std::shared_ptr<const map::MappingSet> m) { mappings_ = std::move(m); }

 private:
  std::shared_ptr<const map::MappingSet> mappings_;
  const validate::FhirValidator& validator_;
  ConverterOptions options_;
  std::vector<std::pair<std::string, std::unique_ptr<DocumentParser>>> parsers_;  // per format, made on first use
  map::MappingEngine engine_;
};

}  // namespace dxnorm::publish
