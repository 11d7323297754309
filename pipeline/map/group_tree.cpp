#include "pipeline/map/group_tree.h"

namespace dxnorm::map {

void match_groups(const SourceGroup& from, const std::vector<std::string>& names, std::size_t level,
                  std::vector<const SourceGroup*>& out) {
  if (level == names.size()) {
    out.push_back(&from);
    return;
  }
  for_each_group_match(from, names, level, [&](const SourceGroup& g) { out.push_back(&g); });
}

}  // namespace dxnorm::map
