#include "pipeline/parse/hl7v2/hl7v2_value.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace dxnorm::hl7v2 {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool all_hex(std::string_view s) noexcept {
  for (char c : s) {
    if (hex_value(c) < 0) return false;
  }
  return true;
}

// Decodes the text between two escape characters into `out`. Returns false
// when the sequence is not a known escape (the caller then keeps it literally).
bool decode_escape(std::string_view seq, const Delimiters& d, std::string& out) {
  if (seq.empty()) return false;
  if (seq.size() == 1) {
    switch (seq[0]) {
      case 'F': out += d.field; return true;
      case 'S': out += d.component; return true;
      case 'T': out += d.subcomponent; return true;
      case 'R': out += d.repetition; return true;
      case 'E': out += d.escape; return true;
      case 'P':
        if (d.truncation == 0) return false;
        out += d.truncation;
        return true;
      case 'H':
      case 'N': return true;  // highlight on/off: no rendering in FHIR strings
      default: return false;
    }
  }
  switch (seq[0]) {
    case 'X': {  // \Xhhhh..\ : raw bytes
      const std::string_view hex = seq.substr(1);
      if (hex.size() % 2 != 0 || !all_hex(hex)) return false;
      for (std::size_t i = 0; i < hex.size(); i += 2) {
        out += static_cast<char>(hex_value(hex[i]) * 16 + hex_value(hex[i + 1]));
      }
      return true;
    }
    case 'C':  // \Cxxyy\ : single-byte character set switch (ISO 2022); dropped
      return seq.size() == 5 && all_hex(seq.substr(1));
    case 'M':  // \Mxxyy\ or \Mxxyyzz\ : multi-byte character set switch; dropped
      return (seq.size() == 5 || seq.size() == 7) && all_hex(seq.substr(1));
    case 'Z':  // locally defined escape: no meaning we could know; keep literally
      return false;
    case '.': {  // formatted text (FT) commands
      const std::string_view cmd = seq.substr(1);
      if (cmd.size() < 2) return false;
      const std::string_view name = cmd.substr(0, 2);
      const std::string_view arg = cmd.substr(2);
      // Arguments: optional sign and digits, e.g. \.sp2\ \.in+4\ \.ti-2\.
      std::size_t k = 0;
      if (k < arg.size() && (arg[k] == '+' || arg[k] == '-')) ++k;
      while (k < arg.size() && arg[k] >= '0' && arg[k] <= '9') ++k;
      if (k != arg.size()) return false;
      if (name == "br") return arg.empty() ? (out += '\n', true) : false;
      if (name == "sp") {  // skip n lines (default 1): one line break each, capped
        int n = 0;
        for (char c : arg) {
          if (c >= '0' && c <= '9' && n < 100) n = n * 10 + (c - '0');
        }
        if (arg.empty() || n < 1) n = 1;
        if (n > 10) n = 10;
        out.append(static_cast<std::size_t>(n), '\n');
        return true;
      }
      if (name == "fi" || name == "nf" || name == "in" || name == "ti" || name == "sk" || name == "ce") return true;
      return false;
    }
    default:
      return false;
  }
}

}  // namespace

std::string_view nth_part(std::string_view raw, char sep, std::size_t n) noexcept {
  if (n == 0 || raw.empty()) return {};
  const char* p = raw.data();
  const char* const end = p + raw.size();
  for (std::size_t i = 1; i < n; ++i) {
    const void* hit = std::memchr(p, sep, static_cast<std::size_t>(end - p));
    if (hit == nullptr) return {};
    p = static_cast<const char*>(hit) + 1;
  }
  const void* hit = std::memchr(p, sep, static_cast<std::size_t>(end - p));
  const char* stop = hit ? static_cast<const char*>(hit) : end;
  return std::string_view(p, static_cast<std::size_t>(stop - p));
}

const char* find_any_of(const char* b, const char* e, const char* limit, char x, char y, char z) noexcept {
  const char* p = b;
#if defined(__SSE2__)
  const __m128i vx = _mm_set1_epi8(x), vy = _mm_set1_epi8(y), vz = _mm_set1_epi8(z);
  // Whole 16-byte blocks as long as they stay inside the buffer (up to
  // `limit`), bits past `e` masked off: short values need no byte loop.
  while (p < e && limit - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vx), _mm_cmpeq_epi8(v, vy)), _mm_cmpeq_epi8(v, vz));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (e - p < 16) mask &= (1u << (e - p)) - 1u;
    if (mask) return p + __builtin_ctz(mask);
    p += 16;
  }
#else
  (void)limit;
#endif
  for (; p < e; ++p)
    if (*p == x || *p == y || *p == z) return p;
  return e;
}

std::string_view part_at(std::string_view field, const Delimiters& d, std::size_t rep, std::size_t comp,
                         std::size_t sub, const char* limit) noexcept {
  if (field.empty() || rep == 0) return {};
  if (comp == 0) sub = 0;
  const char* const b = field.data();
  const char* const e = b + field.size();
  if (limit < e) limit = e;
  const char* start = b;  // of the piece the counters stand in
  std::size_t r = 1, c = 1, s = 1;
  std::string_view found;
  // One separator at q: advance the counters; true when the answer is known.
  auto at = [&](const char* q) -> bool {
    const char sep = *q;
    if (sep == d.repetition) {
      if (r == rep) {
        if ((comp == 0 || c == comp) && (sub == 0 || s == sub)) found = {start, static_cast<std::size_t>(q - start)};
        return true;
      }
      ++r;
      c = s = 1;
      start = q + 1;
    } else if (r != rep || comp == 0) {
      // inside another repetition, or the whole repetition is wanted
    } else if (sep == d.component) {
      if (c == comp) {
        if (sub == 0 || s == sub) found = {start, static_cast<std::size_t>(q - start)};
        return true;
      }
      ++c;
      s = 1;
      start = q + 1;
    } else if (c == comp && sub != 0) {  // a subcomponent separator in the wanted component
      if (s == sub) {
        found = {start, static_cast<std::size_t>(q - start)};
        return true;
      }
      ++s;
      start = q + 1;
    }
    return false;
  };
  const char* p = b;
#if defined(__SSE2__)
  // Every separator of a 16-byte block from one compare: fields with many
  // (empty) components cost a bit scan per separator, not a search.
  const __m128i vr = _mm_set1_epi8(d.repetition), vc = _mm_set1_epi8(d.component), vs = _mm_set1_epi8(d.subcomponent);
  for (; p < e && limit - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, vr), _mm_cmpeq_epi8(v, vc)), _mm_cmpeq_epi8(v, vs))));
    if (e - p < 16) mask &= (1u << (e - p)) - 1u;
    while (mask) {
      if (at(p + __builtin_ctz(mask))) return found;
      mask &= mask - 1;
    }
  }
#endif
  for (; p < e; ++p)
    if ((*p == d.repetition || *p == d.component || *p == d.subcomponent) && at(p)) return found;
  // The end of the field ends whatever piece the counters stand in.
  if (r == rep && (comp == 0 || c == comp) && (sub == 0 || s == sub)) return {start, static_cast<std::size_t>(e - start)};
  return {};
}

std::size_t count_parts(std::string_view raw, char sep) noexcept {
  if (raw.empty()) return 0;
  std::size_t n = 1;
  const char* p = raw.data();
  const char* const end = p + raw.size();
  while (const void* hit = std::memchr(p, sep, static_cast<std::size_t>(end - p))) {
    ++n;
    p = static_cast<const char*>(hit) + 1;
  }
  return n;
}

std::string_view unescape(std::string_view raw, const Delimiters& d, std::string& scratch) {
  if (d.escape == 0 || raw.find(d.escape) == std::string_view::npos) return raw;
  scratch.clear();
  scratch.reserve(raw.size());
  std::size_t i = 0;
  while (i < raw.size()) {
    const std::size_t start = raw.find(d.escape, i);
    if (start == std::string_view::npos) {
      scratch.append(raw.substr(i));
      break;
    }
    scratch.append(raw.substr(i, start - i));
    const std::size_t close = raw.find(d.escape, start + 1);
    if (close == std::string_view::npos) {  // unterminated: keep the rest literally
      scratch.append(raw.substr(start));
      break;
    }
    const std::string_view seq = raw.substr(start + 1, close - start - 1);
    const std::size_t before = scratch.size();
    if (!decode_escape(seq, d, scratch)) {
      scratch.resize(before);
      if (seq.empty()) {
        // Two escape characters in a row: keep the first, re-examine the second
        // (it may open a real escape sequence).
        scratch += d.escape;
        i = close;
        continue;
      }
      scratch.append(raw.substr(start, close - start + 1));  // unknown: keep literally
    }
    i = close + 1;
  }
  return scratch;
}

void split_repetition(std::string_view field, const Delimiters& d, std::size_t rep, const char* limit,
                      RepParts& out) noexcept {
  out.comp_sep = d.component;
  out.sub_sep = d.subcomponent;
  const auto none = [&out] {
    out.base = nullptr;
    out.length = 0;
    out.components = 0;
    out.escape = false;
    out.overflow = false;
    out.sub_mask = 0;
  };
  if (field.empty() || rep == 0) return none();
  const char* const b = field.data();
  const char* const e = b + field.size();
  if (!limit || limit < e) limit = e;
  const char* start = b;
  for (std::size_t r = 1; r < rep; ++r) {
    const char* q = find_any_of(start, e, limit, d.repetition, d.repetition, d.repetition);
    if (q == e) return none();  // fewer repetitions
    start = q + 1;
  }
  out.base = start;
  // One scan to the end of the repetition: component ends, which components
  // hold subcomponents, whether any escape occurs.
  unsigned comp = 0;  // 0-based index of the component being scanned
  bool escape = false;
  std::uint32_t sub_mask = 0;
  const char* p = start;
  const char* stop = e;
  bool done = false;
  // A repetition, subcomponent or escape separator at q (true: the end of
  // the repetition).
  auto other = [&](const char* q) -> bool {
    const char sep = *q;
    if (sep == d.repetition) {
      stop = q;
      return true;
    }
    if (sep == d.subcomponent) {
      if (comp < 32) sub_mask |= std::uint32_t{1} << comp;
    } else {
      escape = true;
    }
    return false;
  };
  const auto component_end = [&](const char* q) {
    if (comp < RepParts::kMaxComponents) out.end[comp] = static_cast<std::uint16_t>(q - start);
    ++comp;
  };
#if defined(__SSE2__)
  // The four separators in every byte of a vector each, from one load: the
  // component, repetition, escape and subcomponent characters are
  // consecutive members of Delimiters.
  static_assert(offsetof(Delimiters, repetition) == offsetof(Delimiters, component) + 1 &&
                offsetof(Delimiters, escape) == offsetof(Delimiters, component) + 2 &&
                offsetof(Delimiters, subcomponent) == offsetof(Delimiters, component) + 3);
  std::uint32_t seps;
  std::memcpy(&seps, &d.component, sizeof seps);
  __m128i bytes = _mm_cvtsi32_si128(static_cast<int>(seps));
  bytes = _mm_unpacklo_epi8(bytes, bytes);
  bytes = _mm_unpacklo_epi16(bytes, bytes);  // dword k: separator k four times
  const __m128i vc = _mm_shuffle_epi32(bytes, 0x00), vr = _mm_shuffle_epi32(bytes, 0x55),
                ve = _mm_shuffle_epi32(bytes, 0xAA), vs = _mm_shuffle_epi32(bytes, 0xFF);
  for (; p < e && limit - p >= 16; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    unsigned comps = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, vc)));
    unsigned others = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, vr), _mm_or_si128(_mm_cmpeq_epi8(v, vs), _mm_cmpeq_epi8(v, ve)))));
    if (e - p < 16) {
      const unsigned in = (1u << (e - p)) - 1u;
      comps &= in;
      others &= in;
    }
    if (!others) {  // the common block: component separators only, all in this repetition
      for (; comps; comps &= comps - 1) component_end(p + __builtin_ctz(comps));
      continue;
    }
    // Both kinds, in text order.
    for (unsigned all = comps | others; all; all &= all - 1) {
      const unsigned bit = all & (0u - all);
      if (comps & bit) {
        component_end(p + __builtin_ctz(all));
      } else if (other(p + __builtin_ctz(all))) {
        done = true;
        break;
      }
    }
    if (done) break;
  }
#endif
  for (; !done && p < e; ++p) {
    if (*p == d.component) component_end(p);
    else if ((*p == d.repetition || *p == d.subcomponent || *p == d.escape) && other(p)) done = true;
  }
  const std::size_t length = static_cast<std::size_t>(stop - start);
  if (comp < RepParts::kMaxComponents) out.end[comp] = static_cast<std::uint16_t>(length);
  out.length = static_cast<std::uint32_t>(length);
  out.components = static_cast<std::uint16_t>(std::min<unsigned>(comp + 1, 0xffff));
  out.escape = escape;
  out.overflow = comp >= RepParts::kMaxComponents || length > 0xffff;
  out.sub_mask = sub_mask;
}

std::string_view RepParts::component_text(std::size_t comp) const noexcept {
  if (comp > components) return {};
  const std::size_t from = comp == 1 ? 0 : end[comp - 2] + 1u;
  return {base + from, static_cast<std::size_t>(end[comp - 1]) - from};
}

std::string_view RepParts::part(std::size_t comp, std::size_t sub) const noexcept {
  if (!base) return {};
  const std::string_view whole(base, length);
  if (comp == 0) return whole;
  if (overflow) {
    // Rare (a repetition with over 32 components or over 64 KB): scan it.
    std::string_view c = nth_part(whole, comp_sep, comp);
    return sub ? nth_part(c, sub_sep, sub) : c;
  }
  std::string_view c = component_text(comp);
  if (sub == 0) return c;
  if (comp > 32 || !(sub_mask & (std::uint32_t{1} << (comp - 1)))) return sub == 1 ? c : std::string_view{};
  return nth_part(c, sub_sep, sub);
}

bool RepParts::scan_part_and_leaf(std::size_t comp, std::size_t sub, std::string_view& leaf_out) const noexcept {
  if (!base || overflow || comp == 0 || comp > components) {  // rare: the general way
    if (part(comp, sub).empty()) return false;
    leaf_out = leaf(comp, sub);
    return true;
  }
  // What remains: a component with subcomponents (comp <= 32 then). One
  // walk to subcomponent max(sub, 1): the part and the leaf for sub >= 1,
  // the leaf of the whole component (not empty: it holds a separator) for 0.
  const std::string_view c = component_text(comp);
  const std::size_t want = sub ? sub : 1;
  const char* from = c.data();
  const char* const e = c.data() + c.size();
  std::size_t k = 1;
  for (const char* q = from;; ++q) {
    if (q != e && *q != sub_sep) continue;
    if (k == want) {
      leaf_out = {from, static_cast<std::size_t>(q - from)};
      return sub == 0 || !leaf_out.empty();
    }
    if (q == e) return false;  // (sub >= 2 here) fewer subcomponents
    ++k;
    from = q + 1;
  }
}

std::string_view RepParts::leaf(std::size_t comp, std::size_t sub) const noexcept {
  std::string_view p = part(comp ? comp : 1, sub);
  if (sub) return p;
  // The first subcomponent when the component holds any.
  const std::size_t c = comp ? comp : 1;
  if (!overflow && (c > 32 || !(sub_mask & (std::uint32_t{1} << (c - 1))))) return p;
  return nth_part(p, sub_sep, 1);
}

}  // namespace dxnorm::hl7v2
