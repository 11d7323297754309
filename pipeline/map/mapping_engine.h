// MappingEngine: runs a CompiledMapping over one parsed message and builds a
// FHIR R4 transaction Bundle.
//
// Contract: one engine per worker thread (it owns the reusable evaluation
// context); CompiledMapping is shared and immutable. convert() never throws:
// failures come back as Error values (stage map) that route the message to
// the dead-letter topic; non-fatal findings are appended to Output::issues.
#pragma once

#include <rapidjson/document.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/status.h"
#include "pipeline/map/dom_writes.h"
#include "pipeline/map/eval_types.h"
#include "pipeline/map/mapping_plan.h"


namespace dxnorm::map {

// Views, not copies: `id` lies in the Output's document pool, `type` and
// `rule` in the mapping; valid while the Output holds this message and the
// mapping is loaded (copy them to keep them longer).
struct ResourceOut {
  std::string_view type;
  std::string_view id;
  std::string_view rule;  // mapping resource name
};

struct ConvertOptions {
  bool report_unmapped = true;  // add UNMAPPED_SEGMENT / UNMAPPED_FIELD info issues
  bool unmapped_fields = true;  // with report_unmapped: UNMAPPED_FIELD too (else segments only)
  bool trace = false;           // record, per output element, the rule and the input it came from
};

// `dxnorm convert --trace`: one line per FHIR element written.
struct TraceEntry {
  std::string fhir_path;        // "Bundle.entry[3].resource.valueQuantity.value"
  std::string rule;             // "mappings/fragments/hl7v2-segments.yaml:210:22"
  std::string input;            // "OBX(1)-5", "(literal)", "(reference to patient)"
};

struct Output {
  Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

 private:
  // The document allocates from a buffer owned here, so that a reused Output
  // builds the next Bundle without touching malloc (declared before bundle).
  std::unique_ptr<char[]> buffer_;
  rapidjson::MemoryPoolAllocator<> pool_;

 public:
  rapidjson::Document bundle;       // the transaction Bundle
  std::vector<ResourceOut> resources;  // in entry order
  Issues issues;
  std::vector<TraceEntry> trace;      // filled when ConvertOptions::trace

  void clear();
};

class MappingEngine {
 public:
  MappingEngine();
  // `document` must be of the mapping's input format (the caller routes).
  Status convert(const CompiledMapping& mapping, const SourceDocument& document, Output& out,
                 const ConvertOptions& options = {});

 private:
  struct Instance {
    int def = -1;
    const Scope* scope = nullptr;
    // scope->cursor's group and segment, kept here for resolve_ref's scans
    // over the candidates (no pointer chase into the scope blocks per candidate).
    const SourceGroup* group = nullptr;
    std::int32_t segment = -1;
    // Both in the output document's pool ("urn:uuid:<id>", id its tail):
    // the Bundle refers to them without copies and they live as long as it.
    std::string_view id;
    std::string_view full_url;
    bool skipped = false;  // merged into an earlier instance with the same id
    // Its id keys in instance_keys_ (resources merged on duplicate ids only).
    std::uint32_t key_begin = 0, key_count = 0;
  };

  void emit_member_value(const TemplateNode& node, const Scope& scope, rapidjson::Value& out, bool& produced);
  [[gnu::noinline]] bool emit_first_of_each(const TemplateNode& node, const Scope& scope, rapidjson::Value& out);
  void emit_into_array(const TemplateNode& node, const Scope& scope, rapidjson::Value& array);
  bool emit_value(const TemplateNode& node, const Scope& scope, rapidjson::Value& out);
  bool emit_body(const TemplateNode& node, const Scope& scope, rapidjson::Value& out);
  void emit_object_members(const TemplateNode& node, const Scope& scope, rapidjson::Value& obj, bool check_all);
  bool emit_primitive(const TemplateNode& node, std::string_view text, const Value* src, rapidjson::Value& out);
  bool emit_reference(const RefSpec& ref, const Scope& scope, rapidjson::Value& obj);
  void emit_reference_all(const TemplateNode& node, const Scope& scope, rapidjson::Value& array);
  bool emit_translate(const TranslateSpec& t, const Scope& scope, rapidjson::Value& obj);
  const TemplateNode* pick_case(const TemplateNode& sw, const Scope& scope);
  const Instance* resolve_ref(const RefSpec& ref, const Scope& scope);
  const Scope* new_scope(const Cursor& c, const Scope* parent, std::uint32_t index);

  // Members of the output document, each value written with one store
  // (dom_writes.h). put_ref refers to `text`, which must live as long as the
  // document: the document's pool (pooled()) or the plan's own text (resource
  // types, code-table entries; the lifetime rule of CompiledMapping::constants).
  // put_copy copies it into the pool.
  [[gnu::always_inline]] void put(rapidjson::Value& obj, std::string_view name, rapidjson::Value& v) {
    dom::add_member(obj, name, v, doc_->GetAllocator());
  }
  void put_ref(rapidjson::Value& obj, std::string_view name, std::string_view text) {
    rapidjson::Value v;
    dom::set_string_ref(v, text);
    put(obj, name, v);
  }
  void put_copy(rapidjson::Value& obj, std::string_view name, std::string_view text) {
    rapidjson::Value v;
    dom::set_string_copy(v, text, bump_);
    put(obj, name, v);
  }
  // A plan constant into the output: the document shares it (its strings,
  // members and items stay in the plan, see CompiledMapping::constants).
  // Hazard: nothing may add to or change a shared value: the engine writes
  // only into objects it made itself (emit_body's, the resources'), and a
  // constant is never one of them; downstream stages read the document.
  static void share_constant(const rapidjson::Value& c, rapidjson::Value& out) { dom::share(out, c); }
  void trace(const SourceLoc& rule, const Value* src, std::string_view what = {});
  // Copies into the output document's pool; the view lives as long as the document.
  std::string_view pooled(std::string_view a, std::string_view b = {}, std::string_view c = {});

  // Tracing (only when asked): the FHIR path being written.
  std::vector<TraceEntry>* trace_ = nullptr;
  std::string trace_path_;

  // Cursor vectors for nested $each, reused across messages (no malloc in steady state).
  std::deque<std::vector<Cursor>> cursor_pool_;  // deque: references stay valid as it grows
  std::size_t cursor_depth_ = 0;
  struct CursorList {
    explicit CursorList(MappingEngine& e) : engine(e), v(acquire(e)) {}
    ~CursorList() { --engine.cursor_depth_; }
    static std::vector<Cursor>& acquire(MappingEngine& e) {
      if (e.cursor_depth_ == e.cursor_pool_.size()) e.cursor_pool_.emplace_back();
      auto& v = e.cursor_pool_[e.cursor_depth_++];
      v.clear();
      return v;
    }
    MappingEngine& engine;
    std::vector<Cursor>& v;
  };

  EvalContext ctx_;
  RuntimeEnv env_;
  const CompiledMapping* mapping_ = nullptr;
  rapidjson::Document* doc_ = nullptr;
  dom::PoolBump bump_;  // over doc_'s pool: the values this engine writes
  std::vector<Instance> instances_;
  std::vector<std::string_view> instance_keys_;  // views into the input or the arena (this message)
  std::vector<std::vector<std::size_t>> by_def_;  // instance indexes per resource def
  std::vector<std::unique_ptr<Scope[]>> scope_blocks_;
  std::size_t scope_used_ = 0;
  std::string keybuf_;
};

}  // namespace dxnorm::map
