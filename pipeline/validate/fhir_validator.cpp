#include "fhir_validator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "primitive_format.h"
#include "pipeline/core/fhir_json.h"

namespace dxnorm::validate {
namespace {

// 8-4-4-4-12 hex digits, lower case (how resource_id() writes them).
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

using fhir::ElementDef;
using fhir::TypeDef;
using rapidjson::Value;

// How a primitive's lexical form is checked. Everything R4 defines has a
// hand-written checker except oid (rare), which falls back to std::regex.
enum class Lex : std::uint8_t {
  kNone, kBoolean, kDecimal, kInteger, kPositiveInt, kUnsignedInt,
  kString, kCode, kId, kUri, kDate, kDateTime, kInstant, kTime,
  kBase64, kUuid, kXhtml, kRegex,
};

Lex lex_for(std::string_view primitive) {
  static constexpr std::pair<std::string_view, Lex> kTable[] = {
      {"boolean", Lex::kBoolean},   {"decimal", Lex::kDecimal},       {"integer", Lex::kInteger},
      {"positiveInt", Lex::kPositiveInt}, {"unsignedInt", Lex::kUnsignedInt},
      {"string", Lex::kString},     {"markdown", Lex::kString},       {"code", Lex::kCode},
      {"id", Lex::kId},             {"uri", Lex::kUri},               {"url", Lex::kUri},
      {"canonical", Lex::kUri},     {"date", Lex::kDate},             {"dateTime", Lex::kDateTime},
      {"instant", Lex::kInstant},   {"time", Lex::kTime},             {"base64Binary", Lex::kBase64},
      {"uuid", Lex::kUuid},         {"xhtml", Lex::kXhtml},
  };
  for (const auto& [name, lex] : kTable) {
    if (name == primitive) return lex;
  }
  return Lex::kNone;
}

std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Equality for short names: length and first byte settle most mismatches
// without a call to memcmp.
inline bool same(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}

const Value* member(const Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  for (const auto& m : obj.GetObject()) {
    if (same(sv(m.name), name)) return &m.value;
  }
  return nullptr;
}

std::string_view string_member(const Value& obj, std::string_view name) {
  const Value* v = member(obj, name);
  return v && v->IsString() ? sv(*v) : std::string_view();
}

// [A-Z][A-Za-z]+ : the shape of a resource type name.
bool resource_name(std::string_view s) {
  if (s.size() < 2 || s[0] < 'A' || s[0] > 'Z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); });
}

// ^[a-z][a-z0-9+.-]*:\S+$ (case-insensitive), the shape of an absolute URI.
bool absolute_uri(std::string_view s) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  for (std::size_t i = 1; i < colon; ++i) {
    const char c = s[i];
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '.' && c != '-') return false;
  }
  return format::is_uri(s.substr(colon + 1));
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '|';
    out += s;
  }
  return out;
}

std::string bound(std::uint32_t max) {
  return max == ElementDef::kUnbounded ? "*" : std::to_string(max);
}

// A fast non-cryptographic hash: eight bytes per step (element names and
// urn:uuid fullUrls are 4-60 bytes).
std::uint64_t name_hash(std::string_view s) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = s.size() * kMul;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (i < s.size()) {
    // The last 1-7 bytes, without a variable-length memcpy call.
    std::uint64_t w = 0;
    for (unsigned k = 0; i + k < s.size(); ++k)
      w |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[i + k])) << (8 * k);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

// Every JSON property name a type accepts ("status", "valueQuantity",
// "effectiveDateTime"...) in an open-addressing table: one hash and one
// compare per property instead of a scan over the type's elements.
class NameIndex {
 public:
  struct Hit {
    const ElementDef* element = nullptr;
    std::size_t type_index = 0;
  };

  explicit NameIndex(const TypeDef& t) {
    std::vector<std::pair<std::string, Hit>> names;
    for (const auto& e : t.elements) {
      if (!e.is_choice()) {
        names.push_back({e.name, {&e, 0}});
        continue;
      }
      const std::string stem = e.name.substr(0, e.name.size() - 3);
      for (std::size_t i = 0; i < e.types.size(); ++i) {
        std::string n = stem + e.types[i];
        n[stem.size()] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[stem.size()])));
        names.push_back({std::move(n), {&e, i}});
      }
    }
    std::size_t size = 8;
    while (size < names.size() * 2) size *= 2;
    mask_ = size - 1;
    slots_.resize(size);
    for (auto& [n, hit] : names) {
      std::size_t i = name_hash(n) & mask_;
      while (slots_[i].hit.element) i = (i + 1) & mask_;
      slots_[i] = {std::move(n), hit};
    }
  }

  Hit find(std::string_view name) const noexcept {
    for (std::size_t i = name_hash(name) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.hit.element) return {};
      if (same(s.name, name)) return s.hit;
    }
  }

 private:
  struct Slot {
    std::string name;
    Hit hit;
  };
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

std::string_view element_label(const ElementDef& e) {
  return e.is_choice() ? std::string_view(e.name).substr(0, e.name.size() - 3) : std::string_view(e.name);
}

}  // namespace

// ---------------------------------------------------------------------------
// Rules: everything derived from the schema once, so that the walk does no
// name lookups and compiles nothing.
struct FhirValidator::Rules {
  struct Primitive {
    Lex lex = Lex::kNone;
    int regex = -1;  // index into regexes for Lex::kRegex
  };
  // Two elements of one type that must not both be present (obs-6, ext-1).
  struct Exclusive {
    const TypeDef* type;
    std::uint64_t a, b;
    std::string rule;  // "obs-6: ..."
    std::string at;    // element name the issue is reported on
  };
  // At least one of some elements must be present (obs-3).
  struct AnyOf {
    const TypeDef* type;
    std::uint64_t mask;
    std::string rule;
  };

  struct Type {
    NameIndex names;
    std::uint64_t required = 0;  // bit i: elements[i].min > 0
  };

  Options options;
  std::vector<Primitive> primitives;  // by TypeDef::index
  std::vector<Type> types;            // by TypeDef::index
  std::vector<std::regex> regexes;
  std::vector<std::pair<std::string_view, const TypeDef*>> resources;  // sorted by name
  std::vector<Exclusive> exclusives;
  std::vector<AnyOf> any_ofs;
  const TypeDef* element = nullptr;    // Element: id + extension, the shape of "_field"
  const TypeDef* reference = nullptr;

  const TypeDef* resource_type(std::string_view name) const {
    auto it = std::lower_bound(resources.begin(), resources.end(), name,
                               [](const auto& p, std::string_view n) { return p.first < n; });
    return it != resources.end() && it->first == name ? it->second : nullptr;
  }

  static std::uint64_t bit_of(const TypeDef& t, std::string_view name) {
    const ElementDef* e = t.find(name);
    if (!e) throw std::runtime_error("FhirValidator: schema lacks " + t.name + "." + std::string(name));
    return std::uint64_t{1} << (e - t.elements.data());
  }

  Rules(const fhir::FhirSchema& schema, Options opts) : options(opts) {
    primitives.resize(schema.type_count());
    types.reserve(schema.type_count());
    for (std::size_t i = 0; i < schema.type_count(); ++i) {
      const TypeDef& t = schema.type_at(i);
      if (t.elements.size() > 64) {
        throw std::runtime_error("FhirValidator: " + t.name + " has more than 64 elements");
      }
      Type& tr = types.emplace_back(Type{NameIndex(t), 0});
      for (std::size_t k = 0; k < t.elements.size(); ++k) {
        if (t.elements[k].min > 0) tr.required |= std::uint64_t{1} << k;
      }
      if (t.kind == TypeDef::Kind::kResource) resources.emplace_back(t.name, &t);
      if (t.kind != TypeDef::Kind::kPrimitive) continue;
      Primitive& p = primitives[t.index];
      p.lex = lex_for(t.name);
      if (p.lex == Lex::kNone) {
        const std::string_view re = schema.primitive_regex(t.name);
        if (re.empty()) {
          p.lex = t.json == TypeDef::Json::kString ? Lex::kString : Lex::kNone;
        } else {
          regexes.emplace_back(std::string(re), std::regex::ECMAScript | std::regex::optimize);
          p.lex = Lex::kRegex;
          p.regex = static_cast<int>(regexes.size() - 1);
        }
      }
    }
    std::sort(resources.begin(), resources.end());
    element = schema.type("Element");
    reference = schema.type("Reference");
    const TypeDef* extension = schema.type("Extension");
    const TypeDef* observation = schema.type("Observation");
    const TypeDef* range = schema.type("Observation.referenceRange");
    if (!element || !reference || !extension || !observation || !range || !schema.is_resource("Bundle")) {
      throw std::runtime_error("FhirValidator: schema lacks Element, Reference, Extension, Observation or Bundle");
    }
    // R4 defines obs-6 on Observation only (not on Observation.component).
    exclusives.push_back({observation, bit_of(*observation, "value[x]"), bit_of(*observation, "dataAbsentReason"),
                          "obs-6: dataAbsentReason SHALL only be present if value[x] is not present",
                          "dataAbsentReason"});
    any_ofs.push_back({range, bit_of(*range, "low") | bit_of(*range, "high") | bit_of(*range, "text"),
                       "obs-3: a referenceRange must have at least a low or a high or text"});
    exclusives.push_back({extension, bit_of(*extension, "value[x]"), bit_of(*extension, "extension"),
                          "ext-1: an extension must have either extensions or value[x], not both", "extension"});
  }
};

// ---------------------------------------------------------------------------
// Walk: one validation call. Keeps the current FHIR path in one string that
// grows and shrinks as the walk descends (no allocation per element), and
// the Bundle's entries sorted for reference lookups.
class FhirValidator::Walk {
 public:
  Walk(const Rules& rules, Issues& issues, std::string_view root) : rules_(rules), issues_(issues) {
    path_.root = root;
  }

  void index_bundle(const Value& bundle) {
    in_bundle_ = true;
    entries_value_ = member(bundle, "entry");
    transaction_ = string_member(bundle, "type") == "transaction";
    if (!entries_value_ || !entries_value_->IsArray()) return;
    by_url_.reserve(entries_value_->Size());
    for (rapidjson::SizeType i = 0; i < entries_value_->Size(); ++i) {
      const Value& e = (*entries_value_)[i];
      const Value* res = member(e, "resource");
      if (!res || !res->IsObject()) continue;
      const std::string_view url = string_member(e, "fullUrl");
      by_url_.push_back({name_hash(url), url, string_member(*res, "resourceType"), string_member(*res, "id"), i});
    }
    std::sort(by_url_.begin(), by_url_.end(),
              [](const Entry& a, const Entry& b) { return std::tie(a.hash, a.position) < std::tie(b.hash, b.position); });
  }

  void resource(const Value& v, bool contained);
  void bundle_rules(const Value& bundle);

  Status finish() {
    if (errors_ == 0) return ok_status();
    std::string msg = std::move(first_message_);
    if (errors_ > 1) msg += " (and " + std::to_string(errors_ - 1) + " more)";
    return make_error(StatusCode::kInvalidInput, Stage::kValidate, "FHIR_INVALID", std::move(first_location_),
                      std::move(msg));
  }

 private:
  struct Entry {
    std::uint64_t hash;  // of full_url
    std::string_view full_url, type, id;
    rapidjson::SizeType position;  // in Bundle.entry
  };
  struct Frame {
    const Value* contained = nullptr;  // the resource's contained array
    std::uint64_t referenced = 0;      // contained[i] referenced as "#id"
  };
  // The FHIR path of the node being checked, as segments pointing into the
  // document and the schema; rendered to text only when an issue is raised.
  struct Path {
    struct Segment {
      std::string_view field;  // empty for an array index
      std::size_t index;
    };
    static constexpr std::size_t kMaxDepth = 96;  // deeper documents are rejected, not walked
    std::string_view root;
    std::array<Segment, kMaxDepth + 8> segments;
    std::size_t depth = 0;

    std::string str() const {
      std::string out(root);
      for (std::size_t i = 0; i < depth; ++i) {
        const Segment& s = segments[i];
        if (!s.field.empty()) {
          out += '.';
          out += s.field;
        } else {
          char buf[24];
          buf[0] = '[';
          auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 1, s.index);
          *end++ = ']';
          out.append(buf, end);
        }
      }
      return out;
    }
  };
  // Extends the path for the lifetime of the guard. Callers check too_deep()
  // before descending, so depth stays within the array.
  class Push {
   public:
    Push(Path& p, std::string_view field) : p_(p) { p_.segments[p_.depth++] = {field, 0}; }
    Push(Path& p, std::size_t index) : p_(p) { p_.segments[p_.depth++] = {{}, index}; }
    ~Push() { --p_.depth; }
    Push(const Push&) = delete;
    Push& operator=(const Push&) = delete;

   private:
    Path& p_;
  };

  bool too_deep() {
    if (path_.depth < Path::kMaxDepth) return false;
    error("FHIR_STRUCTURE", "nesting deeper than " + std::to_string(Path::kMaxDepth) + " levels; not checked further");
    return true;
  }

  void error(std::string_view code, std::string message) {
    std::string location = path_.str();
    if (errors_++ == 0) {
      first_location_ = location;
      first_message_ = message;
    }
    issues_.push_back(Issue{Severity::kError, std::string(code), std::move(location), std::move(message)});
  }

  void object(const Value& v, const TypeDef& td, bool is_resource);
  void primitive_extension(const Value& v, const ElementDef& e);
  void element(const Value& v, const ElementDef& e, std::size_t ti, const Value& parent, std::string_view name);
  void item(const Value& v, const ElementDef& e, std::size_t ti);
  void primitive(const Value& v, const TypeDef& t, const ElementDef& e);
  bool lexical(const Rules::Primitive& p, std::string_view s) const;
  void reference(const Value& v, const ElementDef& e);
  const Entry* by_url(std::string_view url) const;
  const Entry* by_type_id(std::string_view type, std::string_view id);

  const Rules& rules_;
  Issues& issues_;
  Path path_;
  std::size_t errors_ = 0;
  std::string first_location_;
  std::string first_message_;
  bool in_bundle_ = false;
  bool transaction_ = false;
  const Value* entries_value_ = nullptr;
  std::vector<Entry> by_url_;      // sorted by hash
  std::vector<Entry> by_type_id_;  // sorted by (type, id); built on first use
  std::vector<Frame> frames_;
};

void FhirValidator::Walk::resource(const Value& v, bool contained) {
  if (!v.IsObject()) {
    error("FHIR_TYPE", "expected a resource (JSON object)");
    return;
  }
  const std::string_view type = string_member(v, "resourceType");
  if (type.empty()) {
    error("FHIR_RESOURCE_TYPE", "resourceType missing");
    return;
  }
  const TypeDef* td = rules_.resource_type(type);
  if (!td) {
    error("FHIR_RESOURCE_TYPE", resource_name(type) && type.size() <= 64
                                    ? "resourceType " + std::string(type) + " is not one dxnorm validates"
                                    : std::string("resourceType is not a resource type name"));
    return;
  }
  if (contained) {
    if (member(v, "contained")) {
      Push p(path_, "contained");
      error("FHIR_INVARIANT", "dom-2: a contained resource SHALL NOT contain nested resources");
    }
    if (const Value* meta = member(v, "meta")) {
      Push p(path_, "meta");
      if (member(*meta, "versionId") || member(*meta, "lastUpdated")) {
        error("FHIR_INVARIANT", "dom-4: a contained resource SHALL NOT have meta.versionId or meta.lastUpdated");
      }
      if (member(*meta, "security")) {
        error("FHIR_INVARIANT", "dom-5: a contained resource SHALL NOT have a security label");
      }
    }
    object(v, *td, true);
    return;
  }
  const Value* c = member(v, "contained");
  if (frames_.capacity() == 0) frames_.reserve(4);
  frames_.push_back({c && c->IsArray() ? c : nullptr, 0});
  object(v, *td, true);
  const Frame f = frames_.back();
  frames_.pop_back();
  if (f.contained) {
    for (rapidjson::SizeType i = 0; i < f.contained->Size() && i < 64; ++i) {
      if (f.referenced & (std::uint64_t{1} << i)) continue;
      Push p(path_, "contained");
      Push q(path_, i);
      error("FHIR_INVARIANT", "dom-3: contained resource is not referenced from elsewhere in the resource");
    }
  }
}

void FhirValidator::Walk::object(const Value& v, const TypeDef& td, bool is_resource) {
  if (too_deep()) return;
  if (v.ObjectEmpty()) {
    error("FHIR_EMPTY", "empty object");
    return;
  }
  const Rules::Type& type_rules = rules_.types[td.index];
  std::uint64_t seen = 0;      // elements given as "name"
  std::uint64_t seen_ext = 0;  // primitive elements given only as "_name"
  bool only_id = true;
  for (const auto& m : v.GetObject()) {
    const std::string_view name = sv(m.name);
    if (is_resource && name == "resourceType") continue;
    if (name != "id") only_id = false;
    Push p(path_, name);
    std::size_t ti = 0;
    if (name.size() > 1 && name[0] == '_') {
      const auto [e, t] = type_rules.names.find(name.substr(1));
      ti = t;
      if (!e || !e->type_defs[ti] || e->type_defs[ti]->kind != TypeDef::Kind::kPrimitive) {
        error("FHIR_UNKNOWN_ELEMENT", "unknown element " + std::string(name) + " in " + td.name);
        continue;
      }
      seen_ext |= std::uint64_t{1} << (e - td.elements.data());
      primitive_extension(m.value, *e);
      continue;
    }
    const auto [e, t] = type_rules.names.find(name);
    ti = t;
    if (!e) {
      error("FHIR_UNKNOWN_ELEMENT", "unknown element " + std::string(name) + " in " + td.name);
      continue;
    }
    const std::uint64_t bit = std::uint64_t{1} << (e - td.elements.data());
    if (seen & bit) {
      error("FHIR_CARDINALITY", e->is_choice() ? "more than one type given for " + e->name
                                               : std::string("element given more than once"));
      continue;
    }
    seen |= bit;
    element(m.value, *e, ti, v, name);
  }
  if (!is_resource && only_id) error("FHIR_INVARIANT", "ele-1: element has neither a value nor children");

  const std::uint64_t present = seen | seen_ext;
  for (std::size_t i = 0; (type_rules.required & ~present) && i < td.elements.size(); ++i) {
    const ElementDef& e = td.elements[i];
    if (e.min == 0 || (present & (std::uint64_t{1} << i))) continue;
    Push p(path_, element_label(e));
    error("FHIR_CARDINALITY", "required element missing (min " + std::to_string(e.min) + ")");
  }
  for (const auto& x : rules_.exclusives) {
    if (x.type == &td && (seen & x.a) && (seen & x.b)) {
      Push p(path_, x.at);
      error("FHIR_INVARIANT", x.rule);
    }
  }
  for (const auto& x : rules_.any_ofs) {
    if (x.type == &td && !(present & x.mask)) error("FHIR_INVARIANT", x.rule);
  }
}

void FhirValidator::Walk::primitive_extension(const Value& v, const ElementDef& e) {
  // "_birthDate": {id, extension}; for repeating primitives an array whose
  // nulls stand for items without an id/extension.
  if (e.max > 1) {
    if (!v.IsArray()) {
      error("FHIR_CARDINALITY", "element repeats (max " + bound(e.max) + "): expected a JSON array");
      return;
    }
    if (v.Empty()) {
      error("FHIR_EMPTY", "empty array");
      return;
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (v[i].IsNull()) continue;
      Push p(path_, i);
      if (!v[i].IsObject()) {
        error("FHIR_TYPE", "expected a JSON object (Element)");
        continue;
      }
      object(v[i], *rules_.element, false);
    }
    return;
  }
  if (!v.IsObject()) {
    error(v.IsNull() ? "FHIR_EMPTY" : "FHIR_TYPE", v.IsNull() ? "null value" : "expected a JSON object (Element)");
    return;
  }
  object(v, *rules_.element, false);
}

void FhirValidator::Walk::element(const Value& v, const ElementDef& e, std::size_t ti, const Value& parent,
                                  std::string_view name) {
  if (v.IsNull()) {
    error("FHIR_EMPTY", "null value");
    return;
  }
  if (e.max <= 1) {
    if (v.IsArray()) {
      error("FHIR_CARDINALITY", "element does not repeat (max 1): expected a single value, not an array");
      return;
    }
    item(v, e, ti);
    return;
  }
  if (!v.IsArray()) {
    error("FHIR_CARDINALITY", "element repeats (max " + bound(e.max) + "): expected a JSON array");
    return;
  }
  if (v.Empty()) {
    error("FHIR_EMPTY", "empty array");
    return;
  }
  if (v.Size() > e.max) error("FHIR_CARDINALITY", "too many items (max " + bound(e.max) + ")");
  const Value* twin = nullptr;
  bool twin_looked = false;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    Push p(path_, i);
    if (v[i].IsNull()) {
      // A null item is allowed where "_name" carries that item's extension.
      if (!twin_looked) {
        twin_looked = true;
        for (const auto& m : parent.GetObject()) {
          const std::string_view n = sv(m.name);
          if (n.size() == name.size() + 1 && n[0] == '_' && n.substr(1) == name) twin = &m.value;
        }
      }
      if (!(twin && twin->IsArray() && i < twin->Size() && (*twin)[i].IsObject())) error("FHIR_EMPTY", "null value");
      continue;
    }
    item(v[i], e, ti);
  }
}

void FhirValidator::Walk::item(const Value& v, const ElementDef& e, std::size_t ti) {
  if (e.backbone) {
    if (!v.IsObject()) {
      error("FHIR_TYPE", "expected a JSON object (" + e.backbone->name + ")");
      return;
    }
    object(v, *e.backbone, false);
    return;
  }
  const TypeDef* t = ti < e.type_defs.size() ? e.type_defs[ti] : nullptr;
  if (!t) {  // the abstract Resource: contained[] and Bundle.entry.resource
    resource(v, e.name == "contained");
    return;
  }
  if (t->kind == TypeDef::Kind::kPrimitive) {
    primitive(v, *t, e);
    return;
  }
  if (!v.IsObject()) {
    error("FHIR_TYPE", "expected a JSON object (" + t->name + ")");
    return;
  }
  object(v, *t, false);
  if (t == rules_.reference) reference(v, e);
}

bool FhirValidator::Walk::lexical(const Rules::Primitive& p, std::string_view s) const {
  switch (p.lex) {
    case Lex::kDecimal: return format::is_decimal(s);
    case Lex::kString: return format::is_string(s);
    case Lex::kCode: return format::is_code(s);
    case Lex::kId: return format::is_id(s);
    case Lex::kUri: return format::is_uri(s);
    case Lex::kDate: return format::is_date(s);
    case Lex::kDateTime: return format::is_date_time(s);
    case Lex::kInstant: return format::is_instant(s);
    case Lex::kTime: return format::is_time(s);
    case Lex::kBase64: return format::is_base64(s);
    case Lex::kUuid: return format::is_uuid(s);
    case Lex::kXhtml: return format::is_xhtml(s);
    case Lex::kRegex:
      try {  // std::regex may throw on pathological input; the contract is no throw per message
        return std::regex_match(s.begin(), s.end(), rules_.regexes[p.regex]);
      } catch (const std::regex_error&) {
        return false;
      }
    default: return true;
  }
}

void FhirValidator::Walk::primitive(const Value& v, const TypeDef& t, const ElementDef& e) {
  const Rules::Primitive& p = rules_.primitives[t.index];
  switch (t.json) {
    case TypeDef::Json::kBoolean:
      if (!v.IsBool()) error("FHIR_TYPE", "expected a JSON boolean (boolean)");
      return;
    case TypeDef::Json::kNumber: {
      if (fhir::is_raw_number(v)) {
        // A decimal kept as written by the map stage (see fhir_json.h).
        if (p.lex == Lex::kDecimal && !lexical(p, fhir::raw_number_text(v)))
          error("FHIR_FORMAT", "not a valid " + t.name);
        else if (p.lex != Lex::kDecimal)
          error("FHIR_TYPE", "expected a JSON integer (" + t.name + ")");
        return;
      }
      if (!v.IsNumber()) {
        error("FHIR_TYPE", "expected a JSON number (" + t.name + ")");
        return;
      }
      if (p.lex == Lex::kDecimal) return;
      // JSON has one number type: 5.0 is the integer 5.
      double d = v.GetDouble();
      bool ok = std::isfinite(d) && d == std::floor(d) && d >= -2147483648.0 && d <= 2147483647.0;
      if (p.lex == Lex::kPositiveInt) ok = ok && d >= 1;
      if (p.lex == Lex::kUnsignedInt) ok = ok && d >= 0;
      if (!ok) error("FHIR_FORMAT", "not a valid " + t.name);
      return;
    }
    case TypeDef::Json::kString:
    case TypeDef::Json::kObject:
      break;
  }
  if (!v.IsString()) {
    error("FHIR_TYPE", "expected a JSON string (" + t.name + ")");
    return;
  }
  const std::string_view s = sv(v);
  if (s.empty()) {
    error("FHIR_EMPTY", "empty string");
    return;
  }
  if (!lexical(p, s)) {
    error("FHIR_FORMAT", "not a valid " + t.name);
    return;
  }
  if (!e.required_codes.empty() &&
      std::none_of(e.required_codes.begin(), e.required_codes.end(),
                   [s](const std::string& c) { return c.size() == s.size() && c == s; })) {
    // The offending value is input data, so it is not repeated; the allowed
    // codes are FHIR's and say what would have been right.
    std::string msg = "code not in required value set " + e.required_value_set;
    if (e.required_codes.size() <= 12) msg += " (" + join(e.required_codes) + ")";
    error("FHIR_CODE", std::move(msg));
  }
}

const FhirValidator::Walk::Entry* FhirValidator::Walk::by_url(std::string_view url) const {
  const std::uint64_t h = name_hash(url);
  auto it = std::lower_bound(by_url_.begin(), by_url_.end(), h, [](const Entry& e, std::uint64_t k) { return e.hash < k; });
  for (; it != by_url_.end() && it->hash == h; ++it) {
    if (it->full_url == url) return &*it;
  }
  return nullptr;
}

const FhirValidator::Walk::Entry* FhirValidator::Walk::by_type_id(std::string_view type, std::string_view id) {
  if (by_type_id_.empty() && !by_url_.empty()) {
    by_type_id_ = by_url_;
    std::sort(by_type_id_.begin(), by_type_id_.end(), [](const Entry& a, const Entry& b) {
      return std::tie(a.type, a.id) < std::tie(b.type, b.id);
    });
  }
  const auto key = std::tie(type, id);
  auto it = std::lower_bound(by_type_id_.begin(), by_type_id_.end(), key,
                             [](const Entry& e, const auto& k) { return std::tie(e.type, e.id) < k; });
  return it != by_type_id_.end() && it->type == type && it->id == id ? &*it : nullptr;
}

void FhirValidator::Walk::reference(const Value& v, const ElementDef& e) {
  const std::string_view ref = string_member(v, "reference");
  if (ref.empty()) return;  // absent, or already reported as a bad string
  Push p(path_, "reference");
  std::string_view target;  // resource type the reference points at, when known
  auto malformed = [this] { error("FHIR_REFERENCE", "malformed reference"); };

  if (ref[0] == '#') {
    const std::string_view id = ref.substr(1);
    if (id.empty()) return;  // the containing resource itself
    if (!format::is_id(id)) return malformed();
    Frame* f = frames_.empty() ? nullptr : &frames_.back();
    bool found = false;
    if (f && f->contained) {
      for (rapidjson::SizeType i = 0; i < f->contained->Size(); ++i) {
        const Value& c = (*f->contained)[i];
        if (string_member(c, "id") != id) continue;
        if (i < 64) f->referenced |= std::uint64_t{1} << i;
        target = string_member(c, "resourceType");
        found = true;
        break;
      }
    }
    if (!found) {
      error("FHIR_REFERENCE_UNRESOLVED", "contained reference matches no contained resource");
      return;
    }
  } else if (ref.starts_with("urn:uuid:")) {
    const Entry* en = in_bundle_ ? by_url(ref) : nullptr;
    if (!en) {
      error("FHIR_REFERENCE_UNRESOLVED", "urn:uuid reference matches no entry fullUrl in the Bundle");
      return;
    }
    target = en->type;
  } else if (ref.starts_with("urn:oid:")) {
    return;
  } else if (const auto q = ref.find('?'); q != std::string_view::npos) {
    target = ref.substr(0, q);
    if (!resource_name(target) || q + 1 == ref.size()) return malformed();
    if (!transaction_) {
      error("FHIR_REFERENCE", "conditional reference outside a transaction Bundle");
      return;
    }
  } else {
    // [http(s)://base/]Type/id[/_history/vid]
    std::string_view rest = ref;
    if (const auto h = rest.find("/_history/"); h != std::string_view::npos) {
      if (!format::is_id(rest.substr(h + 10))) return malformed();
      rest = rest.substr(0, h);
    }
    const auto slash = rest.rfind('/');
    if (slash == std::string_view::npos) return malformed();
    const std::string_view id = rest.substr(slash + 1);
    const std::string_view before = rest.substr(0, slash);
    const auto slash2 = before.rfind('/');
    target = slash2 == std::string_view::npos ? before : before.substr(slash2 + 1);
    const std::string_view base = slash2 == std::string_view::npos ? std::string_view() : before.substr(0, slash2);
    if (!resource_name(target) || !format::is_id(id)) return malformed();
    if (!base.empty() && !((base.starts_with("http://") || base.starts_with("https://")) && format::is_uri(base))) {
      return malformed();
    }
    if (in_bundle_) {
      const Entry* en = base.empty() ? by_type_id(target, id) : by_url(ref);
      if (en) {
        target = en->type;
      } else if (base.empty() && rules_.options.require_local_references &&
                 !(rules_.options.allow_external_uuid_references && is_uuid(id))) {
        error("FHIR_REFERENCE_UNRESOLVED", "relative reference matches no entry of the Bundle");
        return;
      }
    }
  }
  if (target.empty() || e.target_profiles.empty()) return;
  if (std::find(e.target_profiles.begin(), e.target_profiles.end(), target) == e.target_profiles.end()) {
    error("FHIR_REFERENCE_TARGET", "reference to " + (resource_name(target) ? std::string(target) : "this type") +
                                       " not allowed here (allowed: " + join(e.target_profiles) + ")");
  }
}

void FhirValidator::Walk::bundle_rules(const Value& bundle) {
  const std::string_view type = string_member(bundle, "type");
  const bool needs_request = type == "transaction" || type == "batch" || type == "history";
  const bool needs_response = type == "transaction-response" || type == "batch-response" || type == "history";
  if (member(bundle, "total") && type != "searchset" && type != "history") {
    Push p(path_, "total");
    error("FHIR_INVARIANT", "bdl-1: total only when a search or history");
  }
  const Value* entries = member(bundle, "entry");
  if (type == "message") {
    const Value* first = entries && entries->IsArray() && !entries->Empty() ? member((*entries)[0], "resource") : nullptr;
    if (!first || string_member(*first, "resourceType") != "MessageHeader") {
      error("FHIR_INVARIANT", "bdl-12: a message Bundle must start with a MessageHeader");
    }
  }
  if (!entries || !entries->IsArray()) return;
  Push pe(path_, "entry");
  for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
    const Value& en = (*entries)[i];
    if (!en.IsObject()) continue;  // reported by the structural walk
    Push pi(path_, i);
    const Value* res = member(en, "resource");
    const Value* request = member(en, "request");
    const bool has_response = member(en, "response") != nullptr;
    const std::string_view full_url = string_member(en, "fullUrl");
    const std::string_view rtype = res ? string_member(*res, "resourceType") : std::string_view();
    const std::string_view rid = res ? string_member(*res, "id") : std::string_view();

    if (!res && !request && !has_response) error("FHIR_INVARIANT", "bdl-5: entry must have a resource, request or response");
    if (member(en, "search") && type != "searchset") {
      Push p(path_, "search");
      error("FHIR_INVARIANT", "bdl-2: entry.search only when a search");
    }
    if (needs_request != (request != nullptr)) {
      error("FHIR_INVARIANT", needs_request ? "bdl-3: entry.request is required in a " + std::string(type) + " Bundle"
                                            : std::string("bdl-3: entry.request only in batch, transaction or history Bundles"));
    }
    if (needs_response != has_response) {
      error("FHIR_INVARIANT", needs_response ? "bdl-4: entry.response is required in a " + std::string(type) + " Bundle"
                                             : std::string("bdl-4: entry.response only in batch-response, transaction-response or history Bundles"));
    }
    if (res && full_url.empty() && !member(en, "fullUrl")) {
      error("FHIR_BUNDLE_ENTRY", "entry has a resource but no fullUrl");
    } else if (!full_url.empty()) {
      Push p(path_, "fullUrl");
      if (full_url.starts_with("urn:uuid:") ? !format::is_uuid(full_url) : !absolute_uri(full_url)) {
        error("FHIR_BUNDLE_ENTRY", "fullUrl is not an absolute URI or a valid urn:uuid");
      } else if ((full_url.starts_with("http://") || full_url.starts_with("https://")) && !rid.empty() &&
                 !full_url.ends_with("/" + std::string(rtype) + "/" + std::string(rid))) {
        error("FHIR_BUNDLE_ENTRY", "fullUrl does not agree with the resource's type and id");
      } else if (full_url.find("/_history/") != std::string_view::npos) {
        error("FHIR_INVARIANT", "bdl-8: fullUrl cannot be a version specific reference");
      }
    }
    if (request && request->IsObject() && res && res->IsObject() && (type == "transaction" || type == "batch")) {
      const std::string_view method = string_member(*request, "method");
      const std::string_view url = string_member(*request, "url");
      if ((method == "PUT" || method == "POST") && !url.empty()) {
        const auto cut = url.find_first_of("/?");
        const std::string_view url_type = url.substr(0, cut);
        bool agrees = url_type == rtype;
        if (agrees && method == "PUT" && cut != std::string_view::npos && url[cut] == '/') {
          agrees = url.substr(cut + 1) == rid;  // also catches a PUT of a resource without id
        }
        if (agrees && method == "POST" && cut != std::string_view::npos && url[cut] == '/') agrees = false;
        if (!agrees) {
          Push p(path_, "request");
          Push q(path_, "url");
          error("FHIR_BUNDLE_ENTRY", "request.url does not agree with the resource's type and id");
        }
      }
    }
  }
  // bdl-7: fullUrl unique (versioned duplicates aside, which dxnorm never
  // emits). by_url_ is sorted by hash, so equal URLs are neighbours.
  for (std::size_t k = 1; k < by_url_.size(); ++k) {
    const Entry& a = by_url_[k - 1];
    const Entry& b = by_url_[k];
    if (b.full_url.empty() || a.hash != b.hash || a.full_url != b.full_url) continue;
    Push pi(path_, static_cast<std::size_t>(b.position));
    Push pf(path_, "fullUrl");
    error("FHIR_INVARIANT", "bdl-7: fullUrl must be unique in a Bundle");
  }
}

// ---------------------------------------------------------------------------

FhirValidator::FhirValidator(const fhir::FhirSchema& schema) : FhirValidator(schema, Options{}) {}

FhirValidator::FhirValidator(const fhir::FhirSchema& schema, Options options)
    : schema_(schema), rules_(std::make_shared<const Rules>(schema, options)) {}

FhirValidator::~FhirValidator() = default;

Status FhirValidator::validate_bundle(const rapidjson::Value& bundle, Issues& issues) const {
  if (!bundle.IsObject() || string_member(bundle, "resourceType") != "Bundle") {
    std::string msg = "expected a Bundle";
    issues.push_back(Issue{Severity::kError, "FHIR_RESOURCE_TYPE", "Bundle", msg});
    return make_error(StatusCode::kInvalidInput, Stage::kValidate, "FHIR_INVALID", "Bundle", std::move(msg));
  }
  return validate_resource(bundle, "Bundle", issues);
}

Status FhirValidator::validate_resource(const rapidjson::Value& resource, std::string_view path,
                                        Issues& issues) const {
  Walk walk(*rules_, issues, path);
  const bool is_bundle = resource.IsObject() && string_member(resource, "resourceType") == "Bundle";
  if (is_bundle) walk.index_bundle(resource);
  walk.resource(resource, false);
  if (is_bundle) walk.bundle_rules(resource);
  return walk.finish();
}

}  // namespace dxnorm::validate
