// NHS number (England, Wales, Isle of Man): 10 digits, Modulus 11 check digit.
// Weights 10..2 on digits 1..9; check = 11 - (sum mod 11); 11 -> 0; 10 -> invalid.
// Reference vectors: tests/fixtures/nhs-number/ (from uk-fci/nhs-number, MIT).
#pragma once

#include <string>
#include <string_view>

namespace dxnorm {

// Strips spaces and hyphens ("943 476 5919", "943-476-5919"); returns the
// 10 digits when the number is valid, an empty string otherwise.
std::string normalise_nhs_number(std::string_view text);
bool is_valid_nhs_number(std::string_view ten_digits) noexcept;

}  // namespace dxnorm
