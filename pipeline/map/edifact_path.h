// Paths into an EDIFACT message, as mapping authors write them:
//   RFF-1.2              data element 1, component 2 of the nearest RFF
//   RFF[SRI]-1.2         ... of the nearest RFF whose element 1 component 1 is SRI
//   DTM[329]-1.2         the birth date of DTM+329:19690819:102
//   NAD[PO](2)-4         the second NAD+PO below the scope
//   FTX[RIT](*)-4        element 4 of every FTX+RIT below the scope
//   FTX-4.*              every component of element 4 (lines of free text)
//   S06.ADR-2.1          a segment inside a group: the marker (S06) or the
//   SG6.ADR-2.1          group name (SG6) may be written
//   SG18                 groups (for `for` / `$each`); `S20` alone is group SG20
//   .  .2  .*            relative to the current value ($each over an element)
//
// Resolution rules are those of HL7 v2 paths (hl7v2_path.h): reading finds the
// scope's own segment, else the first match in the scope group's subtree,
// then outward; iterating takes direct children of the scope group. A value
// reads as its first component when none is named; release characters are
// removed; trailing spaces are trimmed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/map/eval_types.h"
#include "pipeline/map/source_format.h"

namespace dxnorm::map {

struct EdifactPath final : SourcePath {
  std::string segment;           // empty: relative or groups-only
  std::string qualifier;         // element 1 component 1 must equal this
  int seg_occurrence = 0;        // (n); 0 = unspecified
  bool seg_all = false;          // (*)
  int element = 0;               // 0 = the segment itself
  int comp = 0;                  // 0 = first when read
  bool comp_all = false;         // .*
  bool relative = false;

  bool groups_only() const noexcept { return !relative && segment.empty(); }
  std::size_t eval(const Scope& scope, EvalContext& ctx, bool all) const override;
  void iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const override;
};

bool parse_edifact_path(std::string_view text, EdifactPath& out, std::string& error);

// The EDIFACT format of the mapping language (registered as "edifact").
const SourceFormat& edifact_format();

}  // namespace dxnorm::map
