// Equality of short texts (codes, literals, timestamps) without a memcmp
// call: most texts the mapping engine compares per message are under 32
// bytes, where fixed-size overlapping loads cost less than the call.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace dxnorm::map {

// A text's first eight bytes packed in one word, read with at most two
// loads: for texts of the same size, equal words mean equal bytes [0, 8)
// (shorter texts are covered by overlapping loads, not padded).
[[gnu::always_inline]] inline std::uint64_t text_head(std::string_view k) noexcept {
  const char* p = k.data();
  const std::size_t n = k.size();
  if (n >= 8) {
    std::uint64_t h;
    std::memcpy(&h, p, 8);
    return h;
  }
  if (n >= 4) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return lo | std::uint64_t{hi} << 32;
  }
  if (n == 0) return 0;
  return std::uint64_t{static_cast<unsigned char>(p[0])} | std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8 |
         std::uint64_t{static_cast<unsigned char>(p[n - 1])} << 16;
}

// a == b. Up to 32 bytes by word loads that cover every byte (overlapping
// when the size is not a multiple of 8); longer texts by memcmp.
[[gnu::always_inline]] inline bool same_text(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n <= 8) return text_head(a) == text_head(b);
  auto word = [](const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  const char* x = a.data();
  const char* y = b.data();
  if (n <= 16) return ((word(x) ^ word(y)) | (word(x + n - 8) ^ word(y + n - 8))) == 0;
  if (n <= 32)
    return ((word(x) ^ word(y)) | (word(x + 8) ^ word(y + 8)) | (word(x + n - 16) ^ word(y + n - 16)) |
            (word(x + n - 8) ^ word(y + n - 8))) == 0;
  return std::memcmp(x, y, n) == 0;
}

// A literal prepared for same_text() against many texts: its size and
// text_head() computed once. `text` is a view of storage that outlives it.
struct TextKey {
  std::string_view text;
  std::uint64_t head = 0;

  static TextKey of(std::string_view t) noexcept { return TextKey{t, text_head(t)}; }
  // t == text, given t_head == text_head(t).
  [[gnu::always_inline]] bool matches(std::string_view t, std::uint64_t t_head) const noexcept {
    if (t.size() != text.size() || t_head != head) return false;
    return t.size() <= 8 ||
           same_text(std::string_view(t.data() + 8, t.size() - 8), std::string_view(text.data() + 8, text.size() - 8));
  }
};

}  // namespace dxnorm::map
