#include "pipeline/map/mapping_engine.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <set>

#include "pipeline/core/fhir_json.h"
#include "pipeline/map/code_tables.h"
#include "pipeline/map/dom_writes.h"
#include "pipeline/map/resource_id.h"

namespace dxnorm::map {

namespace {
constexpr std::size_t kOutputBuffer = 1u << 20;
constexpr std::size_t kScopeBlock = 256;

// The member `name` of an object, or nullptr: a length check before any
// byte compare (rapidjson's FindMember measures the name and memcmps each key).
const rapidjson::Value* member_named(const rapidjson::Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  for (const auto& m : obj.GetObject())
    if (m.name.GetStringLength() == name.size() && std::memcmp(m.name.GetString(), name.data(), name.size()) == 0)
      return &m.value;
  return nullptr;
}

// The "reference" member of obj, or nullptr. emit_body() writes it first, so
// that is where it is looked for first.
const rapidjson::Value* reference_member(const rapidjson::Value& obj) {
  if (obj.IsObject() && !obj.ObjectEmpty()) {
    const auto& first = *obj.MemberBegin();
    if (first.name.GetStringLength() == 9 && std::memcmp(first.name.GetString(), "reference", 9) == 0) return &first.value;
  }
  return member_named(obj, "reference");
}

// Same string value; references to one resource share one pooled string.
bool same_text(const rapidjson::Value& a, const rapidjson::Value& b) {
  if (!a.IsString() || !b.IsString() || a.GetStringLength() != b.GetStringLength()) return false;
  return a.GetString() == b.GetString() || std::memcmp(a.GetString(), b.GetString(), a.GetStringLength()) == 0;
}

bool within(const SourceGroup* g, const SourceGroup* ancestor) {
  for (; g; g = g->parent)
    if (g == ancestor) return true;
  return false;
}
}  // namespace

namespace {

// The most members an object node's body can write (TemplateNode::object_capacity).
std::uint32_t object_bound(const TemplateNode& n, int depth = 0) {
  if (depth > 32) return 16;  // fragments do not nest that deep; rapidjson grows the rest
  std::uint32_t b = static_cast<std::uint32_t>(n.members.size()) + (n.ref ? 1 : 0) + (n.translate ? 2 : 0);
  for (const TemplateNode* f : n.merges) b += object_bound(*f, depth + 1);
  if (const TemplateNode* sw = n.switch_node.get()) {
    std::uint32_t most = 0;
    auto consider = [&](const TemplateNode* c) {
      if (c && c->kind == TemplateNode::Kind::kObject) most = std::max(most, object_bound(*c, depth + 1));
    };
    for (const auto& c : sw->cases) consider(c.node.get());
    consider(sw->default_case.get());
    b += most;
  }
  return b;
}

// A node whose body always writes the same value, and so can be emitted by
// copying it: a literal string, code or boolean that is not blank; an object
// whose members are all such nodes (no directives: $if, $each, $use, $ref,
// $translate, $switch, fragments). Array members take their items' values.
class ConstantBuilder {
 public:
  explicit ConstantBuilder(CompiledMapping::Constants& store) : store_(store) {}

  // The node's constant (built once), or nullptr.
  const rapidjson::Value* visit(TemplateNode& node) {
    if (auto it = seen_.find(&node); it != seen_.end()) return it->second;
    seen_[&node] = nullptr;  // in progress (templates do not nest themselves, but be safe)
    const rapidjson::Value* c = build(node);
    node.constant = c;
    seen_[&node] = c;
    return c;
  }

  // Every node owned below `node`, so that nested constants are found too
  // (fragments that nodes merge or stand for are walked from
  // CompiledMapping::fragments, which owns them). Object nodes get their
  // object_capacity on the way.
  void walk(TemplateNode& node) {
    if (!walked_.insert(&node).second) return;
    visit(node);
    if (node.kind == TemplateNode::Kind::kObject) node.object_capacity = object_bound(node);
    for (auto& m : node.members) walk(*m.node);
    for (auto& i : node.items) walk(*i);
    for (auto& c : node.cases) walk(*c.node);
    if (node.default_case) walk(*node.default_case);
    if (node.switch_node) walk(*node.switch_node);
  }

 private:
  static bool plain(const TemplateNode& n) { return !n.cond && !n.each && !n.alias && !n.distinct; }

  const rapidjson::Value* build(TemplateNode& node) {
    if (node.alias || node.each) return nullptr;
    auto& alloc = store_.pool;
    if (node.kind == TemplateNode::Kind::kLiteral) {
      if (node.literal_is_bool) return keep(rapidjson::Value(node.literal == "true"));
      if (node.literal_is_number) return nullptr;
      const std::string& t = node.literal;
      if (node.prim == PrimKind::kCode) {
        // Only codes that need no trimming (the value refers to the whole literal).
        auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
        if (t.empty() || space(t.front()) || space(t.back())) return nullptr;
      } else if (node.prim == PrimKind::kString) {
        if (t.find_first_not_of(" \t\r\n") == std::string::npos) return nullptr;
      } else {
        return nullptr;
      }
      return keep(rapidjson::Value(rapidjson::StringRef(t.data(), static_cast<rapidjson::SizeType>(t.size()))));
    }
    if (node.kind != TemplateNode::Kind::kObject || node.members.empty() || !node.merges.empty() || node.ref ||
        node.translate || node.switch_node)
      return nullptr;
    // Objects and arrays get exactly the room they fill: documents share
    // constants (share_constant()), and should anything ever add to a shared
    // one, rapidjson then moves it to the document instead of writing into
    // the plan.
    rapidjson::Value obj;
    dom::set_object(obj, static_cast<std::uint32_t>(node.members.size()), alloc);
    for (Member& m : node.members) {
      TemplateNode& n = *m.node;
      rapidjson::Value v;
      if (m.array) {
        std::vector<TemplateNode*> items;
        if (n.kind == TemplateNode::Kind::kList) {
          if (!plain(n)) return nullptr;
          for (auto& i : n.items) items.push_back(i.get());
        } else {
          items.push_back(&n);
        }
        dom::set_array(v, static_cast<std::uint32_t>(items.size()), alloc);
        for (TemplateNode* i : items) {
          if (!plain(*i) || i->kind == TemplateNode::Kind::kList || i->kind == TemplateNode::Kind::kSwitch) return nullptr;
          const rapidjson::Value* c = visit(*i);
          if (!c) return nullptr;
          v.PushBack(rapidjson::Value(*c, alloc), alloc);
        }
        if (v.Empty()) return nullptr;
      } else {
        if (!plain(n)) return nullptr;
        const rapidjson::Value* c = visit(n);
        if (!c) return nullptr;
        v.CopyFrom(*c, alloc);  // (objects and arrays copied with exact room)
      }
      dom::add_member(obj, m.json_name, v, alloc);
    }
    return keep(std::move(obj));
  }

  const rapidjson::Value* keep(rapidjson::Value v) {
    store_.values.emplace_back();
    store_.values.back() = v;  // rapidjson moves on assignment
    return &store_.values.back();
  }

  CompiledMapping::Constants& store_;
  std::map<const TemplateNode*, const rapidjson::Value*> seen_;
  std::set<const TemplateNode*> walked_;
};

}  // namespace

void prepare_constants(CompiledMapping& mapping) {
  mapping.constants = std::make_unique<CompiledMapping::Constants>();
  ConstantBuilder b(*mapping.constants);
  for (auto& r : mapping.resources)
    if (r.body) b.walk(*r.body);
  for (auto& [key, f] : mapping.fragments)
    if (f) b.walk(*f);
}

Output::Output()
    : buffer_(new char[kOutputBuffer]), pool_(buffer_.get(), kOutputBuffer), bundle(&pool_) {}

void Output::clear() {
  bundle.SetNull();
  pool_.Clear();
  resources.clear();
  issues.clear();
  trace.clear();
}

void MappingEngine::trace(const SourceLoc& rule, const Value* src, std::string_view what) {
  TraceEntry e;
  e.fhir_path = trace_path_;
  if (rule.file) e.rule = *rule.file + ":" + std::to_string(rule.line) + ":" + std::to_string(rule.column);
  if (!what.empty()) e.input = std::string(what);
  else if (src && src->has_cursor) ctx_.format->describe(src->cursor, *ctx_.doc, e.input);
  else e.input = "(literal)";
  trace_->push_back(std::move(e));
}

MappingEngine::MappingEngine() = default;

std::string_view MappingEngine::pooled(std::string_view a, std::string_view b, std::string_view c) {
  const std::size_t n = a.size() + b.size() + c.size();
  char* p = static_cast<char*>(bump_.Malloc(n + 1));
  char* w = p;
  for (std::string_view part : {a, b, c}) {
    if (part.empty()) continue;
    std::memcpy(w, part.data(), part.size());
    w += part.size();
  }
  *w = '\0';
  return {p, n};
}

const Scope* MappingEngine::new_scope(const Cursor& c, const Scope* parent, std::uint32_t index) {
  std::size_t block = scope_used_ / kScopeBlock, slot = scope_used_ % kScopeBlock;
  if (block == scope_blocks_.size()) scope_blocks_.push_back(std::make_unique<Scope[]>(kScopeBlock));
  ++scope_used_;
  Scope& s = scope_blocks_[block][slot];
  s.cursor = c;
  if (!s.cursor.group && parent) s.cursor.group = parent->cursor.group;
  s.parent = parent;
  s.index = index;
  return &s;
}

Status MappingEngine::convert(const CompiledMapping& mapping, const SourceDocument& message, Output& out,
                              const ConvertOptions& options) {
  out.clear();
  mapping_ = &mapping;
  doc_ = &out.bundle;
  bump_.reset(out.bundle.GetAllocator());
  ctx_.doc = &message;
  ctx_.format = mapping.source_format;
  if (!ctx_.format || ctx_.format->name() != message.format())
    return make_error(StatusCode::kFailedPrecondition, Stage::kMap, "FORMAT_MISMATCH", "",
                      "mapping " + mapping.name + " reads " + mapping.format + ", the message is " +
                          std::string(message.format()));
  ctx_.arena.reset();
  ctx_.stack.clear();
  ctx_.issues = &out.issues;
  ctx_.failed = false;
  if (++ctx_.generation == 0) {  // wrapped: forget everything
    for (auto& m : ctx_.memo) m.generation = 0;
    for (auto& l : ctx_.leaf_lookups) l.generation = 0;
    for (auto& d : ctx_.dates) d.generation = 0;
    ctx_.format_scratch.reset();
    ctx_.generation = 1;
  }
  ctx_.reads.reset(message.leaf_count());
  env_.zone = mapping.zone;
  trace_ = options.trace ? &out.trace : nullptr;
  trace_path_.clear();
  scope_used_ = 0;
  instances_.clear();
  instance_keys_.clear();
  by_def_.resize(mapping.resources.size());
  for (auto& v : by_def_) v.clear();

  const Scope* root = new_scope(Cursor{&message.root(), -1}, nullptr, 1);
  auto& alloc = out.bundle.GetAllocator();

  // Phase 1: instances and their ids, so that references can point anywhere.
  std::vector<std::string_view> keys;
  for (std::size_t d = 0; d < mapping.resources.size(); ++d) {
    const ResourceDef& def = mapping.resources[d];
    if (!def.body) continue;
    CursorList mine(*this);
    if (def.for_each) def.for_each->iterate(*root, ctx_, mine.v);
    else mine.v.push_back(Cursor{&message.root(), -1});
    std::uint32_t ordinal = 0;
    for (const Cursor& c : mine.v) {
      const Scope* s = new_scope(c, root, ++ordinal);
      if (def.when && !def.when->eval_bool(*s, ctx_, env_)) continue;
      keys.clear();
      bool any = false;
      for (const auto& k : def.id_keys) {
        std::string_view t = k->eval_text(*s, ctx_, env_);
        any = any || !t.empty();
        keys.push_back(t);
      }
      std::string ord = std::to_string(ordinal);
      if (!any) {
        // No business key: fall back to the message identity, still deterministic.
        keys = {message.identity(), def.name, ctx_.arena.copy(ord)};
        std::string loc;
        ctx_.format->describe(c, message, loc);
        ctx_.warn("ID_KEYS_EMPTY", loc, "resource '" + def.name + "': every id key is empty; id derived from the message control id");
      }
      Instance inst;
      inst.def = static_cast<int>(d);
      inst.scope = s;
      inst.group = s->cursor.group;
      inst.segment = s->cursor.segment;
      if (def.merge_duplicates) {
        // Same keys as an earlier instance of this resource: the same id, so
        // merged without hashing again (OBX-23's lab, named in every OBX).
        const Instance* same = nullptr;
        for (std::size_t idx : by_def_[d]) {
          const Instance& other = instances_[idx];
          if (other.skipped || other.key_count != keys.size()) continue;
          if (std::equal(keys.begin(), keys.end(), instance_keys_.begin() + other.key_begin)) {
            same = &other;
            break;
          }
        }
        if (same) {
          inst.skipped = true;
          inst.id = same->id;
          inst.full_url = same->full_url;
          by_def_[d].push_back(instances_.size());
          instances_.push_back(inst);
          continue;
        }
        inst.key_begin = static_cast<std::uint32_t>(instance_keys_.size());
        inst.key_count = static_cast<std::uint32_t>(keys.size());
        instance_keys_.insert(instance_keys_.end(), keys.begin(), keys.end());
      }
      char id[kResourceIdLength];
      write_resource_id(def.type, keys, id);
      // Ids are hex digests: comparing the first 8 bytes as one word settles
      // almost every pair without a memcmp call.
      std::uint64_t head;
      std::memcpy(&head, id, sizeof head);
      for (const Instance& other : instances_) {
        std::uint64_t other_head;
        std::memcpy(&other_head, other.id.data(), sizeof other_head);
        if (other_head != head || other.id != std::string_view(id, kResourceIdLength)) continue;
        if (def.merge_duplicates && other.def == inst.def) {
          inst.skipped = true;
        } else {
          // Its id is no longer a function of its keys: never a merge target
          // by keys (the id comparison above still applies).
          inst.key_count = UINT32_MAX;
          keys.push_back(ctx_.arena.copy(ord));
          write_resource_id(def.type, keys, id);
          std::string loc;
          ctx_.format->describe(c, message, loc);
          ctx_.warn("ID_COLLISION", loc,
                    "resource '" + def.name + "': id keys repeat an earlier resource; instance number added to the key");
        }
        break;
      }
      inst.full_url = pooled("urn:uuid:", std::string_view(id, kResourceIdLength));
      inst.id = inst.full_url.substr(9);
      by_def_[d].push_back(instances_.size());
      instances_.push_back(std::move(inst));
    }
  }

  // Phase 2: build the resources.
  dom::set_object(out.bundle, 4, bump_);
  put_ref(out.bundle, "resourceType", "Bundle");
  if (!message.identity().empty()) {
    std::string_view bkeys[] = {mapping.name, message.identity(), message.sender()};
    char bid[kResourceIdLength];
    write_resource_id("Bundle", bkeys, bid);
    put_copy(out.bundle, "id", std::string_view(bid, kResourceIdLength));
  }
  put_ref(out.bundle, "type", "transaction");
  // meta.source names the sending system: evaluated once, in message scope.
  std::string_view meta_source;
  if (mapping.meta_source) meta_source = mapping.meta_source->eval_text(*root, ctx_, env_);
  // Copied into the document once; every resource's meta refers to it.
  if (!meta_source.empty()) meta_source = pooled(meta_source);
  rapidjson::Value entries;
  dom::set_array(entries, static_cast<std::uint32_t>(instances_.size()), bump_);
  for (const Instance& inst : instances_) {
    if (inst.skipped) continue;
    const ResourceDef& def = mapping.resources[static_cast<std::size_t>(inst.def)];
    rapidjson::Value res;
    dom::set_object(res, 3 + def.body->object_capacity, bump_);
    put_ref(res, "resourceType", def.type);  // plan text
    put_ref(res, "id", inst.id);             // in the pool
    if (!meta_source.empty()) {
      rapidjson::Value meta;
      dom::set_object(meta, 1, bump_);
      put_ref(meta, "source", meta_source);  // in the pool
      put(res, "meta", meta);
    }
    if (trace_) trace_path_ = "Bundle.entry[" + std::to_string(entries.Size()) + "].resource";
    // resourceType, id and meta are in already; templates cannot write the
    // first two and `meta` is marked may_exist by the loader.
    emit_object_members(*def.body, *inst.scope, res, false);
    if (ctx_.failed) break;
    rapidjson::Value entry;
    dom::set_object(entry, 3, bump_);
    put_ref(entry, "fullUrl", inst.full_url);
    put(entry, "resource", res);
    rapidjson::Value req;
    dom::set_object(req, 2, bump_);
    put_ref(req, "method", "PUT");
    put_ref(req, "url", pooled(def.type, "/", inst.id));
    put(entry, "request", req);
    entries.PushBack(entry, alloc);
    out.resources.push_back(ResourceOut{def.type, inst.id, def.name});
  }
  put(out.bundle, "entry", entries);
  if (ctx_.failed) {
    return make_error(StatusCode::kInvalidInput, Stage::kMap, ctx_.fail_code, ctx_.fail_location, ctx_.fail_message);
  }
  if (options.report_unmapped)
    ctx_.format->report_unmapped(message, ctx_.reads, *ctx_.issues, options.unmapped_fields);
  return ok_status();
}

const TemplateNode* MappingEngine::pick_case(const TemplateNode& sw, const Scope& scope) {
  std::string_view v = sw.on ? sw.on->eval_text(scope, ctx_, env_) : std::string_view{};
  if (!v.empty())
    for (const auto& c : sw.cases)
      for (const auto& val : c.values)
        if (val == v) return c.node.get();
  return sw.default_case.get();
}

bool MappingEngine::emit_primitive(const TemplateNode& node, std::string_view text, const Value* src,
                                   rapidjson::Value& out) {
  auto bad = [&](const char* what) {
    std::string loc;
    if (src && src->has_cursor) ctx_.format->describe(src->cursor, *ctx_.doc, loc);
    ctx_.warn("VALUE_INVALID", loc, std::string("not a valid ") + what + " for " + node.fhir_type + "; element omitted");
    return false;
  };
  switch (node.prim) {
    case PrimKind::kDecimal: {
      std::string_view s;
      if (!decimal_form(text, ctx_.convert, s)) return bad("decimal");
      char* p = static_cast<char*>(bump_.Malloc(s.size() + 2));
      p[0] = fhir::kRawNumberTag;
      std::memcpy(p + 1, s.data(), s.size());
      p[s.size() + 1] = '\0';
      // The pool owns the bytes; the value only refers to them.
      dom::set_string_ref(out, p, s.size() + 1);
      return true;
    }
    case PrimKind::kInteger: {
      std::string& s = ctx_.convert;
      if (!normalise_decimal(text, s) || s.find('.') != std::string::npos) return bad("integer");
      long long v = 0;
      auto r = std::from_chars(s.data(), s.data() + s.size(), v);
      if (r.ec != std::errc()) return bad("integer");
      if ((node.fhir_type == "positiveInt" && v < 1) || (node.fhir_type == "unsignedInt" && v < 0))
        return bad("number");
      out.SetInt64(v);
      return true;
    }
    case PrimKind::kBoolean: {
      if (text == "true" || text == "Y" || text == "y" || text == "1" || text == "TRUE") out.SetBool(true);
      else if (text == "false" || text == "N" || text == "n" || text == "0" || text == "FALSE") out.SetBool(false);
      else return bad("boolean");
      return true;
    }
    case PrimKind::kCode: {
      auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
      while (!text.empty() && space(text.front())) text.remove_prefix(1);
      while (!text.empty() && space(text.back())) text.remove_suffix(1);
      if (text.empty()) return false;
      dom::set_string_copy(out, text, bump_);
      return true;
    }
    case PrimKind::kString: {
      bool blank = true;
      for (char c : text)
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
          blank = false;
          break;
        }
      if (blank) return false;
      dom::set_string_copy(out, text, bump_);
      return true;
    }
    case PrimKind::kNone:
      return false;
  }
  return false;
}

bool MappingEngine::emit_value(const TemplateNode& node, const Scope& scope, rapidjson::Value& out) {
  if (node.cond && !node.cond->eval_bool(scope, ctx_, env_)) return false;
  return emit_body(node, scope, out);
}

// A single value, honouring $each: the first item that produces one. The
// $each loop is out of line: its frame made every plain call save and
// restore six registers.
void MappingEngine::emit_member_value(const TemplateNode& node, const Scope& scope, rapidjson::Value& out,
                                      bool& produced) {
  produced = node.each ? emit_first_of_each(node, scope, out) : emit_value(node, scope, out);
}

bool MappingEngine::emit_first_of_each(const TemplateNode& node, const Scope& scope, rapidjson::Value& out) {
  CursorList cs(*this);
  node.each->iterate(scope, ctx_, cs.v);
  std::uint32_t i = 0;
  for (const Cursor& c : cs.v) {
    const Scope* s = new_scope(c, &scope, ++i);
    if (emit_value(node, *s, out)) return true;
  }
  return false;
}


bool MappingEngine::emit_body(const TemplateNode& node, const Scope& scope, rapidjson::Value& out) {
  if (node.constant && !trace_) {
    share_constant(*node.constant, out);
    return true;
  }
  if (node.alias) {
    bool produced = false;
    if (node.kind == TemplateNode::Kind::kObject && !node.merges.empty()) {
      // not reachable: alias and merges are exclusive
    }
    emit_member_value(*node.alias, scope, out, produced);
    return produced;
  }
  switch (node.kind) {
    case TemplateNode::Kind::kLiteral:
      if (node.literal_is_bool) {
        out.SetBool(node.literal == "true");
        if (trace_) trace(node.loc, nullptr);
        return true;
      }
      if (!emit_primitive(node, node.literal, nullptr, out)) return false;
      if (trace_) trace(node.loc, nullptr);
      return true;
    case TemplateNode::Kind::kExpr: {
      Value first;
      std::string_view t = node.expr ? node.expr->eval_text(scope, ctx_, env_, &first) : std::string_view{};
      if (t.empty()) return false;
      if (!emit_primitive(node, t, &first, out)) return false;
      if (trace_) trace(node.loc, &first);
      return true;
    }
    case TemplateNode::Kind::kSwitch: {
      const TemplateNode* c = pick_case(node, scope);
      if (!c) return false;
      bool produced = false;
      emit_member_value(*c, scope, out, produced);
      return produced;
    }
    case TemplateNode::Kind::kList:
      for (const auto& item : node.items) {
        bool produced = false;
        emit_member_value(*item, scope, out, produced);
        if (produced) return true;
      }
      return false;
    case TemplateNode::Kind::kObject: {
      dom::set_object(out, node.object_capacity, bump_);
      if (node.ref && !emit_reference(*node.ref, scope, out)) return false;
      if (node.translate && !emit_translate(*node.translate, scope, out)) return false;
      emit_object_members(node, scope, out, out.MemberCount() > 0);
      return out.MemberCount() > 0;
    }
  }
  return false;
}

void MappingEngine::emit_into_array(const TemplateNode& node, const Scope& scope, rapidjson::Value& array) {
  auto& alloc = doc_->GetAllocator();
  if (node.kind == TemplateNode::Kind::kList && !node.each) {
    if (node.cond && !node.cond->eval_bool(scope, ctx_, env_)) return;
    for (const auto& item : node.items) emit_into_array(*item, scope, array);
    return;
  }
  auto one = [&](const Scope& s) {
    if (node.cond && !node.cond->eval_bool(s, ctx_, env_)) return;
    if (node.alias && !node.each && node.alias->kind != TemplateNode::Kind::kObject) {
      emit_into_array(*node.alias, s, array);
      return;
    }
    if (node.kind == TemplateNode::Kind::kExpr && node.expr && node.expr->multi) {
      std::size_t base = ctx_.stack.size();
      std::size_t n = node.expr->eval(s, ctx_, env_);
      for (std::size_t i = 0; i < n; ++i) {
        Value v = ctx_.stack[base + i];
        if (v.text.empty()) continue;
        rapidjson::Value out;
        if (!emit_primitive(node, v.text, &v, out)) continue;
        if (trace_) {
          std::size_t mark = trace_path_.size();
          trace_path_ += "[" + std::to_string(array.Size()) + "]";
          trace(node.loc, &v);
          trace_path_.resize(mark);
        }
        array.PushBack(out, alloc);
      }
      ctx_.stack.resize(base);
      return;
    }
    if (node.kind == TemplateNode::Kind::kObject && node.ref && node.ref->all) {
      emit_reference_all(node, s, array);
      return;
    }
    rapidjson::Value out;
    std::size_t mark = trace_path_.size();
    if (trace_) trace_path_ += "[" + std::to_string(array.Size()) + "]";
    bool produced = emit_body(node, s, out);
    if (trace_) trace_path_.resize(mark);
    if (!produced) return;
    if (node.ref) {
      // Merged resources share an id: refer to each once.
      if (const rapidjson::Value* ref = reference_member(out))
        for (const auto& x : array.GetArray())
          if (const rapidjson::Value* other = reference_member(x); other && same_text(*other, *ref)) return;
    }
    if (node.distinct)
      for (const auto& x : array.GetArray())
        if (x == out) return;  // $distinct: this value is already in the array
    array.PushBack(out, alloc);
  };
  if (node.each) {
    CursorList cs(*this);
    node.each->iterate(scope, ctx_, cs.v);
    std::uint32_t i = 0;
    for (const Cursor& c : cs.v) one(*new_scope(c, &scope, ++i));
  } else {
    one(scope);
  }
}

// `check_all`: the object may already hold any of this node's elements
// (written by an earlier fragment or case), so look before adding. Otherwise
// only the members the loader marked may_exist are looked up: objects of a
// single template cannot repeat a key (the loader rejects duplicates).
void MappingEngine::emit_object_members(const TemplateNode& node, const Scope& scope, rapidjson::Value& obj,
                                        bool check_all) {
  auto& alloc = doc_->GetAllocator();
  bool written = false;
  for (const TemplateNode* frag : node.merges) {
    if (frag->cond && !frag->cond->eval_bool(scope, ctx_, env_)) continue;
    if (frag->ref && !member_named(obj, "reference")) emit_reference(*frag->ref, scope, obj);
    if (frag->translate && !member_named(obj, "coding")) emit_translate(*frag->translate, scope, obj);
    emit_object_members(*frag, scope, obj, check_all || written);
    written = true;
  }
  if (node.switch_node) {
    const TemplateNode* c = pick_case(*node.switch_node, scope);
    if (c && (!c->cond || c->cond->eval_bool(scope, ctx_, env_))) {
      if (c->kind == TemplateNode::Kind::kObject) emit_object_members(*c, scope, obj, check_all || written);
    }
  }
  for (const Member& m : node.members) {
    rapidjson::Value v;
    bool produced = false;
    const TemplateNode& n = *m.node;
    if (!trace_ && !m.array && !n.each && !n.alias &&
        (n.kind == TemplateNode::Kind::kExpr || n.kind == TemplateNode::Kind::kLiteral)) {
      // A primitive member (most of a template): what emit_member_value ->
      // emit_value -> emit_body would do, without the three calls.
      if (n.cond && !n.cond->eval_bool(scope, ctx_, env_)) continue;
      if (n.constant) {
        share_constant(*n.constant, v);
      } else if (n.kind == TemplateNode::Kind::kLiteral) {
        if (n.literal_is_bool) v.SetBool(n.literal == "true");
        else if (!emit_primitive(n, n.literal, nullptr, v)) continue;
      } else {
        Value first;
        std::string_view t = n.expr ? n.expr->eval_text(scope, ctx_, env_, &first) : std::string_view{};
        if (t.empty() || !emit_primitive(n, t, &first, v)) continue;
      }
      produced = true;
    }
    std::size_t mark = trace_path_.size();
    if (trace_) {
      trace_path_ += '.';
      trace_path_ += m.json_name;
    }
    if (produced) {
      // written above
    } else if (m.array) {
      // Most FHIR arrays hold one or two items: rapidjson would reserve 16
      // slots on the first push (the pool then spreads every message over
      // ~10x the memory it writes).
      dom::set_array(v, 2, bump_);
      emit_into_array(*m.node, scope, v);
      produced = !v.Empty();
    } else {
      emit_member_value(*m.node, scope, v, produced);
    }
    if (trace_) trace_path_.resize(mark);
    if (!produced) continue;
    auto name = rapidjson::StringRef(m.json_name.data(), m.json_name.size());
    if (check_all || m.may_exist) {
      auto it = obj.FindMember(name);
      if (it != obj.MemberEnd()) {
        it->value = v;
        if (ctx_.failed) return;
        continue;
      }
    }
    dom::add_member(obj, m.json_name, v, alloc);
    if (ctx_.failed) return;
  }
}

const MappingEngine::Instance* MappingEngine::resolve_ref(const RefSpec& ref, const Scope& scope) {
  if (ref.resource < 0) return nullptr;
  const auto& cands = by_def_[static_cast<std::size_t>(ref.resource)];
  if (cands.empty()) return nullptr;
  if (ref.where) {
    std::string target(ref.equals->eval_text(scope, ctx_, env_));
    if (target.empty()) return nullptr;
    for (std::size_t idx : cands) {
      const Instance& inst = instances_[idx];
      if (ref.where->eval_text(*inst.scope, ctx_, env_) == target) return &inst;
    }
    return nullptr;
  }
  const SourceGroup* g = scope.cursor.group ? scope.cursor.group : &ctx_.doc->root();
  // When the scope stands in a group of the kind the target is made for
  // (an OBSERVATION referring to `observation`), only that group's own
  // instance will do: never borrow a sibling's.
  const ResourceDef& def = mapping_->resources[static_cast<std::size_t>(ref.resource)];
  if (!def.for_group.empty()) {
    for (const SourceGroup* a = g; a; a = a->parent) {
      if (a->name != def.for_group) continue;
      for (std::size_t idx : cands) {
        const Instance& inst = instances_[idx];
        if (inst.group != a) continue;
        if (def.for_segment && a == g && scope.cursor.segment >= 0 && inst.segment != scope.cursor.segment)
          continue;
        return &inst;
      }
      return nullptr;
    }
  }
  for (const SourceGroup* a = g; a; a = a->parent)
    for (std::size_t idx : cands) {
      const Instance& inst = instances_[idx];
      if (within(inst.group, a)) return &inst;
    }
  return nullptr;
}

bool MappingEngine::emit_reference(const RefSpec& ref, const Scope& scope, rapidjson::Value& obj) {
  const Instance* inst = resolve_ref(ref, scope);
  if (!inst) return false;
  put_ref(obj, "reference", inst->full_url);  // in the pool
  if (trace_) {
    std::size_t mark = trace_path_.size();
    trace_path_ += ".reference";
    trace(ref.loc, nullptr, "(reference to " + mapping_->resources[static_cast<std::size_t>(ref.resource)].name + ")");
    trace_path_.resize(mark);
  }
  return true;
}

void MappingEngine::emit_reference_all(const TemplateNode& node, const Scope& scope, rapidjson::Value& array) {
  const RefSpec& ref = *node.ref;
  if (ref.resource < 0) return;
  auto& alloc = doc_->GetAllocator();
  std::string target;
  if (ref.equals) {
    target = std::string(ref.equals->eval_text(scope, ctx_, env_));
    if (target.empty()) return;
  }
  const SourceGroup* g = scope.cursor.group ? scope.cursor.group : &ctx_.doc->root();
  std::vector<std::string_view> seen;
  for (std::size_t idx : by_def_[static_cast<std::size_t>(ref.resource)]) {
    const Instance& inst = instances_[idx];
    if (ref.where) {
      if (ref.where->eval_text(*inst.scope, ctx_, env_) != target) continue;
    } else if (!within(inst.group, g)) {
      continue;
    }
    if (std::find(seen.begin(), seen.end(), inst.full_url) != seen.end()) continue;
    seen.push_back(inst.full_url);
    rapidjson::Value obj;
    dom::set_object(obj, 1 + node.object_capacity, bump_);
    put_ref(obj, "reference", inst.full_url);  // in the pool
    std::size_t mark = trace_path_.size();
    if (trace_) {
      trace_path_ += "[" + std::to_string(array.Size()) + "]";
      std::size_t item = trace_path_.size();
      trace_path_ += ".reference";
      trace(ref.loc, nullptr, "(reference to " + mapping_->resources[static_cast<std::size_t>(ref.resource)].name + ")");
      trace_path_.resize(item);
    }
    emit_object_members(node, scope, obj, true);
    if (trace_) trace_path_.resize(mark);
    array.PushBack(obj, alloc);
  }
}

bool MappingEngine::emit_translate(const TranslateSpec& t, const Scope& scope, rapidjson::Value& obj) {
  auto& alloc = doc_->GetAllocator();
  Value src;
  std::string_view code = t.code ? t.code->eval_text(scope, ctx_, env_, &src) : std::string_view{};
  if (code.empty() || !t.table) return false;
  std::string_view display = t.display ? t.display->eval_text(scope, ctx_, env_) : std::string_view{};
  std::string_view orig_system = t.system ? t.system->eval_text(scope, ctx_, env_) : std::string_view{};
  const bool orig_system_in_plan = orig_system.empty();
  if (orig_system_in_plan) orig_system = t.table->source_system;
  const CodeEntry* e = t.table->find(code);
  std::string loc;
  if (!e) {
    switch (t.table->unmapped) {
      case UnmappedPolicy::kKeepOriginal: break;
      case UnmappedPolicy::kDefault: e = &t.table->default_entry; break;
      case UnmappedPolicy::kDrop:
        if (src.has_cursor) ctx_.format->describe(src.cursor, *ctx_.doc, loc);
        ctx_.warn("CODE_UNMAPPED", loc, "code not in table " + t.table->name + "; dropped");
        return false;
      case UnmappedPolicy::kError:
        if (src.has_cursor) ctx_.format->describe(src.cursor, *ctx_.doc, loc);
        ctx_.fail("CODE_UNMAPPED", loc, "code not in table " + t.table->name + " (unmapped: error)");
        return false;
    }
  }
  rapidjson::Value coding;
  dom::set_array(coding, 2, bump_);
  std::string_view tsys;
  if (e) {
    tsys = e->system.empty() ? std::string_view(t.table->target_system) : std::string_view(e->system);
    // Code-table text is plan text: referred to, not copied.
    rapidjson::Value c;
    dom::set_object(c, 3, bump_);
    if (!tsys.empty()) put_ref(c, "system", tsys);
    put_ref(c, "code", e->code);
    if (!e->display.empty()) put_ref(c, "display", e->display);
    coding.PushBack(c, alloc);
  }
  if (!e || tsys != orig_system || e->code != code) {
    rapidjson::Value c;
    dom::set_object(c, 3, bump_);
    if (!orig_system.empty()) {
      if (orig_system_in_plan) put_ref(c, "system", orig_system);
      else put_copy(c, "system", orig_system);
    }
    put_copy(c, "code", code);
    if (!display.empty()) put_copy(c, "display", display);
    coding.PushBack(c, alloc);
  }
  put(obj, "coding", coding);
  if (trace_) {
    std::size_t mark = trace_path_.size();
    trace_path_ += ".coding";
    trace(t.loc, &src, {});
    trace_path_.resize(mark);
  }
  if (t.text) {
    std::string_view text = t.text->eval_text(scope, ctx_, env_);
    if (!text.empty()) put_copy(obj, "text", text);
  }
  return true;
}

}  // namespace dxnorm::map
