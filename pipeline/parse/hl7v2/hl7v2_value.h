// Reading values out of raw ER7 field text: repetitions, components,
// subcomponents, escapes and the explicit null `""`.
//
// All functions work on views and allocate nothing, except unescape() which
// writes into a caller-provided scratch string only when the value contains an
// escape character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pipeline/parse/hl7v2/hl7v2_message.h"

namespace dxnorm::hl7v2 {

// n is 1-based. Out of range -> empty view.
std::string_view nth_part(std::string_view raw, char sep, std::size_t n) noexcept;
std::size_t count_parts(std::string_view raw, char sep) noexcept;  // "" -> 0, "a" -> 1, "a~" -> 2

inline std::string_view repetition(std::string_view field, const Delimiters& d, std::size_t n) noexcept {
  return nth_part(field, d.repetition, n);
}
inline std::string_view component(std::string_view rep, const Delimiters& d, std::size_t n) noexcept {
  return nth_part(rep, d.component, n);
}
inline std::string_view subcomponent(std::string_view comp, const Delimiters& d, std::size_t n) noexcept {
  return nth_part(comp, d.subcomponent, n);
}

// The first byte in [b, e) equal to x, y or z; e when none. Reads 16 bytes at
// a time, possibly past `e` but never past `limit` (the end of the buffer
// [b, e) lies in; pass e when nothing is known beyond it).
const char* find_any_of(const char* b, const char* e, const char* limit, char x, char y, char z) noexcept;

// Repetition rep (1-based), its component comp and that component's
// subcomponent sub (0: the whole at that level; sub only with comp) of a
// field's raw text, in one pass that stops at the separators.
// Same result as subcomponent(component(repetition(field, rep), comp), sub).
// `limit`: end of the buffer the field lies in (the message text), so that
// the scan may read whole blocks; nullptr = the field's own end.
std::string_view part_at(std::string_view field, const Delimiters& d, std::size_t rep, std::size_t comp,
                         std::size_t sub, const char* limit = nullptr) noexcept;

// One repetition of a field split into components by a single pass, for
// readers that take several parts of the same repetition (OBX-6.1, .2, .3;
// every component of a CWE): a part is then an offset lookup, not a scan.
// part() returns exactly what part_at() returns for the same coordinates.
// Views point into the field text, which must outlive the RepParts.
struct RepParts {
  static constexpr unsigned kMaxComponents = 32;
  const char* base = nullptr;      // first byte of the repetition; nullptr: no such repetition
  std::uint32_t length = 0;        // of the repetition
  std::uint16_t components = 0;    // how many (1 for a repetition without component separators)
  bool escape = false;             // the escape character occurs in the repetition
  // More than kMaxComponents components, or a repetition longer than 65535
  // bytes: part() scans for what the table does not hold.
  bool overflow = false;
  std::uint32_t sub_mask = 0;      // bit c-1: component c holds a subcomponent separator
  std::uint16_t end[kMaxComponents] = {};  // end offset of component c at end[c-1]
  char comp_sep = '^', sub_sep = '&';

  // Component comp (1-based; 0: the whole repetition) and its subcomponent
  // sub (0: the whole component; ignored when comp is 0).
  std::string_view part(std::size_t comp, std::size_t sub) const noexcept;
  // The first leaf of a part: what a reader takes when it names no deeper
  // level (component 1 of a whole repetition, subcomponent 1 of a component).
  std::string_view leaf(std::size_t comp, std::size_t sub) const noexcept;
  // What part_and_leaf() answers from the table alone: for what mappings
  // mostly read (a component, or its only subcomponent, of a component
  // without subcomponents; a component past the last one; the first
  // component of a whole repetition) kEmpty or kLeaf with `leaf_out` set;
  // for the rest kScan (`leaf_out` untouched): part() and leaf() must scan.
  enum class Table : unsigned char { kEmpty, kLeaf, kScan };
  [[gnu::always_inline]] Table table_leaf(std::size_t comp, std::size_t sub, std::string_view& leaf_out) const noexcept {
    if (!base) return Table::kEmpty;
    if (overflow) return Table::kScan;  // else components <= kMaxComponents
    if (comp == 0 && sub == 0) {
      // The repetition; its leaf is component 1, which may be empty.
      if (length == 0) return Table::kEmpty;
      if (sub_mask & 1u) return Table::kScan;
      leaf_out = {base, end[0]};
      return Table::kLeaf;
    }
    if (comp > components) return Table::kEmpty;
    if (comp == 0 || (sub_mask & (std::uint32_t{1} << (comp - 1)))) return Table::kScan;
    if (sub > 1) return Table::kEmpty;
    const std::size_t from = comp == 1 ? 0 : end[comp - 2] + 1u;
    leaf_out = {base + from, static_cast<std::size_t>(end[comp - 1]) - from};
    return leaf_out.empty() ? Table::kEmpty : Table::kLeaf;
  }
  // part(comp, sub) and leaf(comp, sub) at once; false when the part is empty
  // (then `leaf` is unspecified). Inline, and answered by table_leaf() when
  // it can.
  [[gnu::always_inline]] bool part_and_leaf(std::size_t comp, std::size_t sub, std::string_view& leaf_out) const noexcept {
    const Table t = table_leaf(comp, sub, leaf_out);
    if (t != Table::kScan) return t == Table::kLeaf;
    return scan_part_and_leaf(comp, sub, leaf_out);
  }

 private:
  // part_and_leaf() for what table_leaf() leaves to a scan.
  bool scan_part_and_leaf(std::size_t comp, std::size_t sub, std::string_view& leaf_out) const noexcept;
  std::string_view component_text(std::size_t comp) const noexcept;
};

// Split repetition `rep` (1-based) of a field's raw text; `limit` as for part_at.
void split_repetition(std::string_view field, const Delimiters& d, std::size_t rep, const char* limit,
                      RepParts& out) noexcept;

// `""` (two double quotes): an explicit null, "delete this value".
inline bool is_explicit_null(std::string_view raw) noexcept {
  return raw.size() == 2 && raw[0] == '"' && raw[1] == '"';
}

// Unescape one leaf value (a component or subcomponent, or a whole field when
// it has no structure). Returns `raw` itself when there is nothing to unescape,
// otherwise a view of `scratch`. Handles \F\ \S\ \T\ \R\ \E\ \Xhh..\ (bytes),
// \.br\ (-> "\n"), \H\ \N\ (dropped), \Cxxyy\ \Mxxyyzz\ (dropped: character set
// switches), \.sp\ \.in\ \.ti\ \.ce\ \.fi\ \.nf\ (formatting: .sp -> "\n",
// others dropped), \P\ (truncation character, v2.7+). An unknown or unterminated escape is kept literally.
std::string_view unescape(std::string_view raw, const Delimiters& d, std::string& scratch);

}  // namespace dxnorm::hl7v2
