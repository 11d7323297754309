#include "pipeline/map/mapping_loader.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <Poco/SHA1Engine.h>
#include <Poco/DigestEngine.h>

#include "pipeline/core/fhir_schema.h"
#include "pipeline/map/datetime.h"
#include "pipeline/map/source_format.h"

namespace dxnorm::map {

// yaml-cpp: a default-constructed Node is "defined" (a null); absent means
// never assigned or an explicit null.
inline bool present(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

namespace fs = std::filesystem;
using fhir::ElementDef;
using fhir::FhirSchema;
using fhir::TypeDef;

namespace {

PrimKind prim_kind(std::string_view t) {
  if (t == "decimal") return PrimKind::kDecimal;
  if (t == "integer" || t == "positiveInt" || t == "unsignedInt" || t == "integer64") return PrimKind::kInteger;
  if (t == "boolean") return PrimKind::kBoolean;
  if (t == "code") return PrimKind::kCode;
  return PrimKind::kString;
}

struct FragmentSrc {
  YAML::Node node;      // the template
  YAML::Node decl;      // the fragment's map (for locations)
  YAML::Node key;       // the fragment's name as written
  std::string type;
  const std::string* file;
};

class Compiler {
 public:
  Compiler(CompiledMapping& m, const CodeTables& tables, const FhirSchema& schema, Diagnostics& diags, bool lint)
      : m_(m), tables_(tables), schema_(schema), diags_(diags), lint_(lint) {}

  // Lint: a condition that is a literal never changes.
  void lint_constant(const std::string* file, const YAML::Node& at, const Expr* e, const char* what) {
    if (!lint_ || !e || e->kind != Expr::Kind::kLiteral) return;
    if (std::string_view(what).find("$switch") != std::string_view::npos) {
      warning(file, at, std::string(what) + " is constant ('" + e->literal + "'): the same case is taken for every message");
      return;
    }
    warning(file, at,
            std::string(what) + " is constant (" + (e->literal.empty() ? "always false" : "always true") +
                "): the rule " + (e->literal.empty() ? "can never fire" : "does not depend on the message"));
  }
  static void member_names(const TemplateNode& n, std::map<std::string, const TemplateNode*>& out) {
    for (const TemplateNode* f : n.merges) member_names(*f, out);
    for (const auto& m : n.members) out.emplace(m.json_name, m.node.get());
  }
  void warn_at(const SourceLoc& l, std::string msg) {
    Diagnostic d;
    d.severity = Diagnostic::Severity::kWarning;
    d.file = l.file ? *l.file : std::string();
    d.line = l.line;
    d.column = l.column;
    d.message = std::move(msg);
    diags_.add(std::move(d));
  }
  // The engine adds members without searching the object unless a fragment
  // or a $switch case of the same object may have written them already.
  static void mark_may_exist(TemplateNode& node) {
    if (node.members.empty() || (node.merges.empty() && !node.switch_node)) return;
    std::map<std::string, const TemplateNode*> earlier;
    for (const TemplateNode* f : node.merges) member_names(*f, earlier);
    if (node.switch_node)
      for (const auto& c : node.switch_node->cases)
        if (c.node) member_names(*c.node, earlier);
    if (node.switch_node && node.switch_node->default_case) member_names(*node.switch_node->default_case, earlier);
    for (auto& m : node.members) m.may_exist = earlier.count(m.json_name) > 0;
  }

  // Lint: an element given by a fragment (or a $switch case) and again here.
  void lint_written_twice(const TemplateNode& node, const std::set<std::string>& overrides) {
    if (!lint_ || node.members.empty()) return;
    std::map<std::string, const TemplateNode*> earlier;
    for (const TemplateNode* f : node.merges) member_names(*f, earlier);
    if (node.switch_node)
      for (const auto& c : node.switch_node->cases)
        if (c.node) member_names(*c.node, earlier);
    for (const auto& m : node.members) {
      auto it = earlier.find(m.json_name);
      if (it == earlier.end() || overrides.count(m.json_name)) continue;
      const SourceLoc& o = it->second->loc;
      warn_at(m.key_loc, "'" + m.json_name + "' is written twice: this value replaces the one written at " +
                             (o.file ? *o.file : std::string("?")) + ":" + std::to_string(o.line));
    }
  }

  std::unordered_map<std::string, FragmentSrc> fragments;
  std::unordered_map<std::string, int> resource_index;
  const SourceFormat* format = nullptr;
  const void* structure = nullptr;

  void error(const std::string* file, const YAML::Node& at, std::string msg) { diags_.error(*file, at, std::move(msg)); }
  void warning(const std::string* file, const YAML::Node& at, std::string msg) { diags_.warning(*file, at, std::move(msg)); }

  SourceLoc loc(const std::string* file, const YAML::Node& n) {
    SourceLoc l;
    l.file = file;
    if (n.IsDefined()) {
      l.line = n.Mark().line + 1;
      l.column = n.Mark().column + 1;
    }
    return l;
  }

  CompileEnv env() {
    CompileEnv e;
    e.tables = &tables_;
    e.format = format;
    e.paths.structure = structure;
    e.tables_used = &m_.tables_used;
    return e;
  }

  ExprPtr expr(const std::string* file, const YAML::Node& n, std::string_view text) {
    std::string err;
    int col = 0;
    ExprPtr e = compile_expression(text, env(), err, col);
    if (!e) {
      Diagnostic d;
      d.file = *file;
      d.line = n.Mark().line + 1;
      // Point into the expression: past the opening quote and whatever was
      // stripped before `text` (the "=" of a template value).
      std::size_t prefix = 0;
      if (n.IsScalar()) {
        const std::string& raw = n.Scalar();
        if (raw.size() >= text.size() && raw.compare(raw.size() - text.size(), text.size(), text) == 0)
          prefix = raw.size() - text.size();
      }
      int quote = n.Tag() == "!" ? 1 : 0;
      d.column = n.Mark().column + 1 + quote + static_cast<int>(prefix) + col;
      std::string_view shown = text;
      while (!shown.empty() && shown.front() == ' ') shown.remove_prefix(1);
      d.message = "in expression '" + std::string(shown) + "': " + err;
      diags_.add(d);
    }
    return e;
  }

  std::unique_ptr<SourcePath> path(const std::string* file, const YAML::Node& n) {
    std::string text = n.as<std::string>();
    if (!format) {
      error(file, n, "paths need an input format (input.format)");
      return nullptr;
    }
    std::string err;
    PathContext pc;
    pc.structure = structure;
    auto p = format->compile_path(text, pc, err);
    // Structure errors read best on their own; syntax errors name the path.
    if (!p) error(file, n, err.rfind("group ", 0) == 0 || err.rfind("segment ", 0) == 0 ? err : "bad path '" + text + "': " + err);
    return p;
  }

  // Child type name of an element.
  std::string element_type(const ElementDef& def, const std::string& choice) {
    if (!choice.empty()) return choice;
    if (def.backbone) return def.backbone->name;
    return def.types.empty() ? std::string("string") : def.types.front();
  }

  bool is_primitive(const std::string& type) { return schema_.is_primitive(type); }

  std::unique_ptr<TemplateNode> compile(const std::string* file, const YAML::Node& n, const std::string& type,
                                        int depth = 0) {
    auto node = std::make_unique<TemplateNode>();
    node->loc = loc(file, n);
    node->fhir_type = type;
    bool primitive = is_primitive(type);
    if (primitive) node->prim = prim_kind(type);
    if (depth > 64) {
      error(file, n, "template nested too deeply (a fragment that uses itself?)");
      return node;
    }
    if (n.IsScalar()) {
      compile_scalar(file, n, *node, primitive);
      return node;
    }
    if (n.IsSequence()) {
      node->kind = TemplateNode::Kind::kList;
      for (const auto& item : n) node->items.push_back(compile(file, item, type, depth + 1));
      return node;
    }
    if (!n.IsMap()) {
      error(file, n, "expected a value, a list or a map");
      return node;
    }
    node->kind = TemplateNode::Kind::kObject;
    const TypeDef* td = primitive ? nullptr : schema_.type(type);
    YAML::Node value_node, switch_node, use_node;
    std::set<std::string> seen, overrides;
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (!seen.insert(key).second) {
        error(file, kv.first, "'" + key + "' is written twice in the same map");
        continue;
      }
      if (!key.empty() && key[0] == '$') {
        if (key == "$each") {
          node->each = path(file, v);
        } else if (key == "$if") {
          node->cond = expr(file, v, strip_eq(v.as<std::string>()));
          lint_constant(file, v, node->cond.get(), "$if condition");
        } else if (key == "$value") {
          value_node.reset(v);
        } else if (key == "$use") {
          use_node.reset(v);
        } else if (key == "$distinct") {
          node->distinct = v.as<bool>();
        } else if (key == "$overrides") {
          // Elements this object deliberately writes over its fragment's (lint stays quiet).
          if (v.IsSequence())
            for (const auto& x : v) overrides.insert(x.as<std::string>());
          else
            overrides.insert(v.as<std::string>());
        } else if (key == "$switch") {
          switch_node.reset(v);
        } else if (key == "$ref") {
          if (type != "Reference") {
            error(file, kv.first, "$ref makes a Reference, but this element is a " + type);
            continue;
          }
          node->ref = compile_ref(file, v);
        } else if (key == "$translate") {
          if (type != "CodeableConcept") {
            error(file, kv.first, "$translate makes a CodeableConcept, but this element is a " + type);
            continue;
          }
          node->translate = compile_translate(file, v);
        } else {
          error(file, kv.first,
                "unknown directive '" + key + "' (known: $each, $if, $value, $use, $overrides, $distinct, $switch, $ref, $translate)");
        }
        continue;
      }
      if (primitive) {
        error(file, kv.first, "'" + key + "': this element is a " + type + " (a single value), it has no elements");
        continue;
      }
      if (!td) {
        error(file, kv.first, "unknown FHIR type " + type);
        continue;
      }
      if (key == "resourceType" || (key == "id" && td->kind == TypeDef::Kind::kResource)) {
        error(file, kv.first, "'" + key + "' is set by dxnorm from the resource's type and id keys");
        continue;
      }
      std::string choice;
      const ElementDef* def = td->find(key, &choice);
      if (!def && td->find(key + "[x]")) {
        error(file, kv.first, "'" + key + "' is a choice: name the type, e.g. " + key + "String or " + key + "Quantity");
        continue;
      }
      if (!def) {
        error(file, kv.first, "unknown FHIR element '" + key + "' in " + type + known_elements(*td));
        continue;
      }
      if (def->is_choice() && choice.empty()) {
        error(file, kv.first, "'" + key + "' is a choice: name the type, e.g. " +
                                  def->name.substr(0, def->name.size() - 3) + "String");
        continue;
      }
      Member mem;
      mem.key_loc = loc(file, kv.first);
      mem.json_name = key;
      mem.array = def->max > 1;
      std::string ctype = element_type(*def, choice);
      mem.node = compile(file, v, ctype, depth + 1);
      if (!mem.array && mem.node->kind == TemplateNode::Kind::kList)
        error(file, v, "'" + key + "' holds a single value in FHIR (max 1); a list was given");
      node->members.push_back(std::move(mem));
    }
    if (present(use_node)) {
      const TemplateNode* frag = use_fragment(file, use_node, type, depth);
      if (frag) {
        if (frag->kind == TemplateNode::Kind::kObject && !primitive) node->merges.push_back(frag);
        else node->alias = frag;
      }
    }
    if (present(value_node)) {
      if (!node->members.empty() || node->ref || node->translate) {
        error(file, value_node, "$value stands for the whole element; it cannot be combined with elements");
      }
      auto inner = compile(file, value_node, type, depth + 1);
      node->alias = own(std::move(inner));
    }
    if (present(switch_node)) {
      auto sw = compile_switch(file, switch_node, type, depth);
      if (primitive || node->members.empty()) {
        // The switch stands for the value.
        node->alias = own(std::move(sw));
      } else {
        node->switch_node = std::move(sw);
      }
    }
    if (!primitive && node->alias == nullptr && node->members.empty() && node->merges.empty() && !node->ref &&
        !node->translate && !node->switch_node)
      error(file, n, "empty template for " + type);
    lint_written_twice(*node, overrides);
    mark_may_exist(*node);
    return node;
  }

  static std::string strip_eq(std::string s) {
    std::size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] == '=') s.erase(0, i + 1);
    return s;
  }

  std::string known_elements(const TypeDef& td) {
    std::string s = " (elements: ";
    int k = 0;
    for (const auto& e : td.elements) {
      if (e.name == "id" || e.name == "extension" || e.name == "modifierExtension" || e.name == "implicitRules" ||
          e.name == "language" || e.name == "contained" || e.name == "text")
        continue;
      if (k++) s += ", ";
      s += e.name;
      if (k >= 25) {
        s += ", ...";
        break;
      }
    }
    return s + ")";
  }

  void compile_scalar(const std::string* file, const YAML::Node& n, TemplateNode& node, bool primitive) {
    std::string s = n.as<std::string>();
    bool quoted = n.Tag() == "!";
    (void)quoted;  // quoted or not, "= ..." is an expression (YAML needs quotes around ': ')
    if (!s.empty() && s[0] == '=') {
      node.kind = TemplateNode::Kind::kExpr;
      if (!primitive) {
        error(file, n, "this element is a " + node.fhir_type +
                           ": an expression gives one text value; give its elements as a map (or use $use / $ref)");
        return;
      }
      node.expr = expr(file, n, std::string_view(s).substr(1));
      return;
    }
    node.kind = TemplateNode::Kind::kLiteral;
    node.literal = s;
    if (!primitive) {
      error(file, n, "this element is a " + node.fhir_type + ": give its elements as a map (or use $use / $ref)");
      return;
    }
    if (node.prim == PrimKind::kBoolean) {
      if (s != "true" && s != "false") error(file, n, "a boolean literal is true or false");
      node.literal_is_bool = true;
    } else if (node.prim == PrimKind::kDecimal || node.prim == PrimKind::kInteger) {
      node.literal_is_number = true;
      bool ok = !s.empty();
      for (char c : s)
        if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) ok = false;
      if (!ok) error(file, n, "a " + node.fhir_type + " literal must be a number");
    }
  }

  std::unique_ptr<RefSpec> compile_ref(const std::string* file, const YAML::Node& v) {
    auto r = std::make_unique<RefSpec>();
    r->loc = loc(file, v);
    bool optional = false;  // a fragment's reference to a resource a mapping may not create
    YAML::Node name_node(v);
    if (v.IsMap()) {
      name_node.reset();
      for (const auto& kv : v) {
        std::string k = kv.first.as<std::string>();
        if (k == "resource") name_node.reset(kv.second);
        else if (k == "where") r->where = expr(file, kv.second, strip_eq(kv.second.as<std::string>()));
        else if (k == "equals") r->equals = expr(file, kv.second, strip_eq(kv.second.as<std::string>()));
        else if (k == "all") r->all = kv.second.as<bool>();
        else if (k == "optional") optional = kv.second.as<bool>();
        else error(file, kv.first, "unknown key '" + k + "' in $ref (expected resource, where, equals, all, optional)");
      }
      if ((r->where == nullptr) != (r->equals == nullptr))
        error(file, v, "$ref needs both 'where' and 'equals', or neither");
    }
    if (!present(name_node) || !name_node.IsScalar()) {
      error(file, v, "$ref names a resource of this mapping");
      return r;
    }
    std::string name = name_node.as<std::string>();
    auto it = resource_index.find(name);
    if (it == resource_index.end() && optional) {
      r->resource = -1;  // this mapping does not create it: the reference is left out
    } else if (it == resource_index.end()) {
      std::string known;
      for (const auto& [k, _] : resource_index) known += (known.empty() ? "" : ", ") + k;
      error(file, name_node, "$ref to '" + name + "', a resource this mapping never creates (resources: " + known + ")");
    } else {
      r->resource = it->second;
    }
    return r;
  }

  std::unique_ptr<TranslateSpec> compile_translate(const std::string* file, const YAML::Node& v) {
    auto t = std::make_unique<TranslateSpec>();
    t->loc = loc(file, v);
    YAML::Node table_node(v);
    std::string code = ".1", display = ".2";
    std::string system, text;
    if (v.IsMap()) {
      table_node.reset();
      for (const auto& kv : v) {
        std::string k = kv.first.as<std::string>();
        std::string val = kv.second.as<std::string>();
        if (k == "table") table_node.reset(kv.second);
        else if (k == "code") code = strip_eq(val);
        else if (k == "display") display = strip_eq(val);
        else if (k == "system") system = strip_eq(val);
        else if (k == "text") text = strip_eq(val);
        else error(file, kv.first, "unknown key '" + k + "' in $translate (expected table, code, display, system, text)");
      }
    }
    if (!present(table_node) || !table_node.IsScalar()) {
      error(file, v, "$translate needs a code table name");
      return t;
    }
    std::string name = table_node.as<std::string>();
    t->table = tables_.find(name);
    if (!t->table) error(file, table_node, "unknown code table '" + name + "' (tables live in mappings/codes/)");
    else m_.tables_used.push_back(t->table);
    t->code = expr(file, v, code);
    t->display = expr(file, v, display);
    if (!system.empty()) t->system = expr(file, v, system);
    if (!text.empty()) t->text = expr(file, v, text);
    return t;
  }

  std::unique_ptr<TemplateNode> compile_switch(const std::string* file, const YAML::Node& v, const std::string& type,
                                               int depth) {
    auto sw = std::make_unique<TemplateNode>();
    sw->kind = TemplateNode::Kind::kSwitch;
    sw->loc = loc(file, v);
    sw->fhir_type = type;
    sw->prim = is_primitive(type) ? prim_kind(type) : PrimKind::kNone;
    if (!v.IsMap()) {
      error(file, v, "$switch is a map: {on: <expression>, cases: {VALUE: ...}, default: ...}");
      return sw;
    }
    for (const auto& kv : v) {
      std::string k = kv.first.as<std::string>();
      if (k == "on") {
        sw->on = expr(file, kv.second, strip_eq(kv.second.as<std::string>()));
        lint_constant(file, kv.second, sw->on.get(), "$switch value");
      } else if (k == "cases") {
        if (!kv.second.IsMap()) {
          error(file, kv.second, "cases is a map from value(s) to a template");
          continue;
        }
        std::set<std::string> seen_values;
        for (const auto& c : kv.second) {
          SwitchCase sc;
          std::string keys = c.first.as<std::string>();
          std::stringstream ss(keys);
          std::string part;
          while (std::getline(ss, part, ',')) {
            while (!part.empty() && part.front() == ' ') part.erase(0, 1);
            while (!part.empty() && part.back() == ' ') part.pop_back();
            if (part.empty()) continue;
            if (!seen_values.insert(part).second)
              error(file, c.first, "case '" + part + "' appears twice in this $switch; the second can never fire");
            sc.values.push_back(part);
          }
          sc.node = compile(file, c.second, type, depth + 1);
          sw->cases.push_back(std::move(sc));
        }
      } else if (k == "default") {
        sw->default_case = compile(file, kv.second, type, depth + 1);
      } else {
        error(file, kv.first, "unknown key '" + k + "' in $switch (expected on, cases, default)");
      }
    }
    if (!sw->on) error(file, v, "$switch needs 'on'");
    return sw;
  }

  const TemplateNode* use_fragment(const std::string* file, const YAML::Node& v, const std::string& type, int depth) {
    std::string name = v.as<std::string>();
    auto it = fragments.find(name);
    if (it == fragments.end()) {
      error(file, v, "unknown fragment '" + name + "' (define it under 'fragments:' or include the file that does)");
      return nullptr;
    }
    const FragmentSrc& f = it->second;
    if (f.type != type) {
      error(file, v, "fragment '" + name + "' makes a " + f.type + ", but this element is a " + type);
      return nullptr;
    }
    std::string key = name + "|" + type;
    auto cached = m_.fragments.find(key);
    if (cached != m_.fragments.end()) {
      if (!cached->second) {
        error(file, v, "fragment '" + name + "' uses itself");
        return nullptr;
      }
      return cached->second.get();
    }
    m_.fragments[key] = nullptr;  // in progress
    auto node = compile(f.file, f.node, type, depth + 1);
    const TemplateNode* p = node.get();
    m_.fragments[key] = std::move(node);
    used_fragments.insert(name);
    return p;
  }

  const TemplateNode* own(std::unique_ptr<TemplateNode> n) {
    const TemplateNode* p = n.get();
    owned.push_back(std::move(n));
    return p;
  }

  std::set<std::string> used_fragments;
  std::vector<std::unique_ptr<TemplateNode>> owned;

 private:
  CompiledMapping& m_;
  const CodeTables& tables_;
  const FhirSchema& schema_;
  Diagnostics& diags_;
  bool lint_ = false;
};

const std::string* keep(CompiledMapping& m, std::string s) {
  m.files.push_back(std::make_unique<std::string>(std::move(s)));
  return m.files.back().get();
}

bool load_yaml(const std::string& path, YAML::Node& out, Diagnostics& diags, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    Diagnostic d;
    d.file = path;
    d.message = "cannot read file";
    diags.add(d);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (text) *text = ss.str();
  try {
    out = YAML::Load(ss.str());
  } catch (const YAML::Exception& e) {
    Diagnostic d;
    d.file = path;
    d.line = e.mark.line + 1;
    d.column = e.mark.column + 1;
    d.message = "YAML syntax: " + e.msg;
    diags.add(d);
    return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<CompiledMapping> load_mapping(const std::string& path, const CodeTables& tables,
                                              const FhirSchema& schema,
                                              const hl7v2::StructureRegistry& /*structures: see the format*/,
                                              const LoaderOptions& options, Diagnostics& diags) {
  auto m = std::make_unique<CompiledMapping>();
  m->file = path;
  const std::string* file = keep(*m, path);
  YAML::Node root;
  std::string text;
  std::size_t errors_before = diags.items().size();
  auto has_new_errors = [&] {
    for (std::size_t i = errors_before; i < diags.items().size(); ++i)
      if (diags.items()[i].severity == Diagnostic::Severity::kError) return true;
    return false;
  };
  if (!load_yaml(path, root, diags, &text)) return nullptr;
  Poco::SHA1Engine hash;
  hash.update(text);
  if (!root.IsMap()) {
    diags.error(path, root, "a mapping file is a map (mapping, version, input, resources...)");
    return nullptr;
  }
  Compiler c(*m, tables, schema, diags, options.lint);
  YAML::Node resources, meta_source, fragments_node, input;
  std::string zone_name = options.default_zone;
  std::vector<std::pair<YAML::Node, const std::string*>> fragment_maps;
  for (const auto& kv : root) {
    std::string k = kv.first.as<std::string>();
    const YAML::Node& v = kv.second;
    if (k == "mapping") m->name = v.as<std::string>();
    else if (k == "version") m->version = v.as<std::string>();
    else if (k == "description") {
    } else if (k == "input") input.reset(v);
    else if (k == "source-zone") zone_name = v.as<std::string>();
    else if (k == "meta-source") meta_source.reset(v);
    else if (k == "resources") resources.reset(v);
    else if (k == "fragments") fragment_maps.emplace_back(v, file);
    else if (k == "include") {
      if (!v.IsSequence()) {
        diags.error(path, v, "include is a list of fragment files");
        continue;
      }
      for (const auto& inc : v) {
        fs::path p = fs::path(path).parent_path() / inc.as<std::string>();
        YAML::Node ir;
        std::string itext;
        if (!fs::exists(p)) {
          diags.error(path, inc, "included file not found: " + p.lexically_normal().string());
          continue;
        }
        if (!load_yaml(p.lexically_normal().string(), ir, diags, &itext)) continue;
        hash.update(itext);
        const std::string* ifile = keep(*m, p.lexically_normal().string());
        if (!ir.IsMap()) {
          diags.error(*ifile, ir, "an included file is a map with 'fragments'");
          continue;
        }
        for (const auto& ikv : ir) {
          std::string ik = ikv.first.as<std::string>();
          if (ik == "fragments") fragment_maps.emplace_back(ikv.second, ifile);
          else if (ik != "description")
            diags.error(*ifile, ikv.first, "unknown key '" + ik + "' in an included file (expected description, fragments)");
        }
      }
    } else {
      diags.error(path, kv.first,
                  "unknown key '" + k +
                      "' (expected mapping, version, description, input, include, source-zone, meta-source, "
                      "fragments, resources)");
    }
  }
  if (m->name.empty()) diags.error(path, root, "missing 'mapping' (the mapping's name)");
  if (m->version.empty()) diags.error(path, root, "missing 'version'");
  try {
    m->zone = find_zone(zone_name);
  } catch (const std::exception& e) {
    diags.error(path, root["source-zone"], e.what());
  }
  // Input.
  if (!present(input) || !input.IsMap()) {
    diags.error(path, present(input) ? input : root, "missing 'input' ({format: hl7v2, messages: [ORU^R01]})");
  } else {
    for (const auto& kv : input) {
      std::string k = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (k == "format") {
        m->format = v.as<std::string>();
        m->source_format = find_format(m->format);
        if (!m->source_format) {
          std::string known;
          for (const auto& f : format_names()) known += (known.empty() ? "" : ", ") + f;
          diags.error(path, v, "unsupported format '" + m->format + "' (supported: " + known + ")");
        }
      } else if (k == "messages") {
        if (v.IsSequence())
          for (const auto& x : v) m->messages.push_back(x.as<std::string>());
        else
          m->messages.push_back(v.as<std::string>());
      } else if (k == "structure") {
        m->structure = v.as<std::string>();
      } else if (k == "sending-application") {
        if (v.IsSequence())
          for (const auto& x : v) m->sending_applications.push_back(x.as<std::string>());
        else
          m->sending_applications.push_back(v.as<std::string>());
      } else if (k == "sending-facility") {
        if (v.IsSequence())
          for (const auto& x : v) m->sending_facilities.push_back(x.as<std::string>());
        else
          m->sending_facilities.push_back(v.as<std::string>());
      } else {
        diags.error(path, kv.first,
                    "unknown key '" + k + "' in input (expected format, messages, structure, sending-application, sending-facility)");
      }
    }
    if (m->format == "hl7v2") {
      if (m->messages.empty()) diags.error(path, input, "input.messages lists the message types (e.g. ORU^R01)");
      for (const auto& msg : m->messages)
        if (msg.find('^') == std::string::npos)
          diags.error(path, input["messages"], "message type '" + msg + "' must be TYPE^TRIGGER (e.g. ORU^R01)");
    }
    c.format = m->source_format;
    if (c.format) {
      std::string err;
      c.structure = c.format->resolve_structure(m->messages, m->structure, err);
      if (!err.empty()) diags.error(path, input, err);
    }
  }
  // Fragments.
  for (const auto& [fm, ffile] : fragment_maps) {
    if (!fm.IsMap()) {
      diags.error(*ffile, fm, "fragments is a map from name to {type, template}");
      continue;
    }
    for (const auto& kv : fm) {
      std::string name = kv.first.as<std::string>();
      FragmentSrc f;
      f.decl.reset(kv.second);
      f.key.reset(kv.first);
      f.file = ffile;
      if (!kv.second.IsMap()) {
        diags.error(*ffile, kv.second, "fragment '" + name + "' is a map {type, template}");
        continue;
      }
      for (const auto& fk : kv.second) {
        std::string k = fk.first.as<std::string>();
        if (k == "type") f.type = fk.second.as<std::string>();
        else if (k == "template") f.node.reset(fk.second);
        else if (k != "description")
          diags.error(*ffile, fk.first, "unknown key '" + k + "' in fragment (expected type, description, template)");
      }
      if (f.type.empty() || !present(f.node)) {
        diags.error(*ffile, kv.second, "fragment '" + name + "' needs 'type' and 'template'");
        continue;
      }
      if (!schema.type(f.type)) {
        diags.error(*ffile, kv.second["type"], "unknown FHIR type '" + f.type + "'");
        continue;
      }
      if (c.fragments.count(name)) {
        diags.error(*ffile, kv.first, "fragment '" + name + "' is defined twice (also in " + *c.fragments[name].file + ")");
        continue;
      }
      c.fragments.emplace(name, f);
    }
  }
  if (present(meta_source)) m->meta_source = c.expr(file, meta_source, Compiler::strip_eq(meta_source.as<std::string>()));
  // Resources: names first, so that $ref may point forward.
  if (!present(resources) || !resources.IsSequence()) {
    diags.error(path, present(resources) ? resources : root, "missing 'resources' (a list of resources to build)");
  } else {
    int i = 0;
    for (const auto& r : resources) {
      if (r.IsMap() && present(r["name"])) {
        std::string name = r["name"].as<std::string>();
        if (c.resource_index.count(name)) diags.error(path, r["name"], "resource name '" + name + "' is used twice");
        c.resource_index[name] = i;
      }
      ++i;
    }
    m->resources.resize(static_cast<std::size_t>(i));
    i = 0;
    for (const auto& r : resources) {
      ResourceDef& def = m->resources[static_cast<std::size_t>(i++)];
      def.loc = c.loc(file, r);
      if (!r.IsMap()) {
        diags.error(path, r, "a resource is a map (name, type, for, when, id, fields)");
        continue;
      }
      YAML::Node fields;
      for (const auto& kv : r) {
        std::string k = kv.first.as<std::string>();
        const YAML::Node& v = kv.second;
        if (k == "name") def.name = v.as<std::string>();
        else if (k == "type") def.type = v.as<std::string>();
        else if (k == "description") {
        } else if (k == "for") {
          def.for_each = c.path(file, v);
          if (def.for_each) {
            def.for_segment = def.for_each->names_leaf;
            if (!def.for_each->groups.empty()) def.for_group = def.for_each->groups.back();
          }
        }
        else if (k == "when") {
          def.when = c.expr(file, v, Compiler::strip_eq(v.as<std::string>()));
          c.lint_constant(file, v, def.when.get(), "when condition");
        }
        else if (k == "id") {
          if (!v.IsSequence()) {
            diags.error(path, v, "id is a list of key expressions, e.g. [MSH-4.1, OBR-3.1]");
            continue;
          }
          for (const auto& key : v) {
            ExprPtr e = c.expr(file, key, Compiler::strip_eq(key.as<std::string>()));
            if (e) def.id_keys.push_back(std::move(e));
          }
        } else if (k == "on-duplicate-id") {
          std::string p = v.as<std::string>();
          if (p == "merge") def.merge_duplicates = true;
          else if (p != "disambiguate") diags.error(path, v, "on-duplicate-id is merge or disambiguate");
        } else if (k == "fields") fields.reset(v);
        else
          diags.error(path, kv.first,
                      "unknown key '" + k + "' in resource (expected name, type, description, for, when, id, on-duplicate-id, fields)");
      }
      if (def.name.empty()) diags.error(path, r, "resource without 'name'");
      const TypeDef* td = schema.type(def.type);
      if (def.type.empty()) {
        diags.error(path, r, "resource without 'type'");
        continue;
      }
      if (!td || td->kind != TypeDef::Kind::kResource) {
        diags.error(path, r["type"], "unknown FHIR resource type '" + def.type + "'");
        continue;
      }
      if (def.id_keys.empty()) diags.error(path, r, "resource '" + def.name + "' needs 'id' keys (business identifiers)");
      if (!present(fields)) {
        diags.error(path, r, "resource '" + def.name + "' needs 'fields'");
        continue;
      }
      def.body = c.compile(file, fields, def.type);
      // meta.source is added before the template runs: a template `meta` replaces it.
      if (def.body)
        for (auto& mem : def.body->members)
          if (mem.json_name == "meta") mem.may_exist = true;
    }
  }
  // Unused fragments of the mapping's own file are worth a warning.
  for (const auto& [name, f] : c.fragments)
    if (f.file == file && !c.used_fragments.count(name))
      diags.warning(*f.file, f.key, "fragment '" + name + "' is never used");
  // Keep alias-owned nodes alive.
  for (auto& o : c.owned) {
    std::string key = "#owned" + std::to_string(m->fragments.size());
    m->fragments.emplace(key, std::move(o));
  }
  const auto& digest = hash.digest();
  m->content_hash = Poco::DigestEngine::digestToHex(digest).substr(0, 12);
  if (has_new_errors()) return nullptr;
  prepare_constants(*m);
  return m;
}

}  // namespace dxnorm::map
