// Deterministic resource ids: a name-based UUID (v5, SHA-1, RFC 4122) of the
// resource type and its declared business keys, in dxnorm's own namespace.
// The same keys always give the same id (a replay updates, never duplicates);
// different keys give different ids. Keys are joined with '|' after each key
// has its own '|' and '\' escaped, so ("a|b","c") and ("a","b|c") differ.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace dxnorm::map {

// The namespace UUID under which every dxnorm id is derived. Changing it
// changes every id ever published: never do.
inline constexpr std::string_view kDxnormIdNamespace = "5d0f3c6e-9a4b-5c1e-8f7a-2b6d4e8a1c30";

inline constexpr std::size_t kResourceIdLength = 36;  // 8-4-4-4-12 lower-case hex

std::string resource_id(std::string_view resource_type, std::span<const std::string_view> keys);
// The same id written to out[0, kResourceIdLength) (no terminator, no allocation).
void write_resource_id(std::string_view resource_type, std::span<const std::string_view> keys, char* out);

}  // namespace dxnorm::map
