#include "fhir_validator.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <memory_resource>
#include <regex>
#include <stdexcept>
#include <tuple>
#include <unordered_set>
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

[[gnu::always_inline]] inline std::string_view sv(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// s == lit, with the compare inlined (the length is a constant).
template <std::size_t N>
[[gnu::always_inline]] inline bool eq(std::string_view s, const char (&lit)[N]) noexcept {
  return s.size() == N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

// s starts with lit, with the compare inlined.
template <std::size_t N>
[[gnu::always_inline]] inline bool starts(std::string_view s, const char (&lit)[N]) noexcept {
  return s.size() >= N - 1 && std::memcmp(s.data(), lit, N - 1) == 0;
}

// Equality for short names: length and first byte settle most mismatches
// without a call to memcmp.
[[gnu::always_inline]] inline bool same(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || (a[0] == b[0] && std::memcmp(a.data(), b.data(), a.size()) == 0));
}

[[gnu::always_inline]] inline const Value* member(const Value& obj, std::string_view name) {
  if (!obj.IsObject()) return nullptr;
  for (const auto& m : obj.GetObject()) {
    if (same(sv(m.name), name)) return &m.value;
  }
  return nullptr;
}

[[gnu::always_inline]] inline std::string_view string_member(const Value& obj, std::string_view name) {
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

inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

inline std::uint64_t load4(const char* p) noexcept {
  std::uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// Whether a[0, n) == b[0, n), inline (a fullUrl compared with a reference,
// 45 bytes for a urn:uuid; a timestamp, 20 or 25): sixteen bytes at a time
// from 16 bytes on (the first and the last sixteen, overlapping, then any
// between), eight from 8; memcmp below.
[[gnu::always_inline]] inline bool same_bytes(const char* a, const char* b, std::size_t n) noexcept {
#ifdef __SSE2__
  if (n >= 16) {
    const auto diff = [a, b](std::size_t i) {
      return _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)),
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    };
    __m128i d = _mm_or_si128(diff(0), diff(n - 16));
    for (std::size_t i = 16; i + 16 < n; i += 16) d = _mm_or_si128(d, diff(i));
    return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xFFFF;
  }
#endif
  // n == 0 first: a or b may then be the nullptr of an empty string_view,
  // which memcmp must not be given even with a zero length.
  if (n < 8) return n == 0 || std::memcmp(a, b, n) == 0;
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i + 8 < n; i += 8) diff |= load8(a + i) ^ load8(b + i);
  return (diff | (load8(a + n - 8) ^ load8(b + n - 8))) == 0;  // the last eight, overlapping
}

// A fast non-cryptographic hash: eight bytes per step (urn:uuid fullUrls are
// 45 bytes). Its values order by_url_ and so the bdl-7 issues: keep them.
std::uint64_t name_hash(std::string_view s) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  const std::size_t n = s.size();
  const char* p = s.data();
  std::uint64_t h = n * kMul;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h = (h ^ load8(p + i)) * kMul;
    h ^= h >> 29;
  }
  if (const std::size_t rest = n - i; rest > 0) {
    // The last 1-7 bytes, little-endian in the low bytes of w, read with
    // loads that stay inside s.
    std::uint64_t w;
    if (n >= 8) {
      w = load8(p + n - 8) >> (8 * (8 - rest));
    } else if (n >= 4) {
      w = load4(p) | ((load4(p + n - 4) >> (8 * (8 - n))) << 32);
    } else {
      const auto byte = [p](std::size_t k) { return std::uint64_t{static_cast<unsigned char>(p[k])}; };
      w = byte(0) | (byte(n / 2) << (8 * (n / 2))) | (byte(n - 1) << (8 * (n - 1)));
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

// Open-addressing table from a name (JSON property, resource type, code)
// to a T. A name is keyed by its length and up to three words that between
// them hold every byte of names up to 24 bytes (overlapping loads; all R4
// element names fit); longer names compare their tail too. The multiplier
// of the slot hash is chosen at build time so that, whenever it can be, no
// two names share a slot: a hit is then one slot compare, and the probe loop
// runs only for misses (or for names whose keys cannot be told apart by any
// multiplier). Names are borrowed and must outlive the table.
template <class T>
class NameTable {
 public:
  NameTable() = default;
  NameTable(NameTable&&) noexcept = default;  // slots keep pointing into the moved values_
  NameTable& operator=(NameTable&&) noexcept = default;
  NameTable(const NameTable&) = delete;
  NameTable& operator=(const NameTable&) = delete;

  // First entry wins when a name repeats (as a linear scan would).
  void build(const std::vector<std::pair<std::string_view, T>>& entries) {
    std::vector<std::pair<std::string_view, std::size_t>> unique;  // name, index into entries
    std::unordered_set<std::string_view> seen;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string_view name = entries[i].first;
      if (name.empty() || name.size() > 0xffffffffu) throw std::runtime_error("FhirValidator: bad name in schema");
      if (seen.insert(name).second) unique.emplace_back(name, i);
    }
    values_ = std::make_unique<T[]>(unique.size());
    for (std::size_t v = 0; v < unique.size(); ++v) values_[v] = entries[unique[v].second].second;
    choose_hash(unique);
    slots_.assign(mask_ + 1, Slot{});
    long_keys_.assign(mask_ + 1, LongKey{});
    for (std::size_t v = 0; v < unique.size(); ++v) {
      const std::string_view name = unique[v].first;
      const Key k = key(name.data(), name.size());
      std::size_t i = home(mix(k));
      while (slots_[i].len) i = (i + 1) & mask_;
      slots_[i] = {k.a, k.b, &values_[v], static_cast<std::uint32_t>(name.size())};
      long_keys_[i] = {k.c, name.data()};
    }
  }

  [[gnu::always_inline]] const T* find(const char* p, std::size_t n) const noexcept {
    if (n - 1 < 7) [[likely]] {  // 1 to 7 bytes (n = 0 wraps around): (n, a) is the whole name
      const std::uint64_t a = short_word(p, n);
      const Slot& s = slots_[home(a)];
      if (s.a == a && s.len == n) [[likely]] return s.value;
      return probe(p, n);
    }
    if (n == 0) return nullptr;
    const std::uint64_t a = load8(p), b = load8(p + n - 8);
    const std::size_t i = home(a ^ std::rotl(b, 29));
    const Slot& s = slots_[i];
    if (s.a == a && s.b == b && s.len == n && (n <= 16 || same_middle(long_keys_[i], p, n))) [[likely]] return s.value;
    return probe(p, n);
  }
  const T* find(std::string_view name) const noexcept { return find(name.data(), name.size()); }

 private:
  struct Slot {  // 32 bytes: what a hit on a name of up to 16 bytes reads
    std::uint64_t a = 0, b = 0;
    const T* value = nullptr;  // into values_
    std::uint32_t len = 0;     // 0: empty slot (no name is empty)
  };
  struct LongKey {  // the same slot's name, for names over 16 bytes
    std::uint64_t c = 0;
    const char* name = nullptr;
  };
  struct Key {
    std::uint64_t a, b, c;
  };

  // Reads only p[0, n), 0 < n < 8: the bytes of the name, packed.
  [[gnu::always_inline]] static std::uint64_t short_word(const char* p, std::size_t n) noexcept {
    if (n >= 4) return load4(p) | (load4(p + n - 4) << 32);
    const auto byte = [p](std::size_t k) { return std::uint64_t{static_cast<unsigned char>(p[k])}; };
    return byte(0) | (byte(n / 2) << 8) | (byte(n - 1) << 16);
  }
  // Reads only p[0, n), n > 0. For n <= 16, (n, a, b) is the whole name (b = 0
  // below 8 bytes); c holds bytes 8-15 when n > 16.
  static Key key(const char* p, std::size_t n) noexcept {
    if (n < 8) return {short_word(p, n), 0, 0};
    return {load8(p), load8(p + n - 8), n > 16 ? load8(p + 8) : 0};
  }
  static std::uint64_t mix(const Key& k) noexcept {
    // Property names share prefixes ("value", "effective"), so the last
    // word counts too.
    return k.a ^ std::rotl(k.b, 29);
  }
  // Bytes 8 to n - 8 of a name over 16 bytes whose first and last eight agree.
  static bool same_middle(const LongKey& l, const char* p, std::size_t n) noexcept {
    return l.c == load8(p + 8) && (n <= 24 || std::memcmp(l.name + 16, p + 16, n - 24) == 0);
  }
  [[gnu::always_inline]] std::size_t home(std::uint64_t mixed) const noexcept {
    return static_cast<std::size_t>((mixed * multiplier_) >> shift_);  // the product's high bits
  }

  // find() after a miss at the name's home slot: the slots after it, up to
  // an empty one.
  [[gnu::noinline]] const T* probe(const char* p, std::size_t n) const noexcept {
    const Key k = key(p, n);
    for (std::size_t i = home(mix(k));; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.a == k.a && s.b == k.b && s.len == n && (n <= 16 || same_middle(long_keys_[i], p, n))) return s.value;
      if (!s.len) return nullptr;
    }
  }

  // Sets shift_, mask_ and multiplier_: the first (size, multiplier) that
  // gives every name a slot of its own, trying a fixed sequence of odd
  // multipliers for tables of two to sixteen slots per name;
  // else the smallest table with the first multiplier (linear probing).
  void choose_hash(const std::vector<std::pair<std::string_view, std::size_t>>& names) {
    std::size_t min_size = 8;
    while (min_size < names.size() * 2) min_size *= 2;
    std::vector<std::uint64_t> mixes;
    for (const auto& [name, v] : names) mixes.push_back(mix(key(name.data(), name.size())));
    std::vector<bool> used;
    for (std::size_t size = min_size; size <= min_size * 8; size *= 2) {
      std::uint64_t state = 0x9E3779B97F4A7C15ull;
      for (int attempt = 0; attempt < 64; ++attempt) {
        const std::uint64_t multiplier = attempt == 0 ? 0x9E3779B97F4A7C15ull : (splitmix(state) | 1);
        const unsigned shift = 64 - static_cast<unsigned>(std::countr_zero(size));
        used.assign(size, false);
        bool perfect = true;
        for (const std::uint64_t m : mixes) {
          const auto i = static_cast<std::size_t>((m * multiplier) >> shift);
          if (used[i]) {
            perfect = false;
            break;
          }
          used[i] = true;
        }
        if (perfect) return set_hash(size, multiplier);
      }
    }
    set_hash(min_size, 0x9E3779B97F4A7C15ull);
  }
  void set_hash(std::size_t size, std::uint64_t multiplier) {
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(size));
    mask_ = size - 1;
    multiplier_ = multiplier;
  }
  static std::uint64_t splitmix(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  std::vector<Slot> slots_;
  std::vector<LongKey> long_keys_;  // by slot
  std::unique_ptr<T[]> values_;  // by first occurrence of each name; slots point here
  std::size_t mask_ = 0;
  std::uint64_t multiplier_ = 0x9E3779B97F4A7C15ull;
  unsigned shift_ = 61;
};

// Marks an empty slot of an address-keyed memo: no string of a document
// starts at this private object.
constexpr char kNoString = 0;

std::string_view element_label(const ElementDef& e) {
  return e.is_choice() ? std::string_view(e.name).substr(0, e.name.size() - 3) : std::string_view(e.name);
}

}  // namespace

// ---------------------------------------------------------------------------
// Rules: everything derived from the schema once, so that the walk does no
// string lookups in the schema and compiles nothing: per type, a table from
// each JSON property name it accepts straight to what checks its value.
struct FhirValidator::Rules {
  // Two elements of one type that must not both be present (obs-6, ext-1).
  struct Exclusive {
    std::uint64_t a, b;
    std::string rule;  // "obs-6: ..."
    std::string at;    // element name the issue is reported on
  };
  // At least one of some elements must be present (obs-3).
  struct AnyOf {
    std::uint64_t mask;
    std::string rule;
  };

  struct Type;
  // How a property's value is checked, in one code: the shape (mirrors the
  // order of the R4 rules: an inline backbone first, then the abstract
  // Resource, then the type), and for a primitive its JSON type and lexical
  // check together, so that a value costs one dispatch.
  enum class Kind : std::uint8_t {
    kObject, kReference, kResource,
    kBoolean,                                          // JSON boolean
    kDecimal, kInteger, kPositiveInt, kUnsignedInt,    // JSON number (kInteger: any other number primitive)
    // JSON string (json kString or kObject): every kind from kString on, and
    // kString, kCode and kUri first (item() relies on both orders).
    kString, kCode, kUri, kId, kDate, kDateTime, kInstant, kTime,
    kBase64, kUuid, kXhtml, kRegex, kDecimalText, kAnyText,
  };
  // A required value set's codes, for a hash lookup instead of a scan.
  struct CodeSet {
    NameTable<bool> codes;  // keys point into the ElementDef's required_codes
    std::string message;    // the FHIR_CODE issue's message
    const ElementDef* owner = nullptr;
  };
  // One JSON property name of a type: "status", or "valueQuantity" of value[x].
  struct Prop {
    const ElementDef* element = nullptr;
    const TypeDef* type = nullptr;  // the chosen type; nullptr for the abstract Resource
    const Type* object = nullptr;   // rules for kObject / kReference (the backbone's, if inline)
    std::uint64_t bit = 0;          // 1 << position of the element in its type
    std::uint32_t max = 1;
    Kind kind = Kind::kAnyText;
    bool extension_ok = false;      // "_name" allowed: the chosen type is a primitive
    bool contained = false;         // the element is "contained"
    // max <= 1 and a JSON string kind: a JSON string value goes straight to
    // text(), past element()'s null and array checks (a string is neither).
    bool scalar_text = false;
    std::uint8_t printable = 0x21;  // is_printable_ascii's limit for kString, kCode, kUri
    int regex = -1;                 // index into regexes for Kind::kRegex
    const CodeSet* codes = nullptr; // a primitive bound to a required value set
    // kReference with target profiles: offset of a bit set over resource
    // ordinals (Type::resource_ordinal) in target_bits; -1 = any target.
    std::int32_t targets = -1;
  };
  struct Type {
    const TypeDef* def = nullptr;
    NameTable<Prop> names;
    std::uint64_t required = 0;  // bit i: elements[i].min > 0
    std::uint64_t id_bit = 0;    // bit of the element "id"; 0 when the type has none
    std::vector<Exclusive> exclusives;
    std::vector<AnyOf> any_ofs;
    int resource_ordinal = -1;
    bool has_invariants = false;  // exclusives or any_ofs
  };

  struct Primitive {
    Lex lex = Lex::kNone;
    int regex = -1;
  };

  Options options;
  std::vector<Type> types;            // by TypeDef::index
  std::vector<Primitive> primitives;  // by TypeDef::index
  std::vector<std::regex> regexes;
  NameTable<const Type*> resources;
  std::size_t resource_count = 0;
  std::vector<std::uint64_t> target_bits;
  std::deque<std::string> choice_names;  // "valueQuantity"...: the tables point into them
  std::deque<CodeSet> code_sets;         // Props point at them
  const Type* element = nullptr;         // Element: id + extension, the shape of "_field"
  const TypeDef* reference = nullptr;
  // The Reference type's rules make {"reference": s}, s a valid string, an
  // object with nothing to report: nothing required, no invariant, and
  // "reference" a plain string element (what item()'s shortcut relies on).
  bool plain_reference = false;

  const Type* resource_type(std::string_view name) const noexcept {
    const Type* const* t = resources.find(name);
    return t ? *t : nullptr;
  }

  // Whether a reference to a resource of type `target` (its Type when the
  // caller has it) is allowed: the same answer as looking `target` up in
  // the element's target profiles.
  [[gnu::always_inline]] bool target_allowed(const Prop& p, std::string_view target, const Type* known) const {
    if (p.targets < 0) return true;
    if (!known) known = resource_type(target);
    if (known) {
      const auto k = static_cast<std::size_t>(known->resource_ordinal);
      return (target_bits[static_cast<std::size_t>(p.targets) + k / 64] >> (k % 64)) & 1;
    }
    const auto& t = p.element->target_profiles;
    return std::find(t.begin(), t.end(), target) != t.end();
  }

  static std::uint64_t bit_of(const TypeDef& t, std::string_view name) {
    const ElementDef* e = t.find(name);
    if (!e) throw std::runtime_error("FhirValidator: schema lacks " + t.name + "." + std::string(name));
    return std::uint64_t{1} << (e - t.elements.data());
  }

  Rules(const fhir::FhirSchema& schema, Options opts) : options(opts) {
    // Sized once: Props and tables point at Types.
    types.resize(schema.type_count());
    primitives.resize(schema.type_count());
    std::vector<std::pair<std::string_view, const Type*>> resource_names;
    for (std::size_t i = 0; i < schema.type_count(); ++i) {
      const TypeDef& t = schema.type_at(i);
      if (t.elements.size() > 64) {
        throw std::runtime_error("FhirValidator: " + t.name + " has more than 64 elements");
      }
      types[t.index].def = &t;
      if (t.kind == TypeDef::Kind::kResource) resource_names.emplace_back(t.name, &types[t.index]);
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
    std::sort(resource_names.begin(), resource_names.end());
    for (std::size_t k = 0; k < resource_names.size(); ++k) {
      types[resource_names[k].second->def->index].resource_ordinal = static_cast<int>(k);
    }
    resource_count = resource_names.size();
    resources.build(resource_names);
    reference = schema.type("Reference");
    for (Type& t : types) compile(t);

    const TypeDef* element_def = schema.type("Element");
    const TypeDef* extension = schema.type("Extension");
    const TypeDef* observation = schema.type("Observation");
    const TypeDef* range = schema.type("Observation.referenceRange");
    if (!element_def || !reference || !extension || !observation || !range || !schema.is_resource("Bundle")) {
      throw std::runtime_error("FhirValidator: schema lacks Element, Reference, Extension, Observation or Bundle");
    }
    element = &types[element_def->index];
    // R4 defines obs-6 on Observation only (not on Observation.component).
    types[observation->index].exclusives.push_back(
        {bit_of(*observation, "value[x]"), bit_of(*observation, "dataAbsentReason"),
         "obs-6: dataAbsentReason SHALL only be present if value[x] is not present", "dataAbsentReason"});
    types[range->index].any_ofs.push_back({bit_of(*range, "low") | bit_of(*range, "high") | bit_of(*range, "text"),
                                          "obs-3: a referenceRange must have at least a low or a high or text"});
    types[extension->index].exclusives.push_back(
        {bit_of(*extension, "value[x]"), bit_of(*extension, "extension"),
         "ext-1: an extension must have either extensions or value[x], not both", "extension"});
    for (Type& t : types) t.has_invariants = !t.exclusives.empty() || !t.any_ofs.empty();
    const Type& ref_rules = types[reference->index];
    const Prop* ref_string = ref_rules.names.find("reference");
    plain_reference = ref_string && ref_string->scalar_text && ref_string->kind == Kind::kString && !ref_string->codes &&
                      ref_string->bit != ref_rules.id_bit && !ref_rules.required && !ref_rules.has_invariants;
  }

 private:
  Prop prop(const ElementDef& e, std::size_t bit, std::size_t ti) {
    Prop p;
    p.element = &e;
    p.bit = std::uint64_t{1} << bit;
    p.max = e.max;
    p.contained = e.name == "contained";
    p.type = ti < e.type_defs.size() ? e.type_defs[ti] : nullptr;
    p.extension_ok = p.type && p.type->kind == TypeDef::Kind::kPrimitive;
    if (e.backbone) {
      p.kind = Kind::kObject;
      p.object = &types[e.backbone->index];
    } else if (!p.type) {
      p.kind = Kind::kResource;
    } else if (p.type->kind == TypeDef::Kind::kPrimitive) {
      p.kind = primitive_kind(p.type->json, primitives[p.type->index].lex);
      p.regex = primitives[p.type->index].regex;
      if (!e.required_codes.empty()) p.codes = code_set(e);
    } else {
      p.object = &types[p.type->index];
      p.kind = p.type == reference ? Kind::kReference : Kind::kObject;
      if (p.kind == Kind::kReference && !e.target_profiles.empty()) {
        p.targets = static_cast<std::int32_t>(target_bits.size());
        target_bits.resize(target_bits.size() + (resource_count + 63) / 64);
        for (const auto& name : e.target_profiles) {
          if (const Type* r = resource_type(name)) {
            const auto k = static_cast<std::size_t>(r->resource_ordinal);
            target_bits[static_cast<std::size_t>(p.targets) + k / 64] |= std::uint64_t{1} << (k % 64);
          }
        }
      }
    }
    p.scalar_text = p.max <= 1 && p.kind >= Kind::kString;
    p.printable = p.kind == Kind::kString ? 0x20 : 0x21;
    return p;
  }

  // The one code for a primitive's JSON type and lexical check; the same
  // decisions as the JSON-type switch and then the lexical switch made.
  static Kind primitive_kind(TypeDef::Json json, Lex lex) {
    switch (json) {
      case TypeDef::Json::kBoolean: return Kind::kBoolean;
      case TypeDef::Json::kNumber:
        return lex == Lex::kDecimal ? Kind::kDecimal
               : lex == Lex::kPositiveInt ? Kind::kPositiveInt
               : lex == Lex::kUnsignedInt ? Kind::kUnsignedInt
                                          : Kind::kInteger;
      case TypeDef::Json::kString:
      case TypeDef::Json::kObject:
        break;
    }
    switch (lex) {
      case Lex::kDecimal: return Kind::kDecimalText;
      case Lex::kString: return Kind::kString;
      case Lex::kCode: return Kind::kCode;
      case Lex::kId: return Kind::kId;
      case Lex::kUri: return Kind::kUri;
      case Lex::kDate: return Kind::kDate;
      case Lex::kDateTime: return Kind::kDateTime;
      case Lex::kInstant: return Kind::kInstant;
      case Lex::kTime: return Kind::kTime;
      case Lex::kBase64: return Kind::kBase64;
      case Lex::kUuid: return Kind::kUuid;
      case Lex::kXhtml: return Kind::kXhtml;
      case Lex::kRegex: return Kind::kRegex;
      default: return Kind::kAnyText;  // no lexical check
    }
  }

  // One CodeSet per element (an element's choices share it). Empty codes
  // are left out: an empty string is reported before codes are looked up.
  const CodeSet* code_set(const ElementDef& e) {
    for (const CodeSet& c : code_sets) {
      if (c.owner == &e) return &c;
    }
    CodeSet& c = code_sets.emplace_back();
    c.owner = &e;
    std::vector<std::pair<std::string_view, bool>> entries;
    for (const std::string& code : e.required_codes) {
      if (!code.empty()) entries.emplace_back(code, true);
    }
    c.codes.build(entries);
    c.message = "code not in required value set " + e.required_value_set;
    if (e.required_codes.size() <= 12) c.message += " (" + join(e.required_codes) + ")";
    return &c;
  }

  void compile(Type& t) {
    const TypeDef& td = *t.def;
    std::vector<std::pair<std::string_view, Prop>> entries;
    for (std::size_t k = 0; k < td.elements.size(); ++k) {
      const ElementDef& e = td.elements[k];
      if (e.min > 0) t.required |= std::uint64_t{1} << k;
      if (e.name == "id" && !t.id_bit) t.id_bit = std::uint64_t{1} << k;
      if (e.name.starts_with('_')) {
        throw std::runtime_error("FhirValidator: element name " + td.name + "." + e.name + " starts with '_'");
      }
      if (!e.is_choice()) {
        entries.emplace_back(e.name, prop(e, k, 0));
        continue;
      }
      const std::string_view stem = element_label(e);
      for (std::size_t i = 0; i < e.types.size(); ++i) {
        std::string n = std::string(stem) + e.types[i];
        n[stem.size()] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[stem.size()])));
        entries.emplace_back(choice_names.emplace_back(std::move(n)), prop(e, k, i));
      }
    }
    t.names.build(entries);
  }
};

// ---------------------------------------------------------------------------
// Walk: one validation call. Keeps the current FHIR path as segments that
// point into the document (rendered only for an issue), and the Bundle's
// entries indexed for reference lookups. Lives on the caller's stack.
class FhirValidator::Walk {
 public:
  using Prop = Rules::Prop;
  using Type = Rules::Type;

  Walk(const Rules& rules, Issues& issues, std::string_view root) : rules_(rules), issues_(issues) {
    path_.root = root;
  }

  // Reads Bundle.type, Bundle.entry and every entry's fullUrl, resource
  // type and id once, for reference resolution and the Bundle rules.
  void index_bundle(const Value& bundle) {
    in_bundle_ = true;
    resolved_.data.fill(&kNoString);
    for (const auto& m : bundle.GetObject()) {  // the first of repeated names counts
      const std::string_view n = sv(m.name);
      if (eq(n, "type") && !bundle_type_seen_) {
        bundle_type_seen_ = true;
        if (m.value.IsString()) bundle_type_ = sv(m.value);
      } else if (eq(n, "entry") && !entries_value_) {
        entries_value_ = &m.value;
      } else if (eq(n, "total")) {
        has_total_ = true;
      }
    }
    transaction_ = bundle_type_ == "transaction";
    if (!entries_value_ || !entries_value_->IsArray()) return;
    const rapidjson::SizeType count = entries_value_->Size();
    entries_.resize(count);
    by_url_.reserve(count);
    // The last resource type looked up, by address: the map stage writes one
    // string per type, and entries of a type tend to follow each other.
    std::string_view last_type;
    const Type* last_type_rules = nullptr;
    for (rapidjson::SizeType i = 0; i < count; ++i) {
      const Value& en = (*entries_value_)[i];
      if (!en.IsObject()) continue;  // reported by the structural walk
      EntryInfo& info = entries_[i];
      for (const auto& m : en.GetObject()) {
        const std::string_view n = sv(m.name);
        if (eq(n, "resource")) {
          if (!info.resource) info.resource = &m.value;
        } else if (eq(n, "fullUrl")) {
          if (!info.has_full_url && m.value.IsString()) info.full_url = sv(m.value);
          info.has_full_url = true;
        } else if (eq(n, "request")) {
          if (!info.request) info.request = &m.value;
        } else if (eq(n, "response")) {
          info.has_response = true;
        } else if (eq(n, "search")) {
          info.has_search = true;
        }
      }
      info.uuid_full_url = format::is_uuid(info.full_url);
      if (!info.resource || !info.resource->IsObject()) continue;
      bool type_seen = false, id_seen = false;
      for (const auto& m : info.resource->GetObject()) {
        const std::string_view n = sv(m.name);
        if (!type_seen && eq(n, "resourceType")) {
          type_seen = true;
          if (m.value.IsString()) info.type = sv(m.value);
        } else if (!id_seen && eq(n, "id")) {
          id_seen = true;
          if (m.value.IsString()) info.id = sv(m.value);
        }
        if (type_seen && id_seen) break;
      }
      if (info.type.data() != last_type.data() || info.type.size() != last_type.size()) {
        last_type = info.type;
        last_type_rules = info.type.empty() ? nullptr : rules_.resource_type(info.type);
      }
      info.resource_type = last_type_rules;
      info.id_in_full_url = info.uuid_full_url && info.id.size() == 36 &&
                            same_bytes(info.id.data(), info.full_url.data() + 9, 36);
      by_url_.push_back({info.full_url, info.type, info.id, i, info.resource_type, info.uuid_full_url});
    }
    // fullUrl -> first entry (lowest position) with it; later equal ones
    // are bdl-7 duplicates.
    std::size_t size = 16;
    while (size < by_url_.size() * 2) size *= 2;
    url_slots_.assign(size, 0);
    url_mask_ = size - 1;
    for (std::size_t k = 0; k < by_url_.size(); ++k) {
      const std::string_view url = by_url_[k].full_url;
      if (url.empty()) continue;
      std::size_t j = url_slot(url);
      for (; url_slots_[j]; j = (j + 1) & url_mask_) {
        if (by_url_[url_slots_[j] - 1].full_url == url) break;
      }
      if (url_slots_[j]) {
        duplicates_.push_back(&by_url_[k]);
      } else {
        url_slots_[j] = static_cast<std::uint32_t>(k + 1);
        remember_resolved(address_slot(url.data()), url, &by_url_[k]);
      }
    }
  }

  [[gnu::noinline]] void resource(const Value& v, bool contained);
  void bundle_rules();

  Status finish() {
    if (errors_ == 0) return ok_status();
    std::string msg = std::move(first_message_);
    if (errors_ > 1) msg += " (and " + std::to_string(errors_ - 1) + " more)";
    return make_error(StatusCode::kInvalidInput, Stage::kValidate, "FHIR_INVALID", std::move(first_location_),
                      std::move(msg));
  }

 private:
  struct Entry {
    std::string_view full_url, type, id;
    rapidjson::SizeType position;  // in Bundle.entry
    const Type* resource_type;     // nullptr when `type` is no resource type
    bool uuid_full_url;            // full_url is a valid urn:uuid (format::is_uuid), so printable ASCII
  };
  // What the Bundle rules read of one entry (first occurrence of each name).
  struct EntryInfo {
    const Value* resource = nullptr;
    const Value* request = nullptr;
    std::string_view full_url, type, id;  // empty when absent or not a string
    const Type* resource_type = nullptr;  // rules for `type`; nullptr when it names no resource type
    bool has_full_url = false, has_response = false, has_search = false;
    bool uuid_full_url = false;  // full_url is a valid urn:uuid (format::is_uuid)
    bool id_in_full_url = false; // id is the UUID of such a full_url, and so a valid id
  };
  // A resource outside contained[], while it is walked (on resource()'s stack).
  struct Frame {
    const Value* resource;
    const Value* contained;   // its first "contained" member, if an array; valid once looked
    std::uint64_t referenced; // contained[i] referenced as "#id"
    bool looked;              // contained is known (noted by object(), or found by find_contained())
  };
  // The FHIR path of the node being checked, as segments pointing into the
  // document and the schema; rendered to text only when an issue is raised.
  struct Path {
    struct Segment {  // trivial, so that the array costs nothing to set up
      const char* field;   // nullptr for an array index
      std::uint32_t size;  // of field
      std::uint32_t index; // of an array item; unused (may be stale) when field is set
    };
    static constexpr std::size_t kMaxDepth = 96;  // deeper documents are rejected, not walked
    std::string_view root;
    std::array<Segment, kMaxDepth + 8> segments;
    std::size_t depth = 0;

    std::string str() const {
      std::string out(root);
      for (std::size_t i = 0; i < depth; ++i) {
        const Segment& s = segments[i];
        if (s.size != 0) {
          out += '.';
          out.append(s.field, s.size);
        } else if (s.field) {  // an empty member name renders as [0], as it always has
          out += "[0]";
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
    Push(Path& p, std::string_view field) : p_(p) {
      p_.segments[p_.depth++] = {field.data(), static_cast<std::uint32_t>(field.size()), 0};
    }
    Push(Path& p, std::size_t index) : p_(p) {
      p_.segments[p_.depth++] = {nullptr, 0, static_cast<std::uint32_t>(index)};
    }
    ~Push() { --p_.depth; }
    Push(const Push&) = delete;
    Push& operator=(const Push&) = delete;

   private:
    Path& p_;
  };

  [[gnu::always_inline]] bool too_deep() {
    if (path_.depth < Path::kMaxDepth) [[likely]] return false;
    return report_too_deep();
  }
  [[gnu::noinline]] bool report_too_deep() {
    error("FHIR_STRUCTURE", "nesting deeper than " + std::to_string(Path::kMaxDepth) + " levels; not checked further");
    return true;
  }

  [[gnu::noinline]] void error(std::string_view code, std::string message) {
    std::string location = path_.str();
    if (errors_++ == 0) {
      first_location_ = location;
      first_message_ = message;
    }
    issues_.push_back(Issue{Severity::kError, std::string(code), std::move(location), std::move(message)});
  }

  // kResource: v is a resource (its "resourceType" member is skipped).
  // `frame`: the resource's own frame when v is a resource outside
  // contained[] (object() notes its "contained" member), else nullptr
  // (always when !kResource). Two instances, so that the walk of the many
  // plain objects carries no resource bookkeeping.
  template <bool kResource>
  void object(const Value& v, const Type& type, Frame* frame);
  // Required elements and the type's invariants, once its members are known.
  [[gnu::noinline]] void object_rules(const Type& type, std::uint64_t seen, std::uint64_t present);
  [[gnu::noinline]] void report_object_rules(const Type& type, std::uint64_t seen, std::uint64_t present);
  void primitive_extension(const Value& v, const Prop& p);
  void find_contained(Frame& f);
  // The members of v, a resource outside contained[] of type td, and dom-3.
  void walk_resource(const Value& v, const Type& td);
  // Inlined into object(): one call frame per JSON object, not per value.
  // Whatever raises an issue is out of line (fail*), so that object()'s
  // frame stays small: it is entered once per JSON object.
  [[gnu::always_inline]] inline void element(const Value& v, const Prop& p, const Value& parent, std::string_view name,
                                             Frame* frame);
  [[gnu::always_inline]] inline void item(const Value& v, const Prop& p);
  [[gnu::always_inline]] inline void text(const Value& v, const Prop& p);
  [[gnu::noinline]] void number(const Value& v, const Prop& p);
  [[gnu::noinline]] bool lexical(const Prop& p, std::string_view s);
  // check(s), remembering the last value it accepted in `last`: a message
  // repeats its timestamps (each OBX's observation time, issued...), and
  // a repeat costs a compare instead of the parse.
  [[gnu::always_inline]] static bool remembered(std::string_view s, std::string_view& last,
                                                bool (*check)(std::string_view) noexcept) {
    if (s.size() == last.size() && same_bytes(s.data(), last.data(), s.size())) return true;
    if (!check(s)) return false;
    last = s;
    return true;
  }
  [[gnu::noinline]] void null_item(const Value& parent, std::string_view name, rapidjson::SizeType i);
  [[gnu::noinline, gnu::cold]] void fail(const char* code, const char* message);
  [[gnu::noinline, gnu::cold]] void fail_typed(const char* code, const char* before, const TypeDef& t,
                                               const char* after);
  [[gnu::noinline, gnu::cold]] void fail_resource_type(std::string_view type);
  [[gnu::noinline, gnu::cold]] void fail_unknown(std::string_view name, const Type& type);
  [[gnu::noinline, gnu::cold]] void fail_repeated(const Prop& e);
  [[gnu::noinline, gnu::cold]] void fail_repeats(const Prop& e);
  [[gnu::noinline, gnu::cold]] void fail_too_many(const Prop& e);
  [[gnu::noinline, gnu::cold]] void fail_code(const Prop& p);
  [[gnu::noinline]] static void note_contained(Frame& f, const Value& c);
  void reference(const Value& v, const Prop& p);
  // Whether a Reference v is {"reference": s}, s the fullUrl of an entry of
  // the Bundle that is a valid urn:uuid (so s is printable ASCII) and of a
  // type the element allows, with depth to spare: then object() and
  // reference() would report nothing, and neither need run. false only
  // means "not shown here". Reads the document only (remembers what it
  // resolves in resolved_).
  [[gnu::noinline]] bool reference_settled(const Value& v, const Prop& p);
  // Whether the urn:uuid `ref` names an entry of the Bundle whose resource
  // type, if known, the element allows (check_reference() reports nothing).
  // Only once index_bundle has run.
  [[gnu::always_inline]] inline bool resolves_to_allowed_entry(std::string_view ref, const Prop& p);
  // Whether a reference to entry `en` is one check_reference() reports nothing on.
  [[gnu::always_inline]] inline bool allowed_entry(const Entry& en, const Prop& p) const;
  // reference() beyond its common case: resolves the non-empty `ref` again
  // and reports what is wrong with it.
  [[gnu::noinline]] void check_reference(std::string_view ref, const Prop& p);
  [[gnu::always_inline]] inline const Entry* by_url(std::string_view url) const;
  // by_url() once index_bundle has run (in_bundle_), trying first whether
  // `url` is a string (the same address and size) it has already resolved:
  // the map stage shares one string between the references to an entry, or
  // between them and its fullUrl, and a repeat needs neither hash nor byte
  // compare. The document does not change during the walk, so the answer
  // stays right.
  [[gnu::always_inline]] inline const Entry* by_url_in_bundle(std::string_view url) {
    const std::size_t k = address_slot(url.data());
    if (resolved_.data[k] == url.data() && resolved_.size[k] == url.size()) [[likely]] return resolved_.entry[k];
    return resolve_and_remember(k, url);
  }
  // by_url_in_bundle() past its memo: out of line, so that its callers stay
  // small (reference_settled() then saves no registers).
  [[gnu::noinline]] const Entry* resolve_and_remember(std::size_t k, std::string_view url) {
    const Entry* e = by_url(url);
    if (e) remember_resolved(k, url, e);
    return e;
  }
  void remember_resolved(std::size_t k, std::string_view url, const Entry* e) {
    resolved_.data[k] = url.data();
    resolved_.size[k] = url.size();
    resolved_.entry[k] = e;
  }
  // Strings sit at least 8 bytes apart (rapidjson's allocator aligns them),
  // so the low three bits are dropped before the multiply: with them a
  // stride of 48 bytes lands on a handful of slots.
  [[gnu::always_inline]] static std::size_t address_slot(const char* p) noexcept {
    return static_cast<std::size_t>(((reinterpret_cast<std::uintptr_t>(p) >> 3) * 0x9E3779B97F4A7C15ull) >> 59);
  }
  const Entry* by_type_id(std::string_view type, std::string_view id);
  // Slot of a fullUrl in url_slots_: its first, middle and last eight bytes
  // (urn:uuid:s differ at the end, http URLs anywhere near it).
  [[gnu::always_inline]] std::size_t url_slot(std::string_view u) const noexcept {
    const char* p = u.data();
    const std::size_t n = u.size();
    const std::uint64_t x = n >= 8 ? (load8(p) * 0x9E3779B97F4A7C15ull) ^ load8(p + n / 2 - 4) ^
                                         (load8(p + n - 8) * 0xC2B2AE3D27D4EB4Full)
                                   : name_hash(u);
    return static_cast<std::size_t>(((x ^ n) * 0xBF58476D1CE4E5B9ull) >> 32) & url_mask_;
  }

  const Rules& rules_;
  Issues& issues_;
  Path path_;
  std::size_t errors_ = 0;
  std::string first_location_;
  std::string first_message_;
  bool in_bundle_ = false;
  bool transaction_ = false;
  bool bundle_type_seen_ = false;
  bool has_total_ = false;
  std::string_view bundle_type_;
  const Value* entries_value_ = nullptr;
  // Backs the Bundle index below, which is sized once per walk (by_url_ is
  // reserved, so pointers into it stay valid): a Bundle of up to some 45
  // entries is indexed without touching the heap; beyond, the resource
  // takes more from new/delete. Left uninitialized (it is only allocated from).
  alignas(std::max_align_t) std::array<std::byte, 8192> index_buffer_;
  std::pmr::monotonic_buffer_resource index_memory_{index_buffer_.data(), index_buffer_.size()};
  std::pmr::vector<EntryInfo> entries_{&index_memory_};  // by position in Bundle.entry
  std::pmr::vector<Entry> by_url_{&index_memory_};       // entries with a resource, in Bundle order
  std::pmr::vector<std::uint32_t> url_slots_{&index_memory_};  // open addressing: 1 + index into by_url_, 0 = empty
  std::size_t url_mask_ = 0;
  std::pmr::vector<const Entry*> duplicates_{&index_memory_};  // fullUrl seen at a lower position (bdl-7)
  // by_url()'s answers (never nullptr) by the address of the url's bytes,
  // direct-mapped by address_slot (a later url takes the slot). Seeded with
  // the fullUrls. Only `data` is cleared, to &kNoString (by index_bundle,
  // before any use), which no string of the document starts at (nullptr
  // would do only as long as rapidjson keeps asserting that no string has
  // it): size and entry are read only where data matched, so were set with it.
  struct Resolved {
    std::array<const char*, 32> data;
    std::array<std::size_t, 32> size;
    std::array<const Entry*, 32> entry;
  } resolved_;
  std::pmr::vector<Entry> by_type_id_{&index_memory_};  // sorted by (type, id); built on first use
  Frame* frame_ = nullptr;          // the innermost resource outside contained[] being walked
  std::size_t next_entry_ = 0;      // the entry (in entries_) whose resource the walk should reach next
  // An id string (the same bytes in the document) already shown valid: the
  // id of the entry resource being walked, when it is its fullUrl's UUID.
  std::string_view valid_id_;
  // The last dateTime and instant values shown valid (views into the
  // document, which outlives the walk); empty until then.
  std::string_view last_date_time_, last_instant_;
};

void FhirValidator::Walk::resource(const Value& v, bool contained) {
  if (!v.IsObject()) {
    fail("FHIR_TYPE", "expected a resource (JSON object)");
    return;
  }
  // The first of repeated names counts. A resource in the Bundle is read in
  // one pass (object() below): resourceType is nearly always its first
  // member, and its "contained" is noted by object() as it goes by. Only a
  // contained resource, whose dom-2/4/5 issues come before its members',
  // reads contained and meta beforehand.
  // An entry's resource: index_bundle has read its type (the same way).
  // Entries are walked in order, so it is the next one's, if any.
  if (!contained && next_entry_ < entries_.size() && entries_[next_entry_].resource == &v) [[likely]] {
    const EntryInfo& en = entries_[next_entry_++];
    if (const Type* td = en.resource_type) [[likely]] {
      valid_id_ = en.id_in_full_url ? en.id : std::string_view();
      walk_resource(v, *td);
      return;
    }
  }
  const Value* resource_type = nullptr;
  const Value* c = nullptr;
  const Value* meta = nullptr;
  if (contained) [[unlikely]] {
    for (const auto& m : v.GetObject()) {
      const std::string_view n = sv(m.name);
      if (eq(n, "resourceType")) {
        if (!resource_type) resource_type = &m.value;
      } else if (eq(n, "contained")) {
        if (!c) c = &m.value;
      } else if (eq(n, "meta")) {
        if (!meta) meta = &m.value;
      }
    }
  } else if (!v.ObjectEmpty() && eq(sv(v.MemberBegin()->name), "resourceType")) [[likely]] {
    resource_type = &v.MemberBegin()->value;
  } else {
    resource_type = member(v, "resourceType");
  }
  const std::string_view type =
      resource_type && resource_type->IsString() ? sv(*resource_type) : std::string_view();
  if (type.empty()) {
    fail("FHIR_RESOURCE_TYPE", "resourceType missing");
    return;
  }
  const Type* td = rules_.resource_type(type);
  if (!td) {
    fail_resource_type(type);
    return;
  }
  if (contained) [[unlikely]] {
    if (c) {
      Push p(path_, "contained");
      fail("FHIR_INVARIANT", "dom-2: a contained resource SHALL NOT contain nested resources");
    }
    if (meta) {
      Push p(path_, "meta");
      if (member(*meta, "versionId") || member(*meta, "lastUpdated")) {
        fail("FHIR_INVARIANT", "dom-4: a contained resource SHALL NOT have meta.versionId or meta.lastUpdated");
      }
      if (member(*meta, "security")) {
        fail("FHIR_INVARIANT", "dom-5: a contained resource SHALL NOT have a security label");
      }
    }
    object<true>(v, *td, nullptr);
    return;
  }
  walk_resource(v, *td);
}

void FhirValidator::Walk::walk_resource(const Value& v, const Type& td) {
  // The frame lives here; frame_ points at the innermost one (references
  // inside contained resources resolve against their container's).
  Frame f{&v, nullptr, 0, false};
  Frame* const outer = frame_;
  frame_ = &f;
  object<true>(v, td, &f);
  frame_ = outer;
  if (!f.looked) [[unlikely]] find_contained(f);  // object() stopped early (too deep)
  if (f.contained) {
    for (rapidjson::SizeType i = 0; i < f.contained->Size() && i < 64; ++i) {
      if (f.referenced & (std::uint64_t{1} << i)) continue;
      Push p(path_, "contained");
      Push q(path_, i);
      fail("FHIR_INVARIANT", "dom-3: contained resource is not referenced from elsewhere in the resource");
    }
  }
}

void FhirValidator::Walk::find_contained(Frame& f) {
  const Value* c = member(*f.resource, "contained");
  f.contained = c && c->IsArray() ? c : nullptr;
  f.looked = true;
}

template <bool kResource>
void FhirValidator::Walk::object(const Value& v, const Type& type, Frame* frame) {
  if (!kResource) frame = nullptr;  // lets the compiler drop the frame's checks
  if (too_deep()) return;
  if (v.ObjectEmpty()) {
    fail("FHIR_EMPTY", "empty object");
    return;
  }
  std::uint64_t seen = 0;      // elements given as "name"
  std::uint64_t seen_ext = 0;  // primitive elements given only as "_name"
  // Segment d names the member being checked: set once per member rather
  // than pushed and popped (what descends below restores depth d + 1).
  const std::size_t d = path_.depth;
  path_.depth = d + 1;
  for (const auto& m : v.GetObject()) {
    const std::string_view name = sv(m.name);
    if (kResource && eq(name, "resourceType")) continue;
    // The index is left as it was: a segment with a field ignores it.
    path_.segments[d].field = name.data();
    path_.segments[d].size = static_cast<std::uint32_t>(name.size());
    // No element name starts with '_' (checked at construction), so "_name"
    // misses here and is then looked up as name.
    const Prop* e = type.names.find(name.data(), name.size());
    if (!e) [[unlikely]] {
      if (name.size() > 1 && name[0] == '_') {
        e = type.names.find(name.data() + 1, name.size() - 1);
        if (e && e->extension_ok) {
          seen_ext |= e->bit;
          primitive_extension(m.value, *e);
          continue;
        }
      }
      // A resource type without a "contained" element (Bundle...) still
      // has its "contained" member resolve "#id" and face dom-3.
      if (frame && !frame->looked && eq(name, "contained")) note_contained(*frame, m.value);
      fail_unknown(name, type);
      continue;
    }
    if (seen & e->bit) [[unlikely]] {
      fail_repeated(*e);
      continue;
    }
    seen |= e->bit;
    element(m.value, *e, v, name, frame);
  }
  path_.depth = d;
  if (frame) frame->looked = true;  // every member went by: no "contained" unless noted
  // ele-1: some member other than "id". Members all named "id" leave seen
  // at the id element's bit (repeats are not counted) and no "_name", or at
  // 0 if the type has no "id" (they are then unknown); anything else sets
  // some other bit, so most objects are settled without reading a name.
  if (!kResource && seen == type.id_bit && !seen_ext && eq(sv(v.MemberBegin()->name), "id")) [[unlikely]] {
    bool only_id = true;
    for (const auto& m : v.GetObject()) {
      if (!eq(sv(m.name), "id")) {
        only_id = false;
        break;
      }
    }
    if (only_id) fail("FHIR_INVARIANT", "ele-1: element has neither a value nor children");
  }
  const std::uint64_t present = seen | seen_ext;
  if ((type.required & ~present) || type.has_invariants) [[unlikely]] object_rules(type, seen, present);
}

void FhirValidator::Walk::object_rules(const Type& type, std::uint64_t seen, std::uint64_t present) {
  // Most calls come from a type with invariants that hold (an Observation
  // with a value and no dataAbsentReason): settled before anything else.
  if (!(type.required & ~present)) {
    bool hold = true;
    for (const auto& x : type.exclusives) hold &= !((seen & x.a) && (seen & x.b));
    for (const auto& x : type.any_ofs) hold &= (present & x.mask) != 0;
    if (hold) return;
  }
  report_object_rules(type, seen, present);
}

void FhirValidator::Walk::report_object_rules(const Type& type, std::uint64_t seen, std::uint64_t present) {
  const TypeDef& td = *type.def;
  for (std::size_t i = 0; (type.required & ~present) && i < td.elements.size(); ++i) {
    const ElementDef& e = td.elements[i];
    if (e.min == 0 || (present & (std::uint64_t{1} << i))) continue;
    Push p(path_, element_label(e));
    error("FHIR_CARDINALITY", "required element missing (min " + std::to_string(e.min) + ")");
  }
  for (const auto& x : type.exclusives) {
    if ((seen & x.a) && (seen & x.b)) {
      Push p(path_, x.at);
      error("FHIR_INVARIANT", x.rule);
    }
  }
  for (const auto& x : type.any_ofs) {
    if (!(present & x.mask)) error("FHIR_INVARIANT", x.rule);
  }
}

void FhirValidator::Walk::primitive_extension(const Value& v, const Prop& e) {
  // "_birthDate": {id, extension}; for repeating primitives an array whose
  // nulls stand for items without an id/extension.
  if (e.max > 1) {
    if (!v.IsArray()) {
      fail_repeats(e);
      return;
    }
    if (v.Empty()) {
      fail("FHIR_EMPTY", "empty array");
      return;
    }
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      if (v[i].IsNull()) continue;
      Push p(path_, i);
      if (!v[i].IsObject()) {
        fail("FHIR_TYPE", "expected a JSON object (Element)");
        continue;
      }
      object<false>(v[i], *rules_.element, nullptr);
    }
    return;
  }
  if (!v.IsObject()) {
    if (v.IsNull()) {
      fail("FHIR_EMPTY", "null value");
    } else {
      fail("FHIR_TYPE", "expected a JSON object (Element)");
    }
    return;
  }
  object<false>(v, *rules_.element, nullptr);
}

inline void FhirValidator::Walk::element(const Value& v, const Prop& e, const Value& parent, std::string_view name,
                                         Frame* frame) {
  if (e.scalar_text && v.IsString()) [[likely]] {
    text(v, e);
    return;
  }
  if (v.IsNull()) [[unlikely]] {
    fail("FHIR_EMPTY", "null value");
    return;
  }
  if (e.max <= 1) [[likely]] {
    if (v.IsArray()) [[unlikely]] {
      fail("FHIR_CARDINALITY", "element does not repeat (max 1): expected a single value, not an array");
      return;
    }
    item(v, e);
    return;
  }
  if (!v.IsArray()) [[unlikely]] {
    fail_repeats(e);
    return;
  }
  // The first "contained" member is the only one that gets here (a repeated
  // one is reported before, a non-array one cannot be the contained array).
  // Noted before its items are walked: a "#id" inside a contained resource
  // resolves against this array.
  if (e.contained && frame && !frame->looked) [[unlikely]] note_contained(*frame, v);
  if (v.Empty()) [[unlikely]] {
    fail("FHIR_EMPTY", "empty array");
    return;
  }
  if (v.Size() > e.max) [[unlikely]] fail_too_many(e);
  const std::size_t d = path_.depth;  // segment d: the item's index
  path_.depth = d + 1;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    path_.segments[d] = {nullptr, 0, i};
    if (v[i].IsNull()) [[unlikely]] {
      // A null item is allowed where "_name" carries that item's extension.
      null_item(parent, name, i);
      continue;
    }
    item(v[i], e);
  }
  path_.depth = d;
}

void FhirValidator::Walk::null_item(const Value& parent, std::string_view name, rapidjson::SizeType i) {
  const Value* twin = nullptr;  // the last "_name", as it always was
  for (const auto& m : parent.GetObject()) {
    const std::string_view n = sv(m.name);
    if (n.size() == name.size() + 1 && n[0] == '_' && n.substr(1) == name) twin = &m.value;
  }
  if (!(twin && twin->IsArray() && i < twin->Size() && (*twin)[i].IsObject())) fail("FHIR_EMPTY", "null value");
}

inline void FhirValidator::Walk::item(const Value& v, const Prop& e) {
  using K = Rules::Kind;
  if (e.kind < K::kString) switch (e.kind) {
    case K::kObject:
    case K::kReference:
      if (!v.IsObject()) [[unlikely]] {
        fail_typed("FHIR_TYPE", "expected a JSON object (", *e.object->def, ")");
        return;
      }
      if (e.kind == K::kReference && reference_settled(v, e)) return;
      object<false>(v, *e.object, nullptr);
      if (e.kind == K::kReference) reference(v, e);
      return;
    case K::kResource:  // the abstract Resource: contained[] and Bundle.entry.resource
      resource(v, e.contained);
      return;
    case K::kBoolean:
      if (!v.IsBool()) [[unlikely]] fail("FHIR_TYPE", "expected a JSON boolean (boolean)");
      return;
    case K::kDecimal:
    case K::kInteger:
    case K::kPositiveInt:
    case K::kUnsignedInt:
      number(v, e);
      return;
    default:
      break;
  }
  // A JSON string (the kinds from kString on).
  if (!v.IsString()) [[unlikely]] {
    fail_typed("FHIR_TYPE", "expected a JSON string (", *e.type, ")");
    return;
  }
  text(v, e);
}

// The checks of a JSON string value v of a kind from kString on.
inline void FhirValidator::Walk::text(const Value& v, const Prop& e) {
  using K = Rules::Kind;
  const std::string_view s = sv(v);
  if (s.empty()) [[unlikely]] {
    fail("FHIR_EMPTY", "empty string");
    return;
  }
  bool ok;
  if (e.kind <= K::kUri) {
    // Printable ASCII (without a space but for string) settles all three.
    ok = format::is_printable_ascii(s, e.printable) || lexical(e, s);
  } else switch (e.kind) {
    case K::kUuid: ok = format::is_uuid(s); break;
    default: ok = lexical(e, s); break;
  }
  if (!ok) [[unlikely]] {
    fail_typed("FHIR_FORMAT", "not a valid ", *e.type, "");
    return;
  }
  if (e.codes && !e.codes->codes.find(s.data(), s.size())) [[unlikely]] {
    // The offending value is input data, so it is not repeated; the allowed
    // codes are FHIR's and say what would have been right.
    fail_code(e);
  }
}

// The lexical check of a non-empty string-typed primitive, for the kinds
// item() does not check inline.
bool FhirValidator::Walk::lexical(const Prop& p, std::string_view s) {
  using K = Rules::Kind;
  switch (p.kind) {
    case K::kString: return format::is_string(s);
    case K::kCode: return format::is_code(s);
    case K::kUri: return format::is_uri(s);
    case K::kId:
      return (s.data() == valid_id_.data() && s.size() == valid_id_.size()) || format::is_id(s);
    case K::kDate: return format::is_date(s);
    case K::kDateTime: return remembered(s, last_date_time_, format::is_date_time);
    case K::kInstant: return remembered(s, last_instant_, format::is_instant);
    case K::kTime: return format::is_time(s);
    case K::kBase64: return format::is_base64(s);
    case K::kUuid: return format::is_uuid(s);
    case K::kXhtml: return format::is_xhtml(s);
    case K::kDecimalText: return format::is_decimal(s);
    case K::kRegex:
      try {  // std::regex may throw on pathological input; the contract is no throw per message
        return std::regex_match(s.begin(), s.end(), rules_.regexes[static_cast<std::size_t>(p.regex)]);
      } catch (const std::regex_error&) {
        return false;
      }
    default: return true;  // kAnyText: no lexical check
  }
}

void FhirValidator::Walk::number(const Value& v, const Prop& p) {
  using K = Rules::Kind;
  if (fhir::is_raw_number(v)) {
    // A decimal kept as written by the map stage (see fhir_json.h).
    if (p.kind != K::kDecimal) {
      fail_typed("FHIR_TYPE", "expected a JSON integer (", *p.type, ")");
    } else if (!format::is_decimal(fhir::raw_number_text(v))) {
      fail_typed("FHIR_FORMAT", "not a valid ", *p.type, "");
    }
    return;
  }
  if (!v.IsNumber()) [[unlikely]] {
    fail_typed("FHIR_TYPE", "expected a JSON number (", *p.type, ")");
    return;
  }
  if (p.kind == K::kDecimal) return;
  // JSON has one number type: 5.0 is the integer 5.
  double d = v.GetDouble();
  bool ok = std::isfinite(d) && d == std::floor(d) && d >= -2147483648.0 && d <= 2147483647.0;
  if (p.kind == K::kPositiveInt) ok = ok && d >= 1;
  if (p.kind == K::kUnsignedInt) ok = ok && d >= 0;
  if (!ok) fail_typed("FHIR_FORMAT", "not a valid ", *p.type, "");
}

// Issues raised from the walk's inlined code: built out of line, so that
// object()'s frame holds no strings.
void FhirValidator::Walk::fail(const char* code, const char* message) { error(code, std::string(message)); }

void FhirValidator::Walk::fail_typed(const char* code, const char* before, const TypeDef& t, const char* after) {
  error(code, before + t.name + after);
}

void FhirValidator::Walk::fail_resource_type(std::string_view type) {
  error("FHIR_RESOURCE_TYPE", resource_name(type) && type.size() <= 64
                                  ? "resourceType " + std::string(type) + " is not one dxnorm validates"
                                  : std::string("resourceType is not a resource type name"));
}

void FhirValidator::Walk::fail_unknown(std::string_view name, const Type& type) {
  error("FHIR_UNKNOWN_ELEMENT", "unknown element " + std::string(name) + " in " + type.def->name);
}

void FhirValidator::Walk::fail_repeated(const Prop& e) {
  error("FHIR_CARDINALITY", e.element->is_choice() ? "more than one type given for " + e.element->name
                                                   : std::string("element given more than once"));
}

void FhirValidator::Walk::fail_repeats(const Prop& e) {
  error("FHIR_CARDINALITY", "element repeats (max " + bound(e.max) + "): expected a JSON array");
}

void FhirValidator::Walk::fail_too_many(const Prop& e) {
  error("FHIR_CARDINALITY", "too many items (max " + bound(e.max) + ")");
}

void FhirValidator::Walk::fail_code(const Prop& p) { error("FHIR_CODE", p.codes->message); }

void FhirValidator::Walk::note_contained(Frame& f, const Value& c) {
  f.contained = c.IsArray() ? &c : nullptr;
  f.looked = true;
}

inline const FhirValidator::Walk::Entry* FhirValidator::Walk::by_url(std::string_view url) const {
  if (url.empty() || url_slots_.empty()) return nullptr;
  for (std::size_t j = url_slot(url); url_slots_[j]; j = (j + 1) & url_mask_) {
    const Entry& e = by_url_[url_slots_[j] - 1];
    // e.full_url == url, spelled out: GCC calls operator== out of line here.
    if (e.full_url.size() == url.size() && same_bytes(e.full_url.data(), url.data(), url.size())) return &e;
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

bool FhirValidator::Walk::reference_settled(const Value& v, const Prop& e) {
  if (!rules_.plain_reference || !in_bundle_ || v.MemberCount() != 1 || path_.depth >= Path::kMaxDepth) return false;
  const auto& m = *v.MemberBegin();
  if (!eq(sv(m.name), "reference") || !m.value.IsString()) return false;
  // A reference equal to a fullUrl that is a valid urn:uuid is a urn:uuid
  // of printable ASCII itself.
  const Entry* en = by_url_in_bundle(sv(m.value));
  return en && en->uuid_full_url && allowed_entry(*en, e);
}

inline bool FhirValidator::Walk::resolves_to_allowed_entry(std::string_view ref, const Prop& e) {
  const Entry* en = by_url_in_bundle(ref);
  return en && allowed_entry(*en, e);
}

inline bool FhirValidator::Walk::allowed_entry(const Entry& en, const Prop& e) const {
  // An element without target profiles has targets < 0: target_allowed()
  // allows anything there.
  return en.type.empty() || rules_.target_allowed(e, en.type, en.resource_type);
}

void FhirValidator::Walk::reference(const Value& v, const Prop& e) {
  const std::string_view ref = string_member(v, "reference");
  if (ref.empty()) return;  // absent, or already reported as a bad string
  // The common case, decided here: nothing to report.
  if (in_bundle_ && starts(ref, "urn:uuid:") && resolves_to_allowed_entry(ref, e)) [[likely]] return;
  check_reference(ref, e);
}

void FhirValidator::Walk::check_reference(std::string_view ref, const Prop& e) {
  Push p(path_, "reference");
  std::string_view target;              // resource type the reference points at, when known
  const Type* target_type = nullptr;    // its rules, when the Bundle index has them
  auto malformed = [this] { error("FHIR_REFERENCE", "malformed reference"); };

  if (ref[0] == '#') {
    const std::string_view id = ref.substr(1);
    if (id.empty()) return;  // the containing resource itself
    if (!format::is_id(id)) return malformed();
    Frame* f = frame_;
    if (f && !f->looked) find_contained(*f);  // "#id" before the contained member
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
    target_type = en->resource_type;
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
        target_type = en->resource_type;
      } else if (base.empty() && rules_.options.require_local_references &&
                 !(rules_.options.allow_external_uuid_references && is_uuid(id))) {
        error("FHIR_REFERENCE_UNRESOLVED", "relative reference matches no entry of the Bundle");
        return;
      }
    }
  }
  if (target.empty() || e.element->target_profiles.empty()) return;
  if (!rules_.target_allowed(e, target, target_type)) {
    error("FHIR_REFERENCE_TARGET", "reference to " + (resource_name(target) ? std::string(target) : "this type") +
                                       " not allowed here (allowed: " + join(e.element->target_profiles) + ")");
  }
}

void FhirValidator::Walk::bundle_rules() {
  const std::string_view type = bundle_type_;
  const bool needs_request = type == "transaction" || type == "batch" || type == "history";
  const bool needs_response = type == "transaction-response" || type == "batch-response" || type == "history";
  if (has_total_ && type != "searchset" && type != "history") {
    Push p(path_, "total");
    error("FHIR_INVARIANT", "bdl-1: total only when a search or history");
  }
  const Value* entries = entries_value_;
  if (type == "message") {
    const EntryInfo* first = entries && entries->IsArray() && !entries->Empty() ? &entries_[0] : nullptr;
    if (!first || !first->resource || !first->resource->IsObject() || first->type != "MessageHeader") {
      error("FHIR_INVARIANT", "bdl-12: a message Bundle must start with a MessageHeader");
    }
  }
  if (!entries || !entries->IsArray()) return;
  Push pe(path_, "entry");
  const bool transaction_or_batch = type == "transaction" || type == "batch";
  for (rapidjson::SizeType i = 0; i < entries->Size(); ++i) {
    if (!(*entries)[i].IsObject()) continue;  // reported by the structural walk
    const EntryInfo& en = entries_[i];
    Push pi(path_, i);
    const Value* res = en.resource;
    const Value* request = en.request;
    const std::string_view full_url = en.full_url;
    const std::string_view rtype = en.type;
    const std::string_view rid = en.id;

    if (!res && !request && !en.has_response) error("FHIR_INVARIANT", "bdl-5: entry must have a resource, request or response");
    if (en.has_search && type != "searchset") {
      Push p(path_, "search");
      error("FHIR_INVARIANT", "bdl-2: entry.search only when a search");
    }
    if (needs_request != (request != nullptr)) {
      error("FHIR_INVARIANT", needs_request ? "bdl-3: entry.request is required in a " + std::string(type) + " Bundle"
                                            : std::string("bdl-3: entry.request only in batch, transaction or history Bundles"));
    }
    if (needs_response != en.has_response) {
      error("FHIR_INVARIANT", needs_response ? "bdl-4: entry.response is required in a " + std::string(type) + " Bundle"
                                             : std::string("bdl-4: entry.response only in batch-response, transaction-response or history Bundles"));
    }
    if (res && full_url.empty() && !en.has_full_url) {
      error("FHIR_BUNDLE_ENTRY", "entry has a resource but no fullUrl");
    } else if (!full_url.empty()) {
      Push p(path_, "fullUrl");
      if (starts(full_url, "urn:uuid:")) {
        // A valid urn:uuid holds no "/", so neither of the checks below applies.
        if (!en.uuid_full_url) {
          error("FHIR_BUNDLE_ENTRY", "fullUrl is not an absolute URI or a valid urn:uuid");
        }
      } else if (!absolute_uri(full_url)) {
        error("FHIR_BUNDLE_ENTRY", "fullUrl is not an absolute URI or a valid urn:uuid");
      } else if ((full_url.starts_with("http://") || full_url.starts_with("https://")) && !rid.empty() &&
                 !full_url.ends_with("/" + std::string(rtype) + "/" + std::string(rid))) {
        error("FHIR_BUNDLE_ENTRY", "fullUrl does not agree with the resource's type and id");
      } else if (full_url.find("/_history/") != std::string_view::npos) {
        error("FHIR_INVARIANT", "bdl-8: fullUrl cannot be a version specific reference");
      }
    }
    if (request && request->IsObject() && res && res->IsObject() && transaction_or_batch) {
      std::string_view method, url;
      bool method_seen = false, url_seen = false;
      for (const auto& m : request->GetObject()) {  // the first of repeated names counts
        const std::string_view n = sv(m.name);
        if (!method_seen && eq(n, "method")) {
          method_seen = true;
          if (m.value.IsString()) method = sv(m.value);
        } else if (!url_seen && eq(n, "url")) {
          url_seen = true;
          if (m.value.IsString()) url = sv(m.value);
        }
      }
      const bool put = eq(method, "PUT");
      if ((put || eq(method, "POST")) && !url.empty()) {
        // The url's type is its text before the first '/' or '?'. It is
        // rtype when url starts with rtype followed by its end, '/' or '?',
        // and rtype holds neither (a known resource type never does).
        const std::size_t k = rtype.size();
        bool agrees = url.size() >= k && same_bytes(url.data(), rtype.data(), k) &&
                      (url.size() == k || url[k] == '/' || url[k] == '?') &&
                      (en.resource_type || rtype.find_first_of("/?") == std::string_view::npos);
        if (agrees && url.size() > k && url[k] == '/') {
          // PUT: the id follows (also catches a PUT of a resource without id); POST: nothing may.
          agrees = put && url.size() - (k + 1) == rid.size() && same_bytes(url.data() + k + 1, rid.data(), rid.size());
        }
        if (!agrees) {
          Push p(path_, "request");
          Push q(path_, "url");
          error("FHIR_BUNDLE_ENTRY", "request.url does not agree with the resource's type and id");
        }
      }
    }
  }
  // bdl-7: fullUrl unique (versioned duplicates aside, which dxnorm never
  // emits). Reported in the order of name_hash(fullUrl), then position, as
  // issues always have been.
  if (duplicates_.empty()) return;
  std::vector<std::pair<std::uint64_t, const Entry*>> order;
  for (const Entry* d : duplicates_) order.emplace_back(name_hash(d->full_url), d);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second->position) < std::tie(b.first, b.second->position);
  });
  for (const auto& [hash, d] : order) {
    Push pi(path_, static_cast<std::size_t>(d->position));
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
  if (is_bundle) walk.bundle_rules();
  return walk.finish();
}

}  // namespace dxnorm::validate
