// Paths into an HL7 v2 message, as mapping authors write them:
//   PID-3            field 3 of the nearest PID (first repetition when read)
//   PID-3(2).4.1     repetition 2, component 4, subcomponent 1
//   PID-3(*)         every repetition
//   OBX(2)-5         second OBX of the scope
//   SPECIMEN.SPM-2   a segment inside a named child group
//   PATIENT_RESULT.ORDER_OBSERVATION   groups (for `for` / `$each`)
//   .1  .4.1  .      relative to the current value ($each over a field)
//
// Resolution rules (the contract mapping authors rely on, see mappings/README.md):
// - Reading a value: a segment name means the scope's current segment when it
//   has that name, else the first such segment in the scope group's subtree,
//   else in its parent's subtree, and so on outward to the message root.
// - Iterating (`$each`, `for`): names are direct children of the scope group
//   (dotted for deeper levels); a field path iterates its repetitions.
// - A value that has components reads as its first component (then first
//   subcomponent), unescaped, like HAPI's Terser.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/map/eval_types.h"
#include "pipeline/map/source_format.h"

namespace dxnorm::hl7v2 {
struct GroupDef;
class Message;
}  // namespace dxnorm::hl7v2

namespace dxnorm::map {

// Aligned to a cache line so that the fields read_first() reads (first
// below, right after SourcePath's) share one line: a mapping holds hundreds
// of paths, and most reads are the first touch of their path in a message.
struct alignas(64) Hl7Path final : SourcePath {
  // How read_first() reads this path, decided by compile(): the two shapes
  // that make most reads take a direct route; everything else (groups,
  // occurrences, (*), MSH-1/2, whole segments) the general one. Set only by
  // finish_compile(); a default-constructed path reads the general way.
  enum class Shape : unsigned char {
    kGeneral,
    kRelative,  // ".N" or ".N.M": a part of the scope's value
    kNearest,   // "SEG-F", "SEG-F.C", "SEG-F(R).C.S": a part of the nearest SEG
  };
  Shape shape = Shape::kGeneral;
  // kNearest: the cursor the read lands on (group and segment filled at run
  // time) and the ReadTracker bits of (segment, field).
  std::uint16_t at_field = 0, at_rep = 0, at_comp = 0, at_sub = 0;
  // kRelative: rel[0], rel[1] (0 when absent).
  std::uint16_t rel1 = 0, rel2 = 0;
  std::uint32_t segment_code = 0;   // hl7v2::segment_key(segment) (lookup cache key)
  std::uint64_t read_bits = 0;

  // (text, groups: see SourcePath)
  std::string segment;              // empty: relative or groups-only
  int seg_occurrence = 0;           // 0 = unspecified
  bool seg_all = false;
  int field = 0;
  int rep = 0;                      // 0 = unspecified (first when read, all when iterated)
  bool rep_all = false;
  int comp = 0;
  int sub = 0;
  bool relative = false;            // starts with '.'
  std::vector<int> rel;             // relative components (".4.1" -> {4,1}); empty = "."

  // Decides `shape` and the fields above from the parsed path.
  void finish_compile() noexcept;

  bool groups_only() const noexcept { return !relative && segment.empty(); }

  std::size_t eval(const Scope& scope, EvalContext& ctx, bool all) const override;
  bool read_first(const Scope& scope, EvalContext& ctx, Value& out) const override;
  // read_first() for Shape::kGeneral (any path).
  bool read_general(const Scope& scope, EvalContext& ctx, Value& out) const;
  void iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const override;
};

// Parse a path; on failure returns false and sets `error` (no exceptions).
bool parse_hl7_path(std::string_view text, Hl7Path& out, std::string& error);

// True when `name` looks like a segment id (3 chars, [A-Z][A-Z0-9]{2}).
bool is_segment_name(std::string_view name) noexcept;

// Load-time checks against a message structure.
bool structure_has_segment(const hl7v2::GroupDef& root, std::string_view segment);
bool structure_has_group(const hl7v2::GroupDef& root, std::string_view group);

// The HL7 v2 format of the mapping language (registered as "hl7v2").
const SourceFormat& hl7v2_format();

}  // namespace dxnorm::map
