// Fixture runner: the engine of `dxnorm test` and of the golden tests.
//
// A case is an input file (`<case>.hl7`, `.edi`, `.json`...; the format is
// guessed from the content) beside what it must give:
//   <case>.expected.json        the Bundle (or an array of Bundles when the
//                               file holds several messages), compared as
//                               JSON (numbers by their digits), ignoring the
//                               volatile paths of the nearest volatile-paths.txt
//   <case>.expected-error.txt   "<stage> <CODE>[ at <location>]" of the
//                               first failure, for inputs that must fail
//   <case>.expect.yaml          optional: expected error / warnings and
//                               assertions on the output:
//       error: {stage: parse, code: HL7_NO_MSH}
//       warnings: [NHS_NUMBER_INVALID]          # codes that must appear
//       assert:
//         - {path: Observation.valueQuantity.value, equals: "95"}
//         - {path: DiagnosticReport.result, count: 14}
//         - {path: "Patient.identifier.where(system='https://fhir.nhs.uk/Id/nhs-number').value", exists: false}
//     A path starts with a resource type (every resource of that type in
//     the Bundle, `Observation[1]` for the second one, or Bundle), then
//     element names; arrays are flattened; `[n]` picks one item and
//     `.where(name='value')` filters.
//
// Contract: start-up objects (mapping set, validator) are shared; a runner
// is used from one thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/validate/fhir_validator.h"

namespace dxnorm::publish {

struct FixtureOutcome {
  std::string name;                  // case path relative to where the search started
  bool passed = false;
  bool updated = false;              // --update rewrote its expected file
  std::vector<std::string> failures; // readable: "path: what\n    expected: ...\n    actual: ..."
  std::vector<std::string> unmapped; // segments/fields present that no rule read
};

struct FixtureOptions {
  bool update = false;               // rewrite expected files from the actual output
  std::string forced_mapping;        // run every case through this mapping
};

class FixtureRunner {
 public:
  FixtureRunner(std::shared_ptr<const map::MappingSet> mappings, const validate::FhirValidator& validator,
                FixtureOptions options = {});

  // Every case under `dir` (recursively), sorted.
  static std::vector<std::filesystem::path> find_cases(const std::filesystem::path& dir);
  FixtureOutcome run(const std::filesystem::path& input);

  // The converted output of one input: Bundle JSON (pretty) or the error.
  struct Conversion {
    std::string json;                // Bundle, or array of Bundles
    std::string error;               // "<stage> <CODE>[ at <location>]"
    std::vector<std::string> ids;    // every resource id, in order
    std::vector<Issue> issues;       // warnings and unmapped report
  };
  Conversion convert(const std::string& input);

 private:
  std::shared_ptr<const map::MappingSet> mappings_;
  MessageConverter converter_;
  FixtureOptions options_;
};

// Structural JSON comparison (numbers by their lexical form when parsed with
// kParseNumbersAsStringsFlag); differences are appended, one per path.
// `ignore` holds volatile-path patterns (`entry[*].resource.meta.lastUpdated`).
void compare_json(const rapidjson::Value& expected, const rapidjson::Value& actual, const std::string& path,
                  const std::vector<std::string>& ignore, std::vector<std::string>& diffs);

// The patterns of the volatile-paths.txt nearest to `dir` (itself or a parent).
std::vector<std::string> volatile_paths_for(const std::filesystem::path& dir);

}  // namespace dxnorm::publish
