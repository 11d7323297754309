// FhirValidator: the last gate before anything leaves dxnorm. Checks every
// resource of a Bundle against the R4 rules in schemas/fhir-r4/ (required
// elements, cardinality, types, unknown elements, primitive formats,
// required value sets) and that every reference resolves inside the Bundle.
//
// Contract: thread-safe (const), allocation-light; never throws per message.
#pragma once

#include <rapidjson/document.h>

#include <memory>
#include <string_view>

#include "pipeline/core/fhir_schema.h"
#include "pipeline/core/issue.h"
#include "pipeline/core/status.h"

namespace dxnorm::validate {

class FhirValidator {
 public:
  // Tolerance is a named policy, not scattered ifs.
  struct Options {
    // A relative reference "Type/id" inside a Bundle must name one of its
    // entries (dxnorm's Bundles are self-contained). Off: only its syntax
    // and target type are checked.
    bool require_local_references = true;
    // Exception to the above, for joins without lookups: "Type/<uuid>" where
    // <uuid> is a UUID (dxnorm's name-based ids) may name a resource another
    // message creates (a report's ImagingStudy/<id>, an order's
    // ServiceRequest/<id>). Its syntax and target type are still checked; any
    // other unresolved relative reference still fails.
    bool allow_external_uuid_references = true;
  };

  explicit FhirValidator(const fhir::FhirSchema& schema = fhir::FhirSchema::builtin());
  // Compiles the per-primitive checkers once; throws std::runtime_error if
  // the schema lacks a type the validator relies on (Bundle, Reference...).
  FhirValidator(const fhir::FhirSchema& schema, Options options);
  ~FhirValidator();
  FhirValidator(const FhirValidator&) = default;
  FhirValidator& operator=(const FhirValidator&) = delete;

  // Validates a Bundle (type transaction/batch/collection...) and all its
  // entries. Every problem is appended to `issues` (Severity::kError, location
  // = FHIR path such as "Bundle.entry[3].resource.valueQuantity.value").
  // Returns an Error (code kInvalidInput, stage kValidate, error_code
  // "FHIR_INVALID", location = first failing path) if any error was found.
  Status validate_bundle(const rapidjson::Value& bundle, Issues& issues) const;

  // Validates one resource; `path` prefixes locations (e.g. "Observation").
  Status validate_resource(const rapidjson::Value& resource, std::string_view path, Issues& issues) const;

 private:
  struct Rules;   // per-type checkers, built once at construction
  class Walk;     // per-call state (path, Bundle index); lives on the stack
  const fhir::FhirSchema& schema_;
  std::shared_ptr<const Rules> rules_;
};

}  // namespace dxnorm::validate
