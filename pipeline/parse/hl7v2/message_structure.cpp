#include "pipeline/parse/hl7v2/message_structure.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <stdexcept>

namespace dxnorm::embedded {
extern const std::string_view hl7v2_message_structures_yaml;
}

namespace dxnorm::hl7v2 {
namespace {

constexpr int kMaxDepth = 16;  // nesting guard: the matcher recurses over definitions

[[noreturn]] void fail(std::string_view origin, const YAML::Node& node, const std::string& what) {
  std::string msg(origin);
  const YAML::Mark m = node.Mark();
  if (!m.is_null()) {
    msg += ':' + std::to_string(m.line + 1) + ':' + std::to_string(m.column + 1);
  }
  msg += ": " + what;
  throw std::runtime_error(msg);
}

bool is_segment_id(std::string_view s) {
  if (s.size() != 3) return false;
  for (char c : s) {
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)))) return false;
  }
  return true;
}

bool is_group_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return false;
    }
  }
  return true;
}

// Splits "NTE*" into ("NTE", optional, repeating).
void split_cardinality(std::string_view text, std::string_view& name, bool& optional, bool& repeating) {
  name = text;
  optional = repeating = false;
  if (!name.empty()) {
    switch (name.back()) {
      case '?': optional = true; name.remove_suffix(1); break;
      case '*': optional = repeating = true; name.remove_suffix(1); break;
      case '+': repeating = true; name.remove_suffix(1); break;
      default: break;
    }
  }
}

}  // namespace

class StructureLoader {
 public:
  StructureLoader(std::vector<std::unique_ptr<GroupDef>>& store, std::string_view origin)
      : store_(store), origin_(origin) {}

  const GroupDef* load_group(const std::string& name, const YAML::Node& items, int depth) {
    if (depth > kMaxDepth) fail(origin_, items, "groups nested deeper than " + std::to_string(kMaxDepth));
    if (!items.IsSequence() || items.size() == 0) {
      fail(origin_, items, "group " + name + " must be a non-empty list of items");
    }
    auto def = std::make_unique<GroupDef>();
    def->name = name;
    for (const YAML::Node& item : items) {
      StructureItem si;
      std::string_view bare;
      if (item.IsScalar()) {
        const std::string& text = item.Scalar();
        split_cardinality(text, bare, si.optional, si.repeating);
        if (!is_segment_id(bare)) fail(origin_, item, "'" + text + "' is not a segment id (3 upper-case letters/digits)");
        si.segment = std::string(bare);
        si.key = segment_key(si.segment);
      } else if (item.IsMap() && item.size() == 1) {
        const auto it = item.begin();
        const std::string key = it->first.as<std::string>();
        split_cardinality(key, bare, si.optional, si.repeating);
        if (!is_group_name(bare) || is_segment_id(bare)) {
          fail(origin_, it->first, "'" + key + "' is not a group name (upper-case, longer than 3 characters)");
        }
        si.group = load_group(std::string(bare), it->second, depth + 1);
      } else {
        fail(origin_, item, "an item is a segment id or a one-key map GROUP: [items]");
      }
      def->items.push_back(std::move(si));
    }
    // The first set; nested groups are complete already (loaded above).
    for (const StructureItem& item : def->items) {
      if (item.group == nullptr) {
        def->first.push_back(item.key);
      } else {
        def->first.insert(def->first.end(), item.group->first.begin(), item.group->first.end());
      }
      if (!item.optional) break;
    }
    store_.push_back(std::move(def));
    return store_.back().get();
  }

 private:
  std::vector<std::unique_ptr<GroupDef>>& store_;
  std::string_view origin_;
};

std::unique_ptr<StructureRegistry> StructureRegistry::from_yaml(std::string_view yaml, std::string_view origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(std::string(origin) + ":" + std::to_string(e.mark.line + 1) + ":" +
                             std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) fail(origin, root, "top level must be a map with keys 'structures' and 'events'");
  auto reg = std::unique_ptr<StructureRegistry>(new StructureRegistry());
  StructureLoader loader(reg->groups_, origin);
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (key == "structures") {
      if (!kv.second.IsMap()) fail(origin, kv.second, "'structures' must be a map");
      for (const auto& s : kv.second) {
        const std::string id = s.first.as<std::string>();
        if (!is_group_name(id)) fail(origin, s.first, "'" + id + "' is not a structure id");
        if (reg->structures_.count(id)) fail(origin, s.first, "structure " + id + " defined twice");
        reg->structures_.emplace(id, loader.load_group(id, s.second, 0));
      }
    } else if (key == "events") {
      if (!kv.second.IsMap()) fail(origin, kv.second, "'events' must be a map");
      for (const auto& e : kv.second) {
        if (!e.second.IsScalar()) fail(origin, e.second, "an event maps to a structure id");
        const std::string ev = e.first.as<std::string>();
        if (reg->events_.count(ev)) fail(origin, e.first, "event " + ev + " listed twice");
        reg->events_.emplace(ev, e.second.as<std::string>());
      }
    } else {
      fail(origin, kv.first, "unknown key '" + key + "' (expected 'structures' or 'events')");
    }
  }
  // Cross-check: every event names a defined structure.
  for (const auto& e : root["events"]) {
    const std::string target = e.second.as<std::string>();
    if (!reg->structures_.count(target)) fail(origin, e.second, "event maps to undefined structure " + target);
  }
  return reg;
}

const StructureRegistry& StructureRegistry::builtin() {
  // Start-up only: a malformed shipped file throws here, before any message.
  static const std::unique_ptr<StructureRegistry> reg =
      from_yaml(embedded::hl7v2_message_structures_yaml, "schemas/hl7v2/message-structures.yaml");
  return *reg;
}

const GroupDef* StructureRegistry::find(std::string_view structure_id) const {
  const auto it = structures_.find(structure_id);
  return it == structures_.end() ? nullptr : it->second;
}

std::string StructureRegistry::resolve(std::string_view type, std::string_view trigger,
                                       std::string_view msh9_3) const {
  if (!msh9_3.empty() && find(msh9_3)) return std::string(msh9_3);
  char buf[64];
  if (!type.empty() && type.size() + trigger.size() + 1 <= sizeof buf) {
    std::size_t n = 0;
    for (char c : type) buf[n++] = c;
    const std::size_t type_len = n;
    if (!trigger.empty()) {
      buf[n++] = '^';
      for (char c : trigger) buf[n++] = c;
      if (auto it = events_.find(std::string_view(buf, n)); it != events_.end()) return it->second;
    }
    if (auto it = events_.find(std::string_view(buf, type_len)); it != events_.end()) return it->second;
    if (!trigger.empty()) {
      buf[type_len] = '_';
      if (find(std::string_view(buf, n))) return std::string(buf, n);
    }
  }
  return {};
}

}  // namespace dxnorm::hl7v2
