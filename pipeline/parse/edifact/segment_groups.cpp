#include "pipeline/parse/edifact/segment_groups.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <stdexcept>

namespace dxnorm::embedded {
extern const std::string_view edifact_message_groups_yaml;
}

namespace dxnorm::edifact {

const GroupDef* MessageGroups::opener(std::string_view segment, std::string_view previous) const noexcept {
  for (const auto& g : groups)
    if (g.opened_by == segment && (g.except_after.empty() || g.except_after != previous)) return &g;
  return nullptr;
}

const GroupDef* MessageGroups::find(std::string_view name) const noexcept {
  for (const auto& g : groups)
    if (g.name == name) return &g;
  return nullptr;
}

std::string marker_group(std::string_view s) {
  if (s.size() != 3 || s[0] != 'S' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') return {};
  std::string r = "SG";
  if (s[1] != '0') r += s[1];
  r += s[2];
  return r;
}

namespace {

std::map<std::string, MessageGroups, std::less<>> load() {
  std::map<std::string, MessageGroups, std::less<>> out;
  YAML::Node root = YAML::Load(std::string(embedded::edifact_message_groups_yaml));
  if (!root.IsMap()) throw std::runtime_error("schemas/edifact/message-groups.yaml: expected a map of message types");
  for (const auto& kv : root) {
    MessageGroups mg;
    mg.message_type = kv.first.as<std::string>();
    for (const auto& g : kv.second) {
      GroupDef d;
      for (const auto& f : g) {
        std::string k = f.first.as<std::string>();
        if (k == "group") d.name = f.second.as<std::string>();
        else if (k == "opened-by") d.opened_by = f.second.as<std::string>();
        else if (k == "parent") d.parent = f.second.as<std::string>();
        else if (k == "except-after") d.except_after = f.second.as<std::string>();
        else throw std::runtime_error("schemas/edifact/message-groups.yaml: unknown key '" + k + "'");
      }
      if (d.name.empty() || d.opened_by.empty())
        throw std::runtime_error("schemas/edifact/message-groups.yaml: a group needs group and opened-by");
      mg.groups.push_back(std::move(d));
    }
    out.emplace(mg.message_type, std::move(mg));
  }
  return out;
}

}  // namespace

const MessageGroups* builtin_groups(std::string_view message_type) {
  static const auto all = load();
  auto it = all.find(message_type);
  return it == all.end() ? nullptr : &it->second;
}

}  // namespace dxnorm::edifact
