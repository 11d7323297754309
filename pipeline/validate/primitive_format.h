// Hand-written lexical checks for FHIR R4 primitive types. Each accepts
// exactly what the regex of the primitive's StructureDefinition accepts
// (schemas/fhir-r4/definitions.json "primitives"), without std::regex: these
// run for every primitive of every message. `\s` follows ECMAScript (what
// the official JSON schema's patterns mean), so U+00A0 and friends count as
// white space.
#pragma once

#include <string_view>

namespace dxnorm::validate::format {

bool is_decimal(std::string_view s) noexcept;    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_date(std::string_view s) noexcept;       // YYYY, YYYY-MM, YYYY-MM-DD
bool is_date_time(std::string_view s) noexcept;  // date, or date T time with zone
bool is_instant(std::string_view s) noexcept;    // full date T time with zone
bool is_time(std::string_view s) noexcept;       // hh:mm:ss(.f+)?
bool is_id(std::string_view s) noexcept;         // [A-Za-z0-9\-\.]{1,64}
bool is_uri(std::string_view s) noexcept;        // \S* (also url, canonical)
bool is_code(std::string_view s) noexcept;       // [^\s]+(\s[^\s]+)*
bool is_string(std::string_view s) noexcept;     // [ \r\n\t\S]+ (also markdown)
bool is_base64(std::string_view s) noexcept;     // (\s*([0-9a-zA-Z\+/=]){4}\s*)+
bool is_uuid(std::string_view s) noexcept;       // urn:uuid: + lower-case 8-4-4-4-12
bool is_xhtml(std::string_view s) noexcept;      // non-empty, root element <div

}  // namespace dxnorm::validate::format
