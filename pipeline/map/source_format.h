// A source format as the mapping language sees it: how paths are written
// and read for that format (HL7 v2 `OBX-5.1`, DICOM `StudyInstanceUID`,
// EDIFACT `RFF[SRI]-1.2`), how a position is described in messages, and what
// "unmapped" means. The group tree and its navigation are shared
// (pipeline/core/source_tree.h); everything inside a leaf belongs to the format.
//
// Contract: formats are stateless singletons registered at start-up; compiled
// paths are immutable and shared by all workers.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"
#include "pipeline/map/eval_types.h"

namespace dxnorm::map {

// A compiled path of some format.
class SourcePath {
 public:
  virtual ~SourcePath() = default;
  std::string text;                 // as written
  std::vector<std::string> groups;  // leading group names (`PATIENT_RESULT.ORDER_OBSERVATION`)
  bool names_leaf = false;          // names a leaf (segment) rather than only groups
  bool multi = false;               // reads several values when read ((*) and the like)

  // Read: push the value(s) onto ctx.stack; returns how many.
  virtual std::size_t eval(const Scope& scope, EvalContext& ctx, bool all) const = 0;
  // True when eval(scope, ctx, false) pushes at most one value (then
  // read_first() gives exactly that value, empty or not).
  bool single = false;
  // The first non-empty value eval(scope, ctx, false) pushes, written to
  // `out` without the value stack (single reads are most of the per-message
  // work); false when there is none. A `single` path may also return its one
  // value with empty text (an explicit null). The default goes through eval().
  virtual bool read_first(const Scope& scope, EvalContext& ctx, Value& out) const;
  // Iterate: the scopes a `$each` / `for` over this path visits.
  virtual void iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const = 0;
};

// What compile_path may check against (the message structure of the mapping).
struct PathContext {
  const void* structure = nullptr;  // format-specific (hl7v2::GroupDef for HL7 v2)
};

class SourceFormat {
 public:
  virtual ~SourceFormat() = default;
  virtual std::string_view name() const noexcept = 0;
  // Length of the path token that starts `s` (s[0] is not a space), or 0 when
  // `s` does not start a path. The expression lexer asks this first.
  virtual std::size_t path_token(std::string_view s) const noexcept = 0;
  virtual std::unique_ptr<SourcePath> compile_path(std::string_view text, const PathContext& pc,
                                                   std::string& error) const = 0;
  // Resolves the structure a mapping's input names (messages / structure);
  // nullptr with `error` set when it does not exist. Formats without
  // structures return nullptr and leave `error` empty.
  virtual const void* resolve_structure(const std::vector<std::string>& messages, std::string& structure,
                                        std::string& error) const = 0;
  // "OBX(3)-5.1", "SG18 RSL-2", "(0020,000D)": for warnings and traces.
  virtual void describe(const Cursor& c, const SourceDocument& doc, std::string& out) const = 0;
  // Leaves that no rule read (UNMAPPED_SEGMENT) and, with `fields`, the parts
  // of read leaves that no rule read (UNMAPPED_FIELD).
  virtual void report_unmapped(const SourceDocument& doc, const ReadTracker& reads, Issues& out,
                               bool fields) const = 0;
  // First component of field `field` of a leaf (whereField); empty if none.
  virtual std::string_view leaf_field(const SourceDocument& doc, std::int32_t leaf, int field) const = 0;
};

// Path lexers: the length of an index suffix "(n)" or "(*)" starting at
// s[i] (s[i] == '('), or 0 when what follows is not an index (a function
// call's parenthesis, say). Shared by every format's path_token().
inline std::size_t index_suffix_length(std::string_view s, std::size_t i) noexcept {
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '*') ++j;
  else
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
  return (j > i + 1 && j < s.size() && s[j] == ')') ? j + 1 - i : 0;
}

// The formats dxnorm knows ("hl7v2", ...), listed in source_format.cpp.
const SourceFormat* find_format(std::string_view name) noexcept;
std::vector<std::string> format_names();

}  // namespace dxnorm::map
