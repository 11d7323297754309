#include "pipeline/map/group_tree.h"

namespace dxnorm::map {

void match_groups(const SourceGroup& from, const std::vector<std::string>& names, std::size_t level,
                  std::vector<const SourceGroup*>& out) {
  if (level == names.size()) {
    out.push_back(&from);
    return;
  }
  for (const SourceNode& n : from.children)
    if (n.group && n.group->name == names[level]) match_groups(*n.group, names, level + 1, out);
}

}  // namespace dxnorm::map
