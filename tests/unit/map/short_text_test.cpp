// same_text() and TextKey give what std::string_view's == gives, for every
// size up to past the memcmp threshold, with the difference at every byte
// (the overlapping word loads must cover each one).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "pipeline/map/short_text.h"

using namespace dxnorm::map;

TEST_CASE("same_text and TextKey agree with string_view equality") {
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string a;
    for (std::size_t i = 0; i < n; ++i) a.push_back(static_cast<char>('a' + i % 26));
    const TextKey key = TextKey::of(a);
    std::string same = a;  // equal bytes in another buffer
    INFO("size ", n);
    CHECK(same_text(a, same));
    CHECK(key.matches(same, text_head(same)));
    for (std::size_t at = 0; at < n; ++at) {
      std::string b = a;
      b[at] = static_cast<char>(b[at] ^ 0x20);
      INFO("differs at ", at);
      CHECK_FALSE(same_text(a, b));
      CHECK_FALSE(same_text(b, a));
      CHECK_FALSE(key.matches(b, text_head(b)));
    }
    // Other sizes, including a prefix and an extension of the same bytes.
    const std::string longer = a + "x";
    CHECK_FALSE(same_text(a, longer));
    CHECK_FALSE(key.matches(longer, text_head(longer)));
    if (n > 0) {
      const std::string_view prefix(a.data(), n - 1);
      CHECK_FALSE(same_text(a, prefix));
      CHECK_FALSE(key.matches(prefix, text_head(prefix)));
    }
  }
  // Bytes above 0x7f and NULs are compared like any other.
  const std::string x("\x00\xff\x80z", 4), y("\x00\xff\x80y", 4);
  CHECK(same_text(x, std::string(x)));
  CHECK_FALSE(same_text(x, y));
  CHECK(same_text(std::string_view(), std::string_view("", 0)));
}
