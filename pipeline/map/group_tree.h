// Navigation of the format-neutral group tree (pipeline/core/source_tree.h)
// shared by every format's paths: the scope's group, dotted group lists, and
// depth-first walks over leaves.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/source_tree.h"
#include "pipeline/map/eval_types.h"

namespace dxnorm::map {

// The group a scope stands in (the document root at message scope).
inline const SourceGroup* scope_group(const Scope& scope, const EvalContext& ctx) noexcept {
  return scope.cursor.group ? scope.cursor.group : &ctx.doc->root();
}

// Group names equal. Groups of one definition share their name's storage,
// so siblings of a kind (an OBSERVATION per result) compare by address.
inline bool same_group_name(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.data() == b.data() || a == b);
}

// fn(group) for each group matching names[level..] below `from`, direct
// children at each level, in document order. After one full compare at a
// level, the other children with that name's storage match by address.
template <class Fn>
void for_each_group_match(const SourceGroup& from, const std::vector<std::string>& names, std::size_t level,
                          Fn&& fn) {
  const std::string_view name = names[level];
  const bool last = level + 1 == names.size();
  std::string_view equal;  // a child's name found equal to `name`
  for (const SourceNode& n : from.children) {
    if (!n.group) continue;
    const std::string_view child = n.group->name;
    if (!equal.empty() && child.data() == equal.data() && child.size() == equal.size()) {
    } else if (child == name) {
      equal = child;
    } else {
      continue;
    }
    if (last) fn(*n.group);
    else for_each_group_match(*n.group, names, level + 1, fn);
  }
}

// Groups matching names[level..] below `from` (for_each_group_match()), into out.
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
