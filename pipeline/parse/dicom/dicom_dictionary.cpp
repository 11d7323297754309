#include "pipeline/parse/dicom/dicom_dictionary.h"

#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace dxnorm::embedded {
extern const std::string_view dicom_attributes_txt;
}

namespace dxnorm::dicom {

namespace {

struct Dictionary {
  std::vector<AttributeDef> defs;
  std::unordered_map<std::string_view, std::size_t> by_keyword;
  std::unordered_map<std::uint32_t, std::size_t> by_tag;

  Dictionary() {
    std::string_view text = embedded::dicom_attributes_txt;
    std::size_t line_no = 0;
    while (!text.empty()) {
      std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      ++line_no;
      if (auto h = line.find('#'); h != std::string_view::npos) line = line.substr(0, h);
      std::vector<std::string_view> parts;
      std::size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        std::size_t s = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
        if (i > s) parts.push_back(line.substr(s, i - s));
      }
      if (parts.empty()) continue;
      auto tag = parse_tag(parts[0]);
      if (parts.size() != 3 || !tag || parts[1].size() != 2)
        throw std::runtime_error("schemas/dicom/attributes.txt:" + std::to_string(line_no) +
                                 ": expected TAG VR KEYWORD");
      defs.push_back(AttributeDef{*tag, std::string(parts[1]), std::string(parts[2])});
    }
    for (std::size_t k = 0; k < defs.size(); ++k) {
      if (!by_keyword.emplace(defs[k].keyword, k).second || !by_tag.emplace(defs[k].tag, k).second)
        throw std::runtime_error("schemas/dicom/attributes.txt: duplicate " + defs[k].keyword);
    }
  }
};

const Dictionary& dict() {
  static const Dictionary d;
  return d;
}

}  // namespace

const AttributeDef* find_keyword(std::string_view keyword) noexcept {
  const auto& d = dict();
  auto it = d.by_keyword.find(keyword);
  return it == d.by_keyword.end() ? nullptr : &d.defs[it->second];
}

const AttributeDef* find_tag(std::uint32_t tag) noexcept {
  const auto& d = dict();
  auto it = d.by_tag.find(tag);
  return it == d.by_tag.end() ? nullptr : &d.defs[it->second];
}

std::size_t dictionary_size() noexcept { return dict().defs.size(); }

std::optional<std::uint32_t> parse_tag(std::string_view hex) noexcept {
  if (hex.size() != 8) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : hex) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<std::uint32_t>(d);
  }
  return v;
}

std::string format_tag(std::uint32_t tag) {
  static const char* hex = "0123456789ABCDEF";
  std::string s = "(0000,0000)";
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(4 - i)] = hex[(tag >> (16 + 4 * i)) & 0xF];
  for (int i = 0; i < 4; ++i) s[static_cast<std::size_t>(9 - i)] = hex[(tag >> (4 * i)) & 0xF];
  return s;
}

}  // namespace dxnorm::dicom
