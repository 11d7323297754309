#include "pipeline/core/fhir_json.h"

#include <rapidjson/prettywriter.h>

#include <algorithm>
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
// 0xFF in the bytes of x that are a control character, '"' or '\\'. x ^ 0x82
// maps exactly the controls and '"' (0x22 -> 0xA0) below 0xA1 as signed bytes.
DXNORM_ALWAYS_INLINE __m128i escape_bytes(__m128i x) {
  const __m128i low = _mm_cmplt_epi8(_mm_xor_si128(x, _mm_set1_epi8(static_cast<char>(0x82))),
                                     _mm_set1_epi8(static_cast<char>(0xA1)));
  return _mm_or_si128(low, _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
}
// Bit i set: byte i of x needs escaping.
DXNORM_ALWAYS_INLINE unsigned escape_mask(__m128i x) {
  return static_cast<unsigned>(_mm_movemask_epi8(escape_bytes(x)));
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

// Copies s[0, n) to d[0, n); nonzero when some byte of it needs escaping (d
// then holds garbage). Reads only inside s: short strings and tails use
// overlapping loads, never over-reads, as a string may end at the end of
// rapidjson's pool chunk.
DXNORM_ALWAYS_INLINE unsigned copy_dirty(char* d, const char* s, std::size_t n) {
#if defined(__SSE2__)
  // Two tests reach any length class up to 32 bytes (most keys have 4-7
  // bytes, many values 16-48: system URIs, dates, references).
  if (n >= 8) {
    if (n < 16) {
      const auto a = load<std::uint64_t>(s), b = load<std::uint64_t>(s + n - 8);
      store(d, a);
      store(d + n - 8, b);
      return escape_mask(_mm_set_epi64x(static_cast<long long>(b), static_cast<long long>(a)));
    }
    if (n <= 32) {
      // Two blocks, overlapping unless n is 32.
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
      const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), x);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), y);
      return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(escape_bytes(x), escape_bytes(y))));
    }
    if (n <= 48) {
      // Three blocks (urn:uuid: references have 45 bytes), the last overlapping.
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
      const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16));
      const __m128i z = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), x);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 16), y);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), z);
      return static_cast<unsigned>(
          _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(escape_bytes(x), escape_bytes(y)), escape_bytes(z))));
    }
    // Two accumulators, tested after the last block: the unsigned minimum of
    // x ^ 0x02 (the controls and '"' map to 0x00-0x20, every other byte above)
    // and x == '\\'. Two vector operations per block.
    const __m128i flip = _mm_set1_epi8(0x02), backslash = _mm_set1_epi8('\\');
    __m128i low = _mm_set1_epi8(-1), back = _mm_setzero_si128();
    for (std::size_t i = 0; i + 16 < n; i += 16) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), x);
      low = _mm_min_epu8(low, _mm_xor_si128(x, flip));
      back = _mm_or_si128(back, _mm_cmpeq_epi8(x, backslash));
    }
    // The last 16 bytes, overlapping bytes already copied.
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + n - 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), x);
    low = _mm_min_epu8(low, _mm_xor_si128(x, flip));
    back = _mm_or_si128(back, _mm_cmpeq_epi8(x, backslash));
    const __m128i hit = _mm_cmpeq_epi8(_mm_min_epu8(low, _mm_set1_epi8(0x20)), low);
    return static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(hit, back)));
  }
  if (n >= 4) {
    const auto a = load<std::uint32_t>(s), b = load<std::uint32_t>(s + n - 4);
    store(d, a);
    store(d + n - 4, b);
    // Only lanes 0-7 hold bytes of s (the zeroed rest would match as controls).
    const __m128i x = _mm_unpacklo_epi32(_mm_cvtsi32_si128(static_cast<int>(a)), _mm_cvtsi32_si128(static_cast<int>(b)));
    return escape_mask(x) & 0xFF;
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
    return dirty;
  }
  if (n >= 4) {
    const auto a = load<std::uint32_t>(s), b = load<std::uint32_t>(s + n - 4);
    store(d, a);
    store(d + n - 4, b);
    return word_needs_escape(a) || word_needs_escape(b);
  }
#endif
  if (n == 0) return 0;
  // 1 to 3 bytes: the first, middle and last cover them all.
  const char a = s[0], b = s[n / 2], c = s[n - 1];
  d[0] = a;
  d[n / 2] = b;
  d[n - 1] = c;
  return kEscape.needs[static_cast<unsigned char>(a)] | kEscape.needs[static_cast<unsigned char>(b)] |
         kEscape.needs[static_cast<unsigned char>(c)];
}

// The output: bytes pushed onto the StringBuffer ahead of need (a window) and
// written through a raw pointer `d` that every writer takes and returns. A
// local pointer stays in a register (a StringBuffer's top, written through
// char stores that may alias it, would be reloaded and stored back per token),
// and one room() check covers a whole string with its punctuation.
// Contract: every write of n bytes at d follows room(d, n); the caller of
// start() must call finish() with the final d, which gives back the unused
// rest of the window (until then the StringBuffer's size counts it).
class Sink {
 public:
  explicit Sink(rapidjson::StringBuffer& sb) : sb_(sb) {}

  char* start() {
    end_ = sb_.Push(0);
    return end_;
  }
  void finish(char* d) { sb_.Pop(static_cast<std::size_t>(end_ - d)); }
  // Where d is in the StringBuffer's bytes (d moves with the window; this does not).
  std::size_t offset(const char* d) const { return sb_.GetSize() - static_cast<std::size_t>(end_ - d); }

  // d, or the same position in a new window: at least n bytes writable.
  DXNORM_ALWAYS_INLINE char* room(char* d, std::size_t n) {
    return static_cast<std::size_t>(end_ - d) >= n ? d : grow(d, n);
  }

 private:
  DXNORM_NOINLINE char* grow(char* d, std::size_t n) {
    finish(d);
    // At least 4 KB (the StringBuffer grows by half when that is more than
    // it holds, so a document reallocates O(log n) times; a reused buffer
    // soon stops growing).
    const std::size_t k = std::max<std::size_t>(n, 4096);
    d = sb_.Push(k);
    end_ = d + k;
    return d;
  }

  rapidjson::StringBuffer& sb_;
  char* end_ = nullptr;
};

// Copies a literal (the size is a constant: no call to memcpy).
template <std::size_t N>
DXNORM_ALWAYS_INLINE char* put_lit(Sink& out, char* d, const char (&lit)[N]) {
  d = out.room(d, N - 1);
  std::memcpy(d, lit, N - 1);
  return d + N - 1;
}
DXNORM_ALWAYS_INLINE char* put_char(Sink& out, char* d, char c) {
  d = out.room(d, 1);
  *d = c;
  return d + 1;
}

// The escape of c (one of kEscape) at d; at most 6 bytes.
char* put_escape(char* d, unsigned char c) {
  char e = 0;
  switch (c) {
    case '"': e = '"'; break;
    case '\\': e = '\\'; break;
    case '\n': e = 'n'; break;
    case '\r': e = 'r'; break;
    case '\t': e = 't'; break;
    case '\b': e = 'b'; break;
    case '\f': e = 'f'; break;
    default: {
      static constexpr char hex[] = "0123456789abcdef";
      const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      std::memcpy(d, u, 6);
      return d + 6;
    }
  }
  d[0] = '\\';
  d[1] = e;
  return d + 2;
}

// The quoted body of a string that has something to escape (rare), at d with
// room for 6 bytes per byte of s.
DXNORM_NOINLINE char* put_escaped_body(char* d, const char* s, std::size_t n) {
  while (n) {
    const std::size_t k = find_escape(s, n);
    std::memcpy(d, s, k);
    d += k;
    if (k == n) break;
    d = put_escape(d, static_cast<unsigned char>(s[k]));
    s += k + 1;
    n -= k + 1;
  }
  return d;
}

// Writes [prefix]"s": for a member name s (prefix: '{' or ',', 0 for none).
// Copies optimistically, as nearly every FHIR string has nothing to escape;
// otherwise writes the body again, escaped.
DXNORM_ALWAYS_INLINE char* put_key(Sink& out, char* d, const char* s, std::size_t n, char prefix) {
  d = out.room(d, n + 4);
  *d = prefix;
  d += prefix != 0;
  *d = '"';
  if (!copy_dirty(d + 1, s, n)) [[likely]] {
    d[n + 1] = '"';
    d[n + 2] = ':';
    return d + n + 3;
  }
  d = out.room(d + 1, 6 * n + 2);
  d = put_escaped_body(d, s, n);
  d[0] = '"';
  d[1] = ':';
  return d + 2;
}

// A raw number bare, or else the quoted string, escaped: [prefix] and the
// value s[0, n) at d, for the strings in which copy_dirty() found something
// to escape (as kRawNumberTag is a control character, raw numbers too).
DXNORM_NOINLINE char* put_dirty_value(Sink& out, char* d, const char* s, std::size_t n, char prefix) {
  if (n && s[0] == kRawNumberTag) {
    d = out.room(d, n);
    *d = prefix;
    d += prefix != 0;
    std::memcpy(d, s + 1, n - 1);
    return d + n - 1;
  }
  d = out.room(d, 6 * n + 3);
  *d = prefix;
  d += prefix != 0;
  *d++ = '"';
  d = put_escaped_body(d, s, n);
  *d = '"';
  return d + 1;
}
static_assert(kEscape.needs[static_cast<unsigned char>(kRawNumberTag)],
              "the value writers find raw numbers among the strings to escape");

// A string value: a raw number (kRawNumberTag) bare, anything else quoted.
DXNORM_ALWAYS_INLINE char* emit_string(const rapidjson::Value& v, char* d, Sink& out, char prefix) {
  const char* s = v.GetString();
  const std::size_t n = v.GetStringLength();
  d = out.room(d, n + 3);
  char* const at = d;
  *d = prefix;
  d += prefix != 0;
  *d = '"';
  if (copy_dirty(d + 1, s, n)) [[unlikely]] return put_dirty_value(out, at, s, n, prefix);
  d[n + 1] = '"';
  return d + n + 2;
}

// prefix"name":v for a string v (most members of a FHIR object), with one
// room() check for both strings, the prefix, four quotes and the colon.
DXNORM_ALWAYS_INLINE char* put_string_member(Sink& out, char* d, char prefix, const char* name, std::size_t name_size,
                                             const rapidjson::Value& v) {
  const char* s = v.GetString();
  const std::size_t n = v.GetStringLength();
  d = out.room(d, name_size + n + 6);
  d[0] = prefix;
  d[1] = '"';
  if (copy_dirty(d + 2, name, name_size)) [[unlikely]] {
    d = put_key(out, d, name, name_size, prefix);
    return emit_string(v, d, out, 0);
  }
  d[name_size + 2] = '"';
  d[name_size + 3] = ':';
  d += name_size + 4;
  // The room left holds the quoted value.
  d[0] = '"';
  if (copy_dirty(d + 1, s, n)) [[unlikely]] return put_dirty_value(out, d, s, n, 0);
  d[n + 1] = '"';
  return d + n + 2;
}

// Null, booleans and numbers (rare in FHIR: decimals are raw-number strings).
DXNORM_NOINLINE char* emit_scalar(const rapidjson::Value& v, char* d, Sink& out) {
  switch (v.GetType()) {
    case rapidjson::kNullType: return put_lit(out, d, "null");
    case rapidjson::kFalseType: return put_lit(out, d, "false");
    case rapidjson::kTrueType: return put_lit(out, d, "true");
    case rapidjson::kNumberType: {
      constexpr std::size_t kMax = 32;  // the longest double is 24 bytes
      d = out.room(d, kMax);
      if (v.IsInt64()) return std::to_chars(d, d + kMax, v.GetInt64()).ptr;
      if (v.IsUint64()) return std::to_chars(d, d + kMax, v.GetUint64()).ptr;
      return std::to_chars(d, d + kMax, v.GetDouble()).ptr;
    }
    default: return d;  // strings and containers: emit_value
  }
}

char* emit_object(const rapidjson::Value& v, char* d, Sink& out);
char* emit_array(const rapidjson::Value& v, char* d, Sink& out);

// [prefix]v. Strings, most values, are written here rather than through a call.
DXNORM_ALWAYS_INLINE char* emit_value(const rapidjson::Value& v, char* d, Sink& out, char prefix = 0) {
  if (v.IsString()) return emit_string(v, d, out, prefix);
  if (prefix) d = put_char(out, d, prefix);
  if (v.IsObject()) return emit_object(v, d, out);
  if (v.IsArray()) return emit_array(v, d, out);
  return emit_scalar(v, d, out);
}

DXNORM_ALWAYS_INLINE char* emit_elements(const rapidjson::Value& v, char* d, Sink& out) {
  if (v.Empty()) return put_lit(out, d, "[]");
  char sep = '[';
  for (const auto& x : v.GetArray()) {
    d = emit_value(x, d, out, sep);
    sep = ',';
  }
  return put_char(out, d, ']');
}

char* emit_array(const rapidjson::Value& v, char* d, Sink& out) { return emit_elements(v, d, out); }

char* emit_object(const rapidjson::Value& v, char* d, Sink& out) {
  if (v.ObjectEmpty()) return put_lit(out, d, "{}");
  char sep = '{';
  for (const auto& m : v.GetObject()) {
    const char* name = m.name.GetString();
    const std::size_t name_size = m.name.GetStringLength();
    const char prefix = sep;
    sep = ',';
    // Strings first, the commonest values.
    if (m.value.IsString()) {
      d = put_string_member(out, d, prefix, name, name_size, m.value);
      continue;
    }
    d = put_key(out, d, name, name_size, prefix);
    // An array (coding, identifier: mostly one object) is written here
    // rather than through a call.
    if (m.value.IsArray()) d = emit_elements(m.value, d, out);
    else d = emit_value(m.value, d, out);
  }
  return put_char(out, d, '}');
}

char* emit_compact(const rapidjson::Value& v, char* d, Sink& out) { return emit_value(v, d, out); }

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
    Sink sink(out);
    sink.finish(emit_compact(v, sink.start(), sink));
  }
}

namespace {
// Where write_fhir_bundle's output takes a resource text: before byte `at` of
// the rest of the Bundle.
struct Splice {
  std::size_t at;
  std::string_view text;
};

// write_fhir_bundle's entry: {..."resource":<text>...}, the text left out.
char* emit_entry(const rapidjson::Value& entry, std::string_view resource, char* d, Sink& out,
                 std::vector<Splice>& splices) {
  if (entry.ObjectEmpty()) return put_lit(out, d, "{}");
  char sep = '{';
  for (const auto& m : entry.GetObject()) {
    d = put_key(out, d, m.name.GetString(), m.name.GetStringLength(), sep);
    sep = ',';
    if (name_is(m.name, "resource")) splices.push_back({out.offset(d), resource});
    else d = emit_value(m.value, d, out);
  }
  return put_char(out, d, '}');
}

char* emit_bundle(const rapidjson::Value& bundle, const std::vector<std::string_view>& resources, char* d,
                  Sink& out, std::vector<Splice>& splices) {
  if (!bundle.IsObject() || bundle.ObjectEmpty()) return emit_compact(bundle, d, out);
  char sep = '{';
  for (const auto& m : bundle.GetObject()) {
    d = put_key(out, d, m.name.GetString(), m.name.GetStringLength(), sep);
    sep = ',';
    if (!name_is(m.name, "entry") || !m.value.IsArray() || m.value.Empty()) {
      d = emit_value(m.value, d, out);
      continue;
    }
    char esep = '[';
    for (rapidjson::SizeType i = 0; i < m.value.Size(); ++i) {
      d = put_char(out, d, esep);
      esep = ',';
      const auto& entry = m.value[i];
      if (entry.IsObject() && i < resources.size()) d = emit_entry(entry, resources[i], d, out, splices);
      else d = emit_compact(entry, d, out);
    }
    d = put_char(out, d, ']');
  }
  return put_char(out, d, '}');
}
}  // namespace

void write_fhir_bundle(const rapidjson::Value& bundle, const std::vector<std::string_view>& resources,
                       rapidjson::StringBuffer& scratch, std::string& out) {
  scratch.Clear();
  std::vector<Splice> splices;
  splices.reserve(resources.size());
  Sink sink(scratch);
  sink.finish(emit_bundle(bundle, resources, sink.start(), sink, splices));

  const char* rest = scratch.GetString();
  std::size_t size = scratch.GetSize();
  for (const auto& s : splices) size += s.text.size();
  out.clear();
  out.reserve(size);
  std::size_t from = 0;
  for (const auto& s : splices) {
    out.append(rest + from, s.at - from).append(s.text);
    from = s.at;
  }
  out.append(rest + from, scratch.GetSize() - from);
}

std::string to_fhir_json(const rapidjson::Value& v, bool pretty) {
  rapidjson::StringBuffer sb;
  write_fhir_json(v, sb, pretty);
  return {sb.GetString(), sb.GetSize()};
}

}  // namespace dxnorm::fhir
