// Hand-written lexical checks for FHIR R4 primitive types. Each accepts
// exactly what the regex of the primitive's StructureDefinition accepts
// (schemas/fhir-r4/definitions.json "primitives"), without std::regex: these
// run for every primitive of every message. `\s` follows ECMAScript (what
// the official JSON schema's patterns mean), so U+00A0 and friends count as
// white space.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace dxnorm::validate::format {

// True when every byte of s is in [limit, 0x7F] (limit 0x20 or 0x21 only),
// sixteen (SSE2) or eight bytes at a time; never reads outside s. The
// common case of the checks below, inline for the validator's per-primitive
// path: printable ASCII without a space (0x21) is a valid uri and a valid
// non-empty code, and printable ASCII (0x20) a valid non-empty string.
[[gnu::always_inline]] inline bool is_printable_ascii(std::string_view s, unsigned limit) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHighs = 0x8080808080808080ull;
  // Per word, a byte below `limit` or above 0x7F sets some high bit of
  // (w - limit * kOnes) | w, borrows included; valid bytes never do.
  const char* p = s.data();
  const std::size_t n = s.size();
#ifdef __SSE2__
  if (n >= 16) {
    // Sixteen bytes at a time: as signed bytes, those above 0x7F are
    // negative, so "below limit" (a signed compare) finds both kinds. The
    // first and the last sixteen (overlapping) settle up to 32 bytes.
    alignas(16) static constexpr char kLimits[2][16] = {
        {0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20},
        {0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21, 0x21}};
    const __m128i lim = _mm_load_si128(reinterpret_cast<const __m128i*>(kLimits[limit & 1]));
    const auto below = [lim](const char* q) {
      return _mm_cmplt_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)), lim);
    };
    __m128i bad = _mm_or_si128(below(p), below(p + n - 16));
    for (std::size_t i = 16; i + 16 < n; i += 16) bad = _mm_or_si128(bad, below(p + i));
    return _mm_movemask_epi8(bad) == 0;
  }
#endif
  const std::uint64_t sub = kOnes * limit;
  std::uint64_t w, bad = 0;
  if (n >= 8) {
    for (std::size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&w, p + i, 8);
      bad |= (w - sub) | w;
    }
    std::memcpy(&w, p + n - 8, 8);  // the last eight, overlapping
  } else if (n >= 4) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    w = lo | (std::uint64_t{hi} << 32);
  } else if (n > 0) {
    // Bytes 0, n / 2 and n - 1 cover all of 1 to 3; valid filler above them.
    const auto byte = [p](std::size_t k) { return std::uint64_t{static_cast<unsigned char>(p[k])}; };
    w = 0x7f7f7f7f7f000000ull | byte(0) | (byte(n / 2) << 8) | (byte(n - 1) << 16);
  } else {
    return true;
  }
  bad |= (w - sub) | w;
  return (bad & kHighs) == 0;
}

bool is_decimal(std::string_view s) noexcept;    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_date(std::string_view s) noexcept;       // YYYY, YYYY-MM, YYYY-MM-DD
bool is_date_time(std::string_view s) noexcept;  // date, or date T time with zone
bool is_instant(std::string_view s) noexcept;    // full date T time with zone
bool is_time(std::string_view s) noexcept;       // hh:mm:ss(.f+)?
bool is_id(std::string_view s) noexcept;         // [A-Za-z0-9\-\.]{1,64}
bool is_uri(std::string_view s) noexcept;        // \S* (also url, canonical)
bool is_code(std::string_view s) noexcept;       // [^\s]+(\s[^\s]+)*
bool is_string(std::string_view s) noexcept;     // [ \r\n\t\S]+ (also markdown)
bool is_base64(std::string_view s) noexcept;     // (\s*([0-9a-zA-Z\+/=]){4}\s*)+
bool is_uuid(std::string_view s) noexcept;       // urn:uuid: + lower-case 8-4-4-4-12
bool is_xhtml(std::string_view s) noexcept;      // non-empty, root element <div

}  // namespace dxnorm::validate::format
