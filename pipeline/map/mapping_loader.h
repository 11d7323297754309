// MappingLoader: YAML mapping files -> CompiledMapping. Start-up only.
//
// Contract: every problem in a file (and in what it includes) is collected
// into Diagnostics with file:line:column; load() returns nullptr when any is
// an error. Nothing YAML survives loading.
#pragma once

#include <memory>
#include <string>

#include "pipeline/map/code_tables.h"
#include "pipeline/map/diagnostics.h"
#include "pipeline/map/mapping_plan.h"

namespace dxnorm::fhir {
class FhirSchema;
}
namespace dxnorm::hl7v2 {
class StructureRegistry;
}

namespace dxnorm::map {

struct LoaderOptions {
  std::string default_zone = "Europe/London";
  // `dxnorm lint`: also report what is legal but almost certainly a mistake
  // (an element written twice, a condition that is constant...) as warnings.
  bool lint = false;
  // Set by MappingSet::load: every mapping of the tree is loaded, so a code
  // table none of them reads is really unused.
  bool whole_set = false;
};

std::unique_ptr<CompiledMapping> load_mapping(const std::string& path, const CodeTables& tables,
                                              const fhir::FhirSchema& schema,
                                              const hl7v2::StructureRegistry& structures,
                                              const LoaderOptions& options, Diagnostics& diags);

}  // namespace dxnorm::map
