// The compiled form of a mapping file: what the engine runs per message.
// Built once by MappingLoader; immutable afterwards and shared by all workers.
// Nothing here refers back to YAML.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/map/expression.h"
#include "pipeline/map/source_format.h"

namespace dxnorm::fhir {
struct ElementDef;
struct TypeDef;
}  // namespace dxnorm::fhir

namespace dxnorm::map {

struct CodeTable;

// Where a rule was written, for traces and errors.
struct SourceLoc {
  const std::string* file = nullptr;
  int line = 0;
  int column = 0;
};

// How a value is written into JSON, from the FHIR type of its element.
enum class PrimKind : unsigned char { kString, kCode, kDecimal, kInteger, kBoolean, kNone };

struct TemplateNode;

struct Member {
  std::unique_ptr<TemplateNode> node;
  std::string json_name;              // "valueQuantity"
  bool array = false;                 // element max > 1
  // A fragment or $switch case of the same object may write this element
  // first: only then must the engine look for it before adding (compile time).
  bool may_exist = false;
  SourceLoc key_loc;                  // where the element name was written
};

struct SwitchCase {
  std::vector<std::string> values;    // matches any of these
  std::unique_ptr<TemplateNode> node;
};

struct RefSpec {
  SourceLoc loc;
  int resource = -1;                  // index into CompiledMapping::resources
  ExprPtr where;                      // evaluated in each candidate's scope
  ExprPtr equals;                     // evaluated in the current scope
  bool all = false;                   // every match (array elements) vs nearest
};

struct TranslateSpec {
  SourceLoc loc;
  const CodeTable* table = nullptr;
  ExprPtr code, display, system, text;
};

// Layout: the fields the engine reads for every visit come first; the plan
// is walked for every message and is larger than L1, so cold fields
// (locations, type names) sit at the end.
struct TemplateNode {
  enum class Kind : unsigned char { kObject, kList, kExpr, kLiteral, kSwitch };
  Kind kind = Kind::kObject;
  PrimKind prim = PrimKind::kNone;    // for primitives
  bool distinct = false;              // $distinct: skip values already in the array
  bool literal_is_bool = false, literal_is_number = false;

  // Directives
  ExprPtr cond;                       // $if
  std::unique_ptr<SourcePath> each;   // $each
  // $use of a non-object fragment: this node stands for it
  const TemplateNode* alias = nullptr;
  // The value this node's body always writes (literals, and objects made
  // only of them), built at load time; null when it depends on the message.
  // Strings in it refer to the plan's own text (see CompiledMapping::constants).
  const rapidjson::Value* constant = nullptr;
  // kObject: how many members its body can write at most (its members,
  // $ref, $translate, the fragments it merges, its largest $switch case),
  // set by prepare_constants(). The engine allocates that many member slots
  // up front (see dom_writes.h); fragments may write the same name twice, so
  // it can exceed what is written, never fall short.
  std::uint32_t object_capacity = 0;

  // kLiteral / kExpr
  ExprPtr expr;

  // kObject
  std::vector<const TemplateNode*> merges;   // $use fragments (objects), merged first
  std::vector<Member> members;
  std::unique_ptr<RefSpec> ref;              // $ref: adds "reference"
  std::unique_ptr<TranslateSpec> translate;  // $translate: CodeableConcept
  std::unique_ptr<TemplateNode> switch_node; // $switch inside an object: merged case

  // kList
  std::vector<std::unique_ptr<TemplateNode>> items;

  // kSwitch
  ExprPtr on;
  std::vector<SwitchCase> cases;
  std::unique_ptr<TemplateNode> default_case;

  std::string literal;
  SourceLoc loc;
  std::string fhir_type;              // type this node produces ("HumanName", "string")
};

struct ResourceDef {
  std::string name;                   // "observation" (for $ref)
  std::string type;                   // "Observation"
  SourceLoc loc;
  std::unique_ptr<SourcePath> for_each;  // null: one per message
  std::string for_group;              // group kind of its instances ("OBSERVATION"); "" = message
  bool for_segment = false;           // instances are segments (SPECIMEN.OBX)
  ExprPtr when;
  std::vector<ExprPtr> id_keys;
  bool merge_duplicates = false;      // on-duplicate-id: merge
  std::unique_ptr<TemplateNode> body;
};

struct CompiledMapping {
  std::string name;
  std::string version;
  std::string file;
  std::string format;                         // "hl7v2"
  const SourceFormat* source_format = nullptr;
  std::vector<std::string> messages;          // "ORU^R01"
  std::string structure;                      // "ORU_R01"
  std::vector<std::string> sending_applications;  // optional route filter
  std::vector<std::string> sending_facilities;
  const date::time_zone* zone = nullptr;
  ExprPtr meta_source;
  std::vector<ResourceDef> resources;
  // Fragments compiled for this mapping, owned here (key: name|type).
  std::map<std::string, std::unique_ptr<TemplateNode>> fragments;
  std::vector<std::unique_ptr<std::string>> files;  // storage for SourceLoc::file
  std::vector<const CodeTable*> tables_used;
  std::string content_hash;                   // of the mapping and everything it includes

  // Storage of TemplateNode::constant. Outputs refer to these strings (and to
  // member names in the plan) without copying them: a Bundle must not outlive
  // the mapping that built it (MessageConverter keeps the set alive).
  struct Constants {
    rapidjson::MemoryPoolAllocator<> pool;
    std::deque<rapidjson::Value> values;
  };
  std::unique_ptr<Constants> constants;
};

// Finds the template nodes whose body is constant and builds their values,
// and sets every object node's object_capacity (called once by the loader,
// after every node is compiled).
void prepare_constants(CompiledMapping& mapping);

}  // namespace dxnorm::map
