#include "pipeline/core/fhir_json.h"

#include <rapidjson/prettywriter.h>

#include <charconv>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace dxnorm::fhir {

namespace {

// The compact writer below runs for every message and every resource, so it
// writes into the StringBuffer directly. Its bytes are the contract (Kafka
// redeliveries are compared byte for byte): member order as in the DOM, no
// whitespace, '"' '\\' and control characters escaped (\b \f \n \r \t, else
// \u00xx with LOWER-case hex, where rapidjson::Writer writes upper case), '/'
// and all bytes >= 0x80 passed through unchanged (no UTF-8 validation),
// integers in decimal, doubles by std::to_chars (shortest round trip).

// Bytes that JSON strings must escape: '"', '\\' and control characters.
struct EscapeTable {
  bool needs[256] = {};
  constexpr EscapeTable() {
    for (int c = 0; c < 0x20; ++c) needs[c] = true;
    needs[static_cast<unsigned char>('"')] = true;
    needs[static_cast<unsigned char>('\\')] = true;
  }
};
constexpr EscapeTable kEscape;

inline void put(rapidjson::StringBuffer& out, const char* p, std::size_t n) {
  if (n) std::memcpy(out.Push(n), p, n);
}
inline void put(rapidjson::StringBuffer& out, char c) { *out.Push(1) = c; }

#if defined(__GNUC__)
#define DXNORM_ALWAYS_INLINE [[gnu::always_inline]] inline
#define DXNORM_NOINLINE [[gnu::noinline]]
#else
#define DXNORM_ALWAYS_INLINE inline
#define DXNORM_NOINLINE
#endif

template <class W>
inline W load(const char* p) {
  W w;
  std::memcpy(&w, p, sizeof w);
  return w;
}
template <class W>
inline void store(char* p, W w) {
  std::memcpy(p, &w, sizeof w);
}

inline std::size_t scalar_find_escape(const char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n && !kEscape.needs[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

#if defined(__SSE2__)
// Bit i set: byte i of x is a control character, '"' or '\\'.
DXNORM_ALWAYS_INLINE unsigned escape_mask(__m128i x) {
  const __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                              _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
                                 _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1F)), x));  // x <= 0x1F, unsigned
  return static_cast<unsigned>(_mm_movemask_epi8(m));
}
#else
// Whether any byte of a word is a control character, '"' or '\\'. Exact as a
// yes/no answer (the bit positions are not: borrows may mark later bytes).
template <class W>
inline bool word_needs_escape(W x) {
  constexpr W ones = static_cast<W>(~W{0}) / 0xFF, high = ones * 0x80;
  const W q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}
#endif

// Index of the first byte of s[0, n) that needs escaping, or n.
std::size_t find_escape(const char* s, std::size_t n) {
#if defined(__SSE2__)
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    if (unsigned m = escape_mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))))
      return i + static_cast<std::size_t>(__builtin_ctz(m));
  return i + scalar_find_escape(s + i, n - i);
#else
  return scalar_find_escape(s, n);
#endif
}

// Copies s[0, n) to d[0, n) and tells whether none of it needs escaping (if
// it does, d holds garbage). Reads only inside s: short strings and tails use
// overlapping loads, never over-reads, as a string may end at the end of
// rapidjson's pool chunk.
DXNORM_ALWAYS_INLINE bool copy_clean(char* d, const char* s, std::size_t n) {
#if defined(__SSE2__)
  if (n >= 16) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), x);
      if (escape_mask(x)) return false;
    }
    if (i == n) return true;
    // The last 16 bytes, overlapping bytes already checked and copied.
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), x);
    return escape_mask(x) == 0;
  }
  if (n >= 8) {
    const auto a = load<std::uint64_t>(s), b = load<std::uint64_t>(s + n - 8);
    store(d, a);
    store(d + n - 8, b);
    return escape_mask(_mm_set_epi64x(static_cast<long long>(b), static_cast<long long>(a))) == 0;
  }
  if (n >= 4) {
    const auto a = load<std::uint32_t>(s), b = load<std::uint32_t>(s + n - 4);
    store(d, a);
    store(d + n - 4, b);
    // Only lanes 0-7 hold bytes of s (the zeroed rest would match as controls).
    return (escape_mask(_mm_set_epi32(0, 0, static_cast<int>(b), static_cast<int>(a))) & 0xFF) == 0;
  }
#else
  if (n >= 8) {
    std::size_t i = 0;
    bool dirty = false;
    for (; i + 8 <= n; i += 8) {
      const auto w = load<std::uint64_t>(s + i);
      store(d + i, w);
      dirty |= word_needs_escape(w);
    }
    if (i < n) {
      const auto w = load<std::uint64_t>(s + n - 8);
      store(d + n - 8, w);
      dirty |= word_needs_escape(w);
    }
    return !dirty;
  }
  if (n >= 4) {
    const auto a = load<std::uint32_t>(s), b = load<std::uint32_t>(s + n - 4);
    store(d, a);
    store(d + n - 4, b);
    return !word_needs_escape(a) && !word_needs_escape(b);
  }
#endif
  if (n == 0) return true;
  // 1 to 3 bytes: the first, middle and last cover them all.
  const char a = s[0], b = s[n / 2], c = s[n - 1];
  d[0] = a;
  d[n / 2] = b;
  d[n - 1] = c;
  return !(kEscape.needs[static_cast<unsigned char>(a)] | kEscape.needs[static_cast<unsigned char>(b)] |
           kEscape.needs[static_cast<unsigned char>(c)]);
}

void put_escape(rapidjson::StringBuffer& out, unsigned char c) {
  switch (c) {
    case '"': put(out, "\\\"", 2); break;
    case '\\': put(out, "\\\\", 2); break;
    case '\n': put(out, "\\n", 2); break;
    case '\r': put(out, "\\r", 2); break;
    case '\t': put(out, "\\t", 2); break;
    case '\b': put(out, "\\b", 2); break;
    case '\f': put(out, "\\f", 2); break;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(out, u, 6);
    }
  }
}

// The quoted body of a string that has something to escape (rare).
DXNORM_NOINLINE void put_escaped_body(rapidjson::StringBuffer& out, const char* s, std::size_t n) {
  while (n) {
    const std::size_t k = find_escape(s, n);
    put(out, s, k);
    if (k == n) break;
    put_escape(out, static_cast<unsigned char>(s[k]));
    s += k + 1;
    n -= k + 1;
  }
}

// Writes [,]"s"[:] (comma: a separator first; colon: s is a key). Copies
// optimistically into the escape-free size, which nearly every FHIR string
// has; otherwise takes that back and escapes.
DXNORM_ALWAYS_INLINE void put_string(rapidjson::StringBuffer& out, const char* s, std::size_t n, bool comma = false,
                                     bool colon = false) {
  const std::size_t size = n + 2 + comma + colon;
  char* d = out.Push(size);
  *d = ',';
  d += comma;
  *d = '"';
  if (copy_clean(d + 1, s, n)) {
    d[n + 1] = '"';
    if (colon) d[n + 2] = ':';
    return;
  }
  out.Pop(size - 1 - comma);
  put_escaped_body(out, s, n);
  put(out, colon ? "\":" : "\"", 1 + colon);
}

void emit_compact(const rapidjson::Value& v, rapidjson::StringBuffer& out);

// A string value: a raw number (kRawNumberTag) bare, anything else quoted.
DXNORM_ALWAYS_INLINE void emit_string(const rapidjson::Value& v, rapidjson::StringBuffer& out) {
  const char* s = v.GetString();
  const std::size_t n = v.GetStringLength();
  if (n && s[0] == kRawNumberTag) put(out, s + 1, n - 1);
  else put_string(out, s, n);
}

// Values are mostly strings: those are written here rather than through a
// recursive call.
DXNORM_ALWAYS_INLINE void emit_value(const rapidjson::Value& v, rapidjson::StringBuffer& out) {
  if (v.IsString()) emit_string(v, out);
  else emit_compact(v, out);
}

DXNORM_ALWAYS_INLINE void emit_key(const rapidjson::Value& name, bool first, rapidjson::StringBuffer& out) {
  put_string(out, name.GetString(), name.GetStringLength(), !first, true);
}

void emit_compact(const rapidjson::Value& v, rapidjson::StringBuffer& out) {
  switch (v.GetType()) {
    case rapidjson::kNullType: put(out, "null", 4); break;
    case rapidjson::kFalseType: put(out, "false", 5); break;
    case rapidjson::kTrueType: put(out, "true", 4); break;
    case rapidjson::kNumberType: {
      char buf[32];
      std::to_chars_result r;
      if (v.IsInt64()) r = std::to_chars(buf, buf + sizeof buf, v.GetInt64());
      else if (v.IsUint64()) r = std::to_chars(buf, buf + sizeof buf, v.GetUint64());
      else r = std::to_chars(buf, buf + sizeof buf, v.GetDouble());
      put(out, buf, static_cast<std::size_t>(r.ptr - buf));
      break;
    }
    case rapidjson::kStringType: emit_string(v, out); break;
    case rapidjson::kArrayType: {
      put(out, '[');
      bool first = true;
      for (const auto& x : v.GetArray()) {
        if (!first) put(out, ',');
        first = false;
        emit_value(x, out);
      }
      put(out, ']');
      break;
    }
    case rapidjson::kObjectType: {
      put(out, '{');
      bool first = true;
      for (const auto& m : v.GetObject()) {
        emit_key(m.name, first, out);
        first = false;
        emit_value(m.value, out);
      }
      put(out, '}');
      break;
    }
  }
}

inline bool name_is(const rapidjson::Value& name, std::string_view s) {
  return name.GetStringLength() == s.size() && std::memcmp(name.GetString(), s.data(), s.size()) == 0;
}

template <class W>
void emit(const rapidjson::Value& v, W& w) {
  switch (v.GetType()) {
    case rapidjson::kNullType: w.Null(); break;
    case rapidjson::kFalseType: w.Bool(false); break;
    case rapidjson::kTrueType: w.Bool(true); break;
    case rapidjson::kNumberType:
      if (v.IsInt64()) w.Int64(v.GetInt64());
      else if (v.IsUint64()) w.Uint64(v.GetUint64());
      else w.Double(v.GetDouble());
      break;
    case rapidjson::kStringType:
      if (is_raw_number(v)) {
        auto t = raw_number_text(v);
        w.RawValue(t.data(), t.size(), rapidjson::kNumberType);
      } else {
        w.String(v.GetString(), v.GetStringLength());
      }
      break;
    case rapidjson::kArrayType:
      w.StartArray();
      for (const auto& x : v.GetArray()) emit(x, w);
      w.EndArray();
      break;
    case rapidjson::kObjectType:
      w.StartObject();
      for (const auto& m : v.GetObject()) {
        w.Key(m.name.GetString(), m.name.GetStringLength());
        emit(m.value, w);
      }
      w.EndObject();
      break;
  }
}
}  // namespace

// Hazard: rapidjson 1.1.0's SSE2 string scan, compiled in for
// Writer<StringBuffer> when RAPIDJSON_SSE2 is defined (as here), leaves bytes
// 0x1A-0x1F unescaped in strings of 16 bytes or more: invalid JSON. Through
// any other stream type the writer takes its byte-wise path, which escapes
// every control character (fhir_json_test holds this).
namespace {
struct ByteWiseStream {
  using Ch = char;
  rapidjson::StringBuffer& out;
  void Put(char c) { out.Put(c); }
  void Flush() {}
};
}  // namespace

void write_fhir_json(const rapidjson::Value& v, rapidjson::StringBuffer& out, bool pretty) {
  if (pretty) {
    ByteWiseStream stream{out};
    rapidjson::PrettyWriter<ByteWiseStream> w(stream);
    w.SetIndent(' ', 2);
    emit(v, w);
  } else {
    emit_compact(v, out);
  }
}

void write_fhir_bundle(const rapidjson::Value& bundle, const std::vector<std::string_view>& resources,
                       rapidjson::StringBuffer& out) {
  if (!bundle.IsObject()) return emit_compact(bundle, out);
  put(out, '{');
  bool first = true;
  for (const auto& m : bundle.GetObject()) {
    emit_key(m.name, first, out);
    first = false;
    if (!name_is(m.name, "entry") || !m.value.IsArray()) {
      emit_value(m.value, out);
      continue;
    }
    put(out, '[');
    for (rapidjson::SizeType i = 0; i < m.value.Size(); ++i) {
      if (i) put(out, ',');
      const auto& entry = m.value[i];
      if (!entry.IsObject() || i >= resources.size()) {
        emit_compact(entry, out);
        continue;
      }
      put(out, '{');
      bool efirst = true;
      for (const auto& em : entry.GetObject()) {
        emit_key(em.name, efirst, out);
        efirst = false;
        if (name_is(em.name, "resource")) put(out, resources[i].data(), resources[i].size());
        else emit_value(em.value, out);
      }
      put(out, '}');
    }
    put(out, ']');
  }
  put(out, '}');
}

std::string to_fhir_json(const rapidjson::Value& v, bool pretty) {
  rapidjson::StringBuffer sb;
  write_fhir_json(v, sb, pretty);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace dxnorm::fhir
