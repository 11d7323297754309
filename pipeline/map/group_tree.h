// Navigation of the format-neutral group tree (pipeline/core/source_tree.h)
// shared by every format's paths: the scope's group, dotted group lists, and
// depth-first walks over leaves.
#pragma once

#include <string>
#include <vector>

#include "pipeline/core/source_tree.h"
#include "pipeline/map/eval_types.h"

namespace dxnorm::map {

// The group a scope stands in (the document root at message scope).
inline const SourceGroup* scope_group(const Scope& scope, const EvalContext& ctx) noexcept {
  return scope.cursor.group ? scope.cursor.group : &ctx.doc->root();
}

// Groups matching names[level..] below `from`, direct children at each level.
void match_groups(const SourceGroup& from, const std::vector<std::string>& names, std::size_t level,
                  std::vector<const SourceGroup*>& out);

// Depth-first walk of the leaves below `g`, in document order. `fn(parent,
// leaf)` returns false to stop; the walk returns false when it was stopped.
// `skip` is a child group already searched by the caller; with
// `skip_same_kind`, every sibling with skip's name is left out too (other
// instances of the kind the search came from, never "nearer").
template <class Fn>
bool for_each_leaf(const SourceGroup& g, Fn&& fn, const SourceGroup* skip = nullptr, bool skip_same_kind = false) {
  for (const SourceNode& n : g.children) {
    if (n.group) {
      if (n.group == skip || (skip_same_kind && skip && n.group->name == skip->name)) continue;
      if (!for_each_leaf(*n.group, fn)) return false;
    } else if (n.segment >= 0 && !fn(g, n.segment)) {
      return false;
    }
  }
  return true;
}

}  // namespace dxnorm::map
