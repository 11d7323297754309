// Segment-group definitions of the EDIFACT messages dxnorm reads, as data:
// schemas/edifact/message-groups.yaml, compiled into the binary.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dxnorm::edifact {

struct GroupDef {
  std::string name;          // "SG18"
  std::string opened_by;     // "GIS", "S01"
  std::string parent;        // "" = the message
  std::string except_after;  // the opener does not open the group right after this segment
};

struct MessageGroups {
  std::string message_type;  // "MEDRPT"
  std::vector<GroupDef> groups;
  const GroupDef* opener(std::string_view segment, std::string_view previous) const noexcept;
  const GroupDef* find(std::string_view name) const noexcept;
};

// The built-in definitions; nullptr for a message type without any.
// Throws std::runtime_error on a broken embedded schema (a build defect).
const MessageGroups* builtin_groups(std::string_view message_type);

// "SG6" for a marker "S06"; empty when `segment` is not a marker (S + 2 digits).
std::string marker_group(std::string_view segment);

}  // namespace dxnorm::edifact
