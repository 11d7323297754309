#include "pipeline/core/nhs_number.h"

namespace dxnorm {

bool is_valid_nhs_number(std::string_view d) noexcept {
  if (d.size() != 10) return false;
  int sum = 0;
  for (int i = 0; i < 10; ++i)
    if (d[i] < '0' || d[i] > '9') return false;
  for (int i = 0; i < 9; ++i) sum += (d[i] - '0') * (10 - i);
  int check = 11 - sum % 11;
  if (check == 11) check = 0;
  if (check == 10) return false;
  return check == d[9] - '0';
}

std::string normalise_nhs_number(std::string_view text) {
  std::string digits;
  digits.reserve(10);
  for (char c : text) {
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9' || digits.size() == 10) return {};
    digits.push_back(c);
  }
  return is_valid_nhs_number(digits) ? digits : std::string{};
}

}  // namespace dxnorm
