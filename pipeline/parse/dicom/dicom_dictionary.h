// The DICOM data dictionary subset dxnorm knows (keyword <-> tag <-> VR), from
// schemas/dicom/attributes.txt (DICOM PS3.6, compiled into the binary).
//
// Contract: immutable after first use; lookups are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dxnorm::dicom {

struct AttributeDef {
  std::uint32_t tag = 0;      // 0x0020000D
  std::string vr;             // "UI"
  std::string keyword;        // "StudyInstanceUID"
};

const AttributeDef* find_keyword(std::string_view keyword) noexcept;
const AttributeDef* find_tag(std::uint32_t tag) noexcept;
std::size_t dictionary_size() noexcept;

// "0020000D" (8 hex digits, either case) -> 0x0020000D.
std::optional<std::uint32_t> parse_tag(std::string_view hex) noexcept;
// 0x0020000D -> "(0020,000D)".
std::string format_tag(std::uint32_t tag);

}  // namespace dxnorm::dicom
