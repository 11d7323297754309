#include "fhir_schema.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cctype>
#include <stdexcept>

namespace dxnorm::embedded {
extern const std::string_view fhir_r4_definitions_json;
}

namespace dxnorm::fhir {
namespace {

using rapidjson::Value;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("FHIR definitions: " + what);
}

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

std::string get_string(const Value& obj, const char* key, const std::string& where, bool required = true) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) {
    if (required) fail(where + ": missing \"" + key + "\"");
    return {};
  }
  if (!it->value.IsString()) fail(where + ": \"" + key + "\" is not a string");
  return std::string(sv(it->value));
}

std::vector<std::string> get_strings(const Value& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return out;
  if (!it->value.IsArray()) fail(where + ": \"" + key + "\" is not an array");
  for (const auto& s : it->value.GetArray()) {
    if (!s.IsString()) fail(where + ": \"" + key + "\" holds a non-string");
    out.emplace_back(sv(s));
  }
  return out;
}

// Matches `suffix` against a type name with its first letter capitalised:
// ("DateTime", "dateTime") and ("Quantity", "Quantity") match.
bool is_type_suffix(std::string_view suffix, std::string_view type) noexcept {
  if (suffix.size() != type.size() || suffix.empty()) return false;
  if (suffix[0] != static_cast<char>(std::toupper(static_cast<unsigned char>(type[0])))) return false;
  return suffix.substr(1) == type.substr(1);
}

}  // namespace

const ElementDef* TypeDef::resolve(std::string_view json_name, std::size_t* type_index) const noexcept {
  for (const auto& e : elements) {
    if (e.name.size() == json_name.size() && e.name == json_name) {  // also "value[x]" itself, for callers naming the element
      if (type_index) *type_index = 0;
      return &e;
    }
  }
  for (const auto& e : elements) {
    if (!e.is_choice()) continue;
    const std::string_view stem = std::string_view(e.name).substr(0, e.name.size() - 3);
    if (json_name.size() <= stem.size() || !json_name.starts_with(stem)) continue;
    const std::string_view suffix = json_name.substr(stem.size());
    for (std::size_t i = 0; i < e.types.size(); ++i) {
      if (is_type_suffix(suffix, e.types[i])) {
        if (type_index) *type_index = i;
        return &e;
      }
    }
  }
  return nullptr;
}

const ElementDef* TypeDef::find(std::string_view json_name, std::string* choice_type) const {
  std::size_t i = 0;
  const ElementDef* e = resolve(json_name, &i);
  if (e && choice_type) *choice_type = e->is_choice() ? e->types[i] : std::string();
  return e;
}

const FhirSchema& FhirSchema::builtin() {
  static const std::unique_ptr<FhirSchema> schema = from_json(embedded::fhir_r4_definitions_json);
  return *schema;
}

std::unique_ptr<FhirSchema> FhirSchema::from_json(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    fail("JSON error at offset " + std::to_string(doc.GetErrorOffset()) + ": " +
         rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) fail("top level is not an object");

  auto schema = std::make_unique<FhirSchema>();
  schema->source_ = get_string(doc, "source", "top level", false);

  std::unordered_map<std::string, const Value*> value_sets;
  if (auto it = doc.FindMember("valueSets"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) fail("\"valueSets\" is not an object");
    for (const auto& m : it->value.GetObject()) value_sets.emplace(std::string(sv(m.name)), &m.value);
  }

  std::unordered_map<std::string, TypeDef::Json> primitive_json;
  if (auto it = doc.FindMember("primitives"); it != doc.MemberEnd()) {
    if (!it->value.IsObject()) fail("\"primitives\" is not an object");
    for (const auto& m : it->value.GetObject()) {
      const std::string name(sv(m.name));
      if (!m.value.IsObject()) fail("primitive " + name + " is not an object");
      const std::string json_kind = get_string(m.value, "json", "primitive " + name);
      primitive_json[name] = json_kind == "number"    ? TypeDef::Json::kNumber
                             : json_kind == "boolean" ? TypeDef::Json::kBoolean
                                                      : TypeDef::Json::kString;
      std::string regex = get_string(m.value, "regex", "primitive " + name, false);
      if (!regex.empty()) schema->primitive_regex_.emplace(name, std::move(regex));
    }
  }

  // Elements whose target type is known only after every type is loaded.
  struct Pending {
    TypeDef* owner;
    std::size_t element;
    std::string target;
  };
  std::vector<Pending> content_refs;

  FhirSchema& s = *schema;
  auto add_type = [&s](std::string name, TypeDef::Kind kind) -> TypeDef* {
    auto t = std::make_unique<TypeDef>();
    t->name = std::move(name);
    t->kind = kind;
    t->index = static_cast<std::uint32_t>(s.types_.size());
    TypeDef* raw = t.get();
    if (!s.by_name_.emplace(raw->name, raw).second) fail("duplicate type " + raw->name);
    s.types_.push_back(std::move(t));
    return raw;
  };

  // Recursive: inline children become backbone types named "<owner>.<element>".
  auto load_elements = [&](auto& self, TypeDef* owner, const Value& arr) -> void {
    if (!arr.IsArray()) fail(owner->name + ": \"elements\" is not an array");
    owner->elements.reserve(arr.Size());
    for (const auto& ev : arr.GetArray()) {
      if (!ev.IsObject()) fail(owner->name + ": element is not an object");
      ElementDef e;
      e.name = get_string(ev, "name", owner->name);
      const std::string where = owner->name + "." + e.name;
      if (auto it = ev.FindMember("min"); it != ev.MemberEnd()) {
        if (!it->value.IsUint()) fail(where + ": bad min");
        e.min = it->value.GetUint();
      }
      if (auto it = ev.FindMember("max"); it != ev.MemberEnd()) {
        if (it->value.IsString() && sv(it->value) == "*") {
          e.max = ElementDef::kUnbounded;
        } else if (it->value.IsString()) {
          const std::string m(sv(it->value));
          try {
            e.max = static_cast<std::uint32_t>(std::stoul(m));
          } catch (const std::exception&) {
            fail(where + ": bad max");
          }
        } else {
          fail(where + ": bad max");
        }
      }
      e.types = get_strings(ev, "types", where);
      e.target_profiles = get_strings(ev, "targets", where);
      if (std::string vs = get_string(ev, "valueSet", where, false); !vs.empty()) {
        auto v = value_sets.find(vs);
        if (v == value_sets.end()) fail(where + ": value set " + vs + " not in valueSets");
        if (!v->second->IsArray()) fail("value set " + vs + " is not an array");
        for (const auto& c : v->second->GetArray()) {
          if (!c.IsString()) fail("value set " + vs + " holds a non-string");
          e.required_codes.emplace_back(sv(c));
        }
        e.required_value_set = std::move(vs);
      }
      std::string content_ref = get_string(ev, "contentReference", where, false);
      const bool has_children = ev.HasMember("children");
      if (content_ref.empty() && e.types.empty()) fail(where + ": no types");
      owner->elements.push_back(std::move(e));
      const std::size_t index = owner->elements.size() - 1;
      if (!content_ref.empty()) {
        content_refs.push_back({owner, index, std::move(content_ref)});
      } else if (has_children) {
        TypeDef* bb = add_type(where, TypeDef::Kind::kBackbone);
        self(self, bb, ev["children"]);
        owner->elements[index].backbone = bb;
      }
    }
  };

  auto types_it = doc.FindMember("types");
  if (types_it == doc.MemberEnd() || !types_it->value.IsArray()) fail("\"types\" missing or not an array");
  for (const auto& tv : types_it->value.GetArray()) {
    if (!tv.IsObject()) fail("type entry is not an object");
    std::string name = get_string(tv, "name", "type");
    const std::string kind = get_string(tv, "kind", name);
    TypeDef::Kind k;
    if (kind == "primitive") k = TypeDef::Kind::kPrimitive;
    else if (kind == "complex") k = TypeDef::Kind::kComplex;
    else if (kind == "resource") k = TypeDef::Kind::kResource;
    else fail(name + ": unknown kind " + kind);
    TypeDef* t = add_type(name, k);
    if (k == TypeDef::Kind::kPrimitive) {
      auto pj = primitive_json.find(name);
      if (pj == primitive_json.end()) fail("primitive " + name + " missing from \"primitives\"");
      t->json = pj->second;
    }
    auto els = tv.FindMember("elements");
    if (els == tv.MemberEnd()) fail(name + ": missing \"elements\"");
    load_elements(load_elements, t, els->value);
  }

  for (auto& p : content_refs) {
    const TypeDef* target = s.type(p.target);
    if (!target || target->kind != TypeDef::Kind::kBackbone) {
      fail(p.owner->name + ": contentReference " + p.target + " is not a backbone element");
    }
    ElementDef& e = p.owner->elements[p.element];
    e.backbone = target;
    // The referenced element's own types (BackboneElement or Element).
    const auto dot = p.target.rfind('.');
    const TypeDef* parent = s.type(std::string_view(p.target).substr(0, dot));
    const ElementDef* origin = parent ? parent->find(std::string_view(p.target).substr(dot + 1)) : nullptr;
    e.types = origin ? origin->types : std::vector<std::string>{"BackboneElement"};
  }

  for (auto& t : s.types_) {
    for (auto& e : t->elements) {
      e.type_defs.reserve(e.types.size());
      for (const auto& tn : e.types) e.type_defs.push_back(s.type(tn));
    }
  }
  return schema;
}

const TypeDef* FhirSchema::type(std::string_view name) const {
  // Heterogeneous lookup is C++20 but needs a transparent hash; types are
  // looked up at load time and by tests, so a temporary string is fine.
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

bool FhirSchema::is_resource(std::string_view name) const {
  const TypeDef* t = type(name);
  return t && t->kind == TypeDef::Kind::kResource;
}

bool FhirSchema::is_primitive(std::string_view name) const {
  const TypeDef* t = type(name);
  return t && t->kind == TypeDef::Kind::kPrimitive;
}

std::string_view FhirSchema::primitive_regex(std::string_view name) const {
  auto it = primitive_regex_.find(std::string(name));
  return it == primitive_regex_.end() ? std::string_view() : std::string_view(it->second);
}

}  // namespace dxnorm::fhir
