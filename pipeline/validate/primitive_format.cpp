#include "primitive_format.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace dxnorm::validate::format {
namespace {

bool digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Reads exactly two digits at s[i] into *v.
bool two(std::string_view s, std::size_t i, int* v) noexcept {
  if (i + 2 > s.size() || !digit(s[i]) || !digit(s[i + 1])) return false;
  *v = (s[i] - '0') * 10 + (s[i + 1] - '0');
  return true;
}

// ([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000): four digits, not 0000.
bool year(std::string_view s) noexcept {
  if (s.size() < 4) return false;
  for (int i = 0; i < 4; ++i) {
    if (!digit(s[i])) return false;
  }
  return s.substr(0, 4) != "0000";
}

// YYYY(-MM(-DD)?)? ; sets *consumed. `full` requires all three parts.
bool date_part(std::string_view s, std::size_t* consumed, bool full) noexcept {
  if (!year(s)) return false;
  std::size_t i = 4;
  int v = 0;
  if (i < s.size() && s[i] == '-') {
    if (!two(s, i + 1, &v) || v < 1 || v > 12) return false;
    i += 3;
    if (i < s.size() && s[i] == '-') {
      if (!two(s, i + 1, &v) || v < 1 || v > 31) return false;
      i += 3;
    } else if (full) {
      return false;
    }
  } else if (full) {
    return false;
  }
  *consumed = i;
  return true;
}

// hh:mm:ss(\.[0-9]+)? ; sets *consumed.
bool time_part(std::string_view s, std::size_t* consumed) noexcept {
  int v = 0;
  if (!two(s, 0, &v) || v > 23) return false;
  if (s.size() < 8 || s[2] != ':' || s[5] != ':') return false;
  if (!two(s, 3, &v) || v > 59) return false;
  if (!two(s, 6, &v) || v > 60) return false;
  std::size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    const std::size_t start = ++i;
    while (i < s.size() && digit(s[i])) ++i;
    if (i == start) return false;
  }
  *consumed = i;
  return true;
}

// Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00), the whole rest of s.
bool zone(std::string_view s) noexcept {
  if (s == "Z") return true;
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') return false;
  int h = 0, m = 0;
  if (!two(s, 1, &h) || !two(s, 4, &m)) return false;
  return (h <= 13 && m <= 59) || (h == 14 && m == 0);
}

// Decodes one UTF-8 code point at s[i] (advancing i); invalid bytes yield
// U+FFFD, which is not white space.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
  const auto b = static_cast<unsigned char>(s[i++]);
  if (b < 0x80) return b;
  int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : 0;
  std::uint32_t cp = b & (0x3F >> extra);
  if (extra == 0) return 0xFFFD;
  while (extra-- > 0) {
    if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  }
  return cp;
}

// ECMAScript \s.
bool js_space(std::uint32_t c) noexcept {
  switch (c) {
    case ' ': case '\t': case '\n': case '\v': case '\f': case '\r':
    case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000: case 0xFEFF:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

// True when every code point of s satisfies ok (ASCII costs one compare).
template <class Pred>
bool all_code_points(std::string_view s, Pred ok) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    if (!ok(next_code_point(s, i))) return false;
  }
  return true;
}

// SWAR: true when none of the eight bytes of w is below `limit` (<= 0x80)
// and none has its high bit set, i.e. all are printable ASCII from `limit` on.
constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighs = 0x8080808080808080ull;
inline bool all_at_least(std::uint64_t w, unsigned limit) noexcept {
  return (((w - kOnes * limit) | w) & kHighs) == 0;
}

// Length of the prefix of s made of bytes in [limit, 0x7F], eight at a time.
std::size_t plain_prefix(std::string_view s, unsigned limit) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (!all_at_least(w, limit)) break;
  }
  return i;
}

inline std::uint64_t load8(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// SWAR: the high bit of each byte of w set where that byte is in [lo, hi],
// for bytes below 0x80 (callers reject the others) and lo >= 0x2D.
constexpr std::uint64_t in_range(std::uint64_t w, unsigned lo, unsigned hi) noexcept {
  const std::uint64_t at_least_lo = w + kOnes * (0x80 - lo);  // no carry between bytes: b + 0x53 < 0x100
  const std::uint64_t above_hi = w + kOnes * (0x7F - hi);
  return at_least_lo & ~above_hi & kHighs;
}

// [A-Za-z0-9\-\.] in every byte of w.
constexpr bool id_word(std::uint64_t w) noexcept {
  return (w & kHighs) == 0 && (in_range(w, 'A', 'Z') | in_range(w, 'a', 'z') | in_range(w, '0', '9') |
                               in_range(w, '-', '.')) == kHighs;
}

// [0-9a-f] in every byte of w, except '-' in the bytes of `dashes` (high
// bits of those bytes).
constexpr bool uuid_word(std::uint64_t w, std::uint64_t dashes) noexcept {
  const std::uint64_t hex = in_range(w, '0', '9') | in_range(w, 'a', 'f');
  const std::uint64_t dash = in_range(w, '-', '-');
  return (w & kHighs) == 0 && ((hex & ~dashes) | (dash & dashes)) == kHighs;
}

// [A-Za-z0-9\-\.], by table (ids shorter than a word).
constexpr auto kIdChar = [] {
  std::array<bool, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  t['-'] = t['.'] = true;
  return t;
}();

// A fixed-width pattern of up to eight bytes, checked against a word
// loaded from the text: '0' stands for a digit [0-9], any other byte for
// itself. Each byte of (w ^ tmpl) must then be 0-9 at a digit and 0 at a
// literal, i.e. below `limit` (10 or 1), which (d & 0x7F) + (0x80 - limit)
// tests in the high bit without a carry between bytes.
struct WordPattern {
  std::uint64_t tmpl = 0, add = 0;
  constexpr explicit WordPattern(const char (&p)[9]) {
    for (int i = 0; i < 8; ++i) {
      tmpl |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
      add |= std::uint64_t{p[i] == '0' ? 0x80u - 10 : 0x80u - 1} << (8 * i);
    }
  }
  constexpr bool match(std::uint64_t w) const noexcept {
    const std::uint64_t d = w ^ tmpl;
    return ((((d & ~kHighs) + add) | d) & kHighs) == 0;
  }
};

inline int two_at(const char* p) noexcept { return (p[0] - '0') * 10 + (p[1] - '0'); }

#ifdef __SSE2__
// 0xFF in the bytes of x in [lo, hi] (hi - lo < 0x7F), 0 in the others,
// bytes above 0x7F included: adding 0x80 - lo moves [lo, hi] to the bottom
// of the signed byte range, where one signed compare finds it.
inline __m128i bytes_in(__m128i x, char lo, char hi) noexcept {
  const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
  return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(-128 + (hi - lo) + 1)));
}

inline __m128i load16(const char* p) noexcept { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
#endif

// The form dxnorm writes, YYYY-MM-DDThh:mm:ss followed by Z or (+|-)hh:mm
// (20 or 25 bytes, no fraction): three or four word compares and the field
// ranges. True only where the general parse (date_part, time_part, zone)
// is true too; false means "not shown valid here", and callers then run
// the general parse for the answer.
bool plain_full_date_time(std::string_view s) noexcept {
  const std::size_t n = s.size();
  if (n != 20 && n != 25) return false;
  const char* p = s.data();
  constexpr WordPattern kDate("0000-00-"), kDayTime("00T00:00"), kSecondsZ("0:00:00Z"), kSecondsZone("0:00:00+"),
      kZone("00+00:00");
  const std::uint64_t date = load8(p);
  if (!kDate.match(date) || !kDayTime.match(load8(p + 8)) || (date & 0xffffffffu) == 0x30303030u) return false;
  if (n == 20) {
    if (!kSecondsZ.match(load8(p + 12))) return false;
  } else {
    // The zone's sign as '+' in both words: '-' differs from '+' in bits 0x06 only.
    const std::uint64_t minus = p[19] == '-' ? ('+' ^ '-') : 0;
    if (!kSecondsZone.match(load8(p + 12) ^ (minus << 56)) || !kZone.match(load8(p + 17) ^ (minus << 16))) return false;
    const int h = two_at(p + 20), m = two_at(p + 23);
    if (!((h <= 13 && m <= 59) || (h == 14 && m == 0))) return false;
  }
  const int month = two_at(p + 5), day = two_at(p + 8);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && two_at(p + 11) <= 23 && two_at(p + 14) <= 59 &&
         two_at(p + 17) <= 60;
}

}  // namespace

bool is_date(std::string_view s) noexcept {
  std::size_t n = 0;
  return date_part(s, &n, false) && n == s.size();
}

bool is_date_time(std::string_view s) noexcept {
  if (plain_full_date_time(s)) return true;
  std::size_t n = 0;
  if (!date_part(s, &n, false)) return false;
  if (n == s.size()) return true;
  if (n != 10 || s[n] != 'T') return false;
  std::size_t t = 0;
  const std::string_view rest = s.substr(n + 1);
  return time_part(rest, &t) && zone(rest.substr(t));
}

bool is_instant(std::string_view s) noexcept {
  if (plain_full_date_time(s)) return true;  // a full date and time with a zone
  std::size_t n = 0;
  if (!date_part(s, &n, true) || n >= s.size() || s[n] != 'T') return false;
  std::size_t t = 0;
  const std::string_view rest = s.substr(n + 1);
  return time_part(rest, &t) && zone(rest.substr(t));
}

bool is_time(std::string_view s) noexcept {
  std::size_t t = 0;
  return time_part(s, &t) && t == s.size();
}

bool is_id(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  if (s.size() < 8) {
    for (char c : s) {
      if (!kIdChar[static_cast<unsigned char>(c)]) return false;
    }
    return true;
  }
#ifdef __SSE2__
  if (s.size() >= 16) {
    // Sixteen bytes at a time (resource ids are 36-byte UUIDs): the first
    // and the last sixteen (overlapping), then any between.
    const auto chunk = [](const char* p) {
      const __m128i x = load16(p);
      // x | 0x20 is in [a-z] exactly when x is in [A-Z] or [a-z].
      return _mm_or_si128(_mm_or_si128(bytes_in(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'), bytes_in(x, '0', '9')),
                          bytes_in(x, '-', '.'));
    };
    const char* p = s.data();
    __m128i good = _mm_and_si128(chunk(p), chunk(p + s.size() - 16));
    for (std::size_t i = 16; i + 16 < s.size(); i += 16) good = _mm_and_si128(good, chunk(p + i));
    return _mm_movemask_epi8(good) == 0xFFFF;
  }
#endif
  bool ok = true;
  for (std::size_t i = 0; i + 8 < s.size(); i += 8) ok &= id_word(load8(s.data() + i));
  return ok && id_word(load8(s.data() + s.size() - 8));  // the last eight, overlapping
}

bool is_uri(std::string_view s) noexcept {
  if (is_printable_ascii(s, 0x21)) return true;
  std::size_t i = plain_prefix(s, 0x21);
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) return all_code_points(s.substr(i), [](std::uint32_t cp) { return !js_space(cp); });
    if (c <= ' ' && js_space(c)) return false;
  }
  return true;
}

bool is_code(std::string_view s) noexcept {
  if (s.empty()) return false;
  // Printable ASCII without a space: no white space at all, so valid.
  if (is_printable_ascii(s, 0x21)) return true;
  bool prev_space = true;  // forbids a leading space
  std::size_t i = 0;
  while (i < s.size()) {
    const bool sp = js_space(next_code_point(s, i));
    if (sp && prev_space) return false;
    prev_space = sp;
  }
  return !prev_space;
}

bool is_string(std::string_view s) noexcept {
  if (s.empty()) return false;
  if (is_printable_ascii(s, 0x20)) return true;
  std::size_t i = plain_prefix(s, 0x20);
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      return all_code_points(s.substr(i), [](std::uint32_t cp) {
        return cp == ' ' || cp == '\r' || cp == '\n' || cp == '\t' || !js_space(cp);
      });
    }
    if (c == '\v' || c == '\f') return false;
  }
  return true;
}

bool is_base64(std::string_view s) noexcept {
  std::size_t n = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint32_t c = next_code_point(s, i);
    if (js_space(c)) continue;
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) return false;
    ++n;
  }
  return n > 0 && n % 4 == 0;
}

bool is_uuid(std::string_view s) noexcept {
  constexpr std::string_view kPrefix = "urn:uuid:";
  if (s.size() != kPrefix.size() + 36) return false;
#ifdef __SSE2__
  // The 45 bytes as sixteen at 0, 16 and 29 (overlapping). Per byte either
  // a literal (the prefix, the dashes at 17, 22, 27 and 32) or [0-9a-f].
  const auto chunk = [](const char* p, __m128i literal, __m128i is_literal) {
    const __m128i x = load16(p);
    const __m128i hex = _mm_or_si128(bytes_in(x, '0', '9'), bytes_in(x, 'a', 'f'));
    return _mm_or_si128(_mm_and_si128(_mm_cmpeq_epi8(x, literal), is_literal), _mm_andnot_si128(is_literal, hex));
  };
  constexpr char L = -1;
  const __m128i good = _mm_and_si128(
      _mm_and_si128(chunk(s.data(), _mm_setr_epi8('u', 'r', 'n', ':', 'u', 'u', 'i', 'd', ':', 0, 0, 0, 0, 0, 0, 0),
                          _mm_setr_epi8(L, L, L, L, L, L, L, L, L, 0, 0, 0, 0, 0, 0, 0)),
                    chunk(s.data() + 16, _mm_set1_epi8('-'), _mm_setr_epi8(0, L, 0, 0, 0, 0, L, 0, 0, 0, 0, L, 0, 0, 0, 0))),
      chunk(s.data() + 29, _mm_set1_epi8('-'), _mm_setr_epi8(0, 0, 0, L, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)));
  return _mm_movemask_epi8(good) == 0xFFFF;
#else
  if (!s.starts_with(kPrefix)) return false;
  // 36 bytes as words at 0, 8, 16, 24 and 28; dashes at 8, 13, 18 and 23.
  const char* u = s.data() + kPrefix.size();
  constexpr std::uint64_t kByte0 = 0x80, kByte2 = 0x80ull << 16, kByte5 = 0x80ull << 40, kByte7 = 0x80ull << 56;
  return uuid_word(load8(u), 0) && uuid_word(load8(u + 8), kByte0 | kByte5) &&
         uuid_word(load8(u + 16), kByte2 | kByte7) && uuid_word(load8(u + 24), 0) && uuid_word(load8(u + 28), 0);
#endif
}

bool is_xhtml(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  const std::string_view rest = s.substr(i);
  return rest.starts_with("<div") && rest.size() > 4 &&
         (rest[4] == '>' || rest[4] == ' ' || rest[4] == '/' || rest[4] == '\n' || rest[4] == '\t' || rest[4] == '\r');
}

bool is_decimal(std::string_view s) noexcept {
  std::size_t i = 0, n = s.size();
  if (i < n && s[i] == '-') ++i;
  if (i >= n) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
  } else {
    return false;
  }
  if (i < n && s[i] == '.') {
    ++i;
    std::size_t f = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == f) return false;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t e = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == e) return false;
  }
  return i == n;
}

}  // namespace dxnorm::validate::format
