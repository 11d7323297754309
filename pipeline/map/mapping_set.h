// MappingSet: every mapping and code table of a mappings/ directory, loaded,
// checked and compiled together; routes a message to its mapping.
//
// Contract: built at start-up (or on reload) by MappingSet::load, which throws
// LoadFailure carrying every diagnostic when anything is wrong. Immutable and
// shared (std::shared_ptr<const MappingSet>) by all workers afterwards; a
// reload builds a new set and swaps the pointer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/map/code_tables.h"
#include "pipeline/map/diagnostics.h"
#include "pipeline/map/mapping_loader.h"
#include "pipeline/map/mapping_plan.h"

namespace dxnorm::map {

struct RouteKey {
  std::string_view format;              // "hl7v2"
  std::string_view message_type;        // "ORU"
  std::string_view trigger;             // "R01"
  std::string_view sending_application; // MSH-3.1
  std::string_view sending_facility;    // MSH-4.1
};

class MappingSet {
 public:
  // Loads `dir`/codes/**.yaml as code tables and every other *.yaml under
  // `dir` (except fragments/ and *.tests/) as a mapping. Throws LoadFailure.
  static std::shared_ptr<const MappingSet> load(const std::string& dir, const LoaderOptions& options,
                                                Diagnostics* warnings = nullptr);
  // Load specific mapping files (code tables still from `codes_dir`).
  static std::shared_ptr<const MappingSet> load_files(const std::vector<std::string>& files,
                                                      const std::string& codes_dir, const LoaderOptions& options,
                                                      Diagnostics* warnings = nullptr);

  // The mapping for a message: a mapping that names the sending
  // application/facility wins over a generic one. nullptr when none.
  const CompiledMapping* route(const RouteKey& key) const;
  const CompiledMapping* find(std::string_view name) const;
  const std::vector<std::unique_ptr<CompiledMapping>>& mappings() const noexcept { return mappings_; }
  const CodeTables& tables() const noexcept { return tables_; }
  // Short content hash of every file in the set: changes with any edit.
  const std::string& version() const noexcept { return version_; }

 private:
  CodeTables tables_;
  std::vector<std::unique_ptr<CompiledMapping>> mappings_;
  std::string version_;
};

}  // namespace dxnorm::map
