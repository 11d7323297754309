// Message-structure definitions (ORU_R01, ADT_A01, ...) kept as data in
// schemas/hl7v2/message-structures.yaml and compiled into the binary. They
// tell the parser which segments form which groups.
//
// Contract: a StructureRegistry is built once at start-up (may throw on a
// malformed definition file) and is immutable and thread-safe afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dxnorm::hl7v2 {

// A segment id ("OBX") as one integer, for the parser's structure matching:
// the three characters in the low three bytes; 0 for anything that is not
// three characters long.
constexpr std::uint32_t segment_key(std::string_view id) noexcept {
  if (id.size() != 3) return 0;
  return static_cast<std::uint32_t>(static_cast<unsigned char>(id[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(id[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(id[2])) << 16;
}
inline constexpr std::uint32_t kMshKey = segment_key("MSH");

// One element of a group: a segment or a nested group, with cardinality.
struct GroupDef;
struct StructureItem {
  std::string segment;                 // set for a segment item
  const GroupDef* group = nullptr;     // set for a group item
  bool optional = false;
  bool repeating = false;
  std::uint32_t key = 0;               // segment_key(segment); 0 for a group item
};

struct GroupDef {
  std::string name;
  std::vector<StructureItem> items;
  // segment_key() of every segment an instance of the group can start with:
  // those of its items up to and including the first required one, nested
  // groups by their own `first`. Set by the loader.
  std::vector<std::uint32_t> first;
};

class StructureRegistry {
 public:
  // The definitions shipped with dxnorm (compiled in).
  static const StructureRegistry& builtin();
  // Load from YAML text (tests, overrides). Throws std::runtime_error with
  // line:column on a malformed definition.
  static std::unique_ptr<StructureRegistry> from_yaml(std::string_view yaml, std::string_view origin);

  // By structure id ("ORU_R01"); nullptr when unknown.
  const GroupDef* find(std::string_view structure_id) const;
  // Resolve MSH-9: explicit MSH-9.3 wins; else the event table
  // ("ADT^A04" -> "ADT_A01"); else "<type>_<trigger>". Empty when unknown.
  std::string resolve(std::string_view type, std::string_view trigger, std::string_view msh9_3) const;

 private:
  // Heterogeneous lookup: find(std::string_view) without building a string.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  template <class V>
  using NameMap = std::unordered_map<std::string, V, NameHash, std::equal_to<>>;

  std::vector<std::unique_ptr<GroupDef>> groups_;
  NameMap<const GroupDef*> structures_;
  NameMap<std::string> events_;  // "ADT^A04" -> "ADT_A01"; "ACK" -> "ACK" (any event)
};

}  // namespace dxnorm::hl7v2
