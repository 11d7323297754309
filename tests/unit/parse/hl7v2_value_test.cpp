#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "pipeline/parse/hl7v2/hl7v2_value.h"

using namespace dxnorm::hl7v2;

TEST_CASE("nth_part and count_parts") {
  CHECK(nth_part("a^b^c", '^', 1) == "a");
  CHECK(nth_part("a^b^c", '^', 3) == "c");
  CHECK(nth_part("a^b^c", '^', 4).empty());
  CHECK(nth_part("a^b^c", '^', 0).empty());
  CHECK(nth_part("", '^', 1).empty());
  CHECK(nth_part("^^x", '^', 3) == "x");
  CHECK(count_parts("", '~') == 0);
  CHECK(count_parts("a", '~') == 1);
  CHECK(count_parts("a~", '~') == 2);
  CHECK(count_parts("~~", '~') == 3);
  const Delimiters d;
  CHECK(component(repetition("x^y~p^q&r", d, 2), d, 2) == "q&r");
  CHECK(subcomponent("q&r", d, 2) == "r");
  CHECK(is_explicit_null("\"\""));
  CHECK_FALSE(is_explicit_null(""));
}

TEST_CASE("100,000 repetitions: count and last are linear") {
  std::string field;
  for (int i = 0; i < 100000; ++i) {
    if (i) field += '~';
    field += "555-" + std::to_string(i);
  }
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(count_parts(field, '~') == 100000);
  CHECK(nth_part(field, '~', 100000) == "555-99999");
  CHECK(nth_part(field, '~', 100001).empty());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  CHECK(ms < 200);
}

TEST_CASE("unescape: delimiters") {
  const Delimiters d;
  std::string scratch;
  CHECK(unescape(R"(a\F\b\S\c\T\d\R\e\E\f)", d, scratch) == "a|b^c&d~e\\f");
  // non-default delimiters map the escapes to *this message's* characters
  Delimiters custom{'#', '!', '@', '%', '*', 0};
  CHECK(unescape("x%F%y%S%z%E%", custom, scratch) == "x#y!z%");
}

TEST_CASE("unescape returns the raw view when nothing to do") {
  const Delimiters d;
  std::string scratch = "untouched";
  const std::string_view raw = "plain value";
  const std::string_view out = unescape(raw, d, scratch);
  CHECK(out.data() == raw.data());
  CHECK(scratch == "untouched");
}

TEST_CASE("unescape: hex, formatting, highlighting, character sets") {
  const Delimiters d;
  std::string s;
  CHECK(unescape(R"(\X41424344\)", d, s) == "ABCD");
  CHECK(unescape(R"(caf\XC3A9\)", d, s) == "caf\xC3\xA9");
  CHECK(unescape(R"(line1\.br\line2)", d, s) == "line1\nline2");
  CHECK(unescape(R"(a\.sp\b)", d, s) == "a\nb");
  CHECK(unescape(R"(a\.sp2\b)", d, s) == "a\n\nb");
  CHECK(unescape(R"(\H\bold\N\ text)", d, s) == "bold text");
  CHECK(unescape(R"(\.in+4\\.ti-2\\.fi\\.nf\\.ce\x)", d, s) == "x");
  CHECK(unescape(R"(a\C2842\b\M2442\c\M244F42\d)", d, s) == "abcd");
  Delimiters with_trunc = d;
  with_trunc.truncation = '#';
  CHECK(unescape(R"(a\P\b)", with_trunc, s) == "a#b");
}

TEST_CASE("unescape: unknown and unterminated escapes are kept literally") {
  const Delimiters d;
  std::string s;
  CHECK(unescape(R"(a\Q\b)", d, s) == R"(a\Q\b)");
  CHECK(unescape(R"(a\Zvendor\b)", d, s) == R"(a\Zvendor\b)");
  CHECK(unescape(R"(a\X4\b)", d, s) == R"(a\X4\b)");      // odd hex digits
  CHECK(unescape(R"(a\XZZ\b)", d, s) == R"(a\XZZ\b)");    // not hex
  CHECK(unescape(R"(a\.b\c)", d, s) == R"(a\.b\c)");      // short command
  CHECK(unescape(R"(a\.xx\c)", d, s) == R"(a\.xx\c)");    // unknown command
  CHECK(unescape(R"(tail\F)", d, s) == R"(tail\F)");       // unterminated
  CHECK(unescape(R"(\)", d, s) == R"(\)");
  CHECK(unescape(R"(a\\F\b)", d, s) == R"(a\|b)");         // empty sequence, then an F escape
  CHECK(unescape(R"(\P\)", d, s) == R"(\P\)");             // no truncation char defined
}

namespace {
// Every string of 1 to max_len characters over `alphabet`, appended to `out`.
void add_short_strings(const std::string& alphabet, int max_len, std::vector<std::string>& out) {
  for (int len = 1; len <= max_len; ++len) {
    std::size_t total = 1;
    for (int i = 0; i < len; ++i) total *= alphabet.size();
    for (std::size_t n = 0; n < total; ++n) {
      std::string s;
      for (std::size_t k = n, i = 0; i < static_cast<std::size_t>(len); ++i, k /= alphabet.size()) s += alphabet[k % alphabet.size()];
      out.push_back(s);
    }
  }
}
}  // namespace

TEST_CASE("part_at reads the same part as repetition, component and subcomponent one after the other") {
  using namespace dxnorm::hl7v2;
  Delimiters d;
  // Every short string over the separators and two letters, every coordinate.
  const std::string alphabet = "ab~^&";
  std::vector<std::string> inputs = {"", "a", "ab^c&d~e^f", "^^~~&&", "x~y^z&w&v^u~t", std::string(40, 'a') + "^b&c~d"};
  add_short_strings(alphabet, 5, inputs);
  for (const auto& in : inputs)
    for (std::size_t rep = 1; rep <= 3; ++rep)
      for (std::size_t comp = 0; comp <= 3; ++comp)
        for (std::size_t sub = 0; sub <= (comp ? 3u : 0u); ++sub) {
          std::string_view want = repetition(in, d, rep);
          if (comp) want = component(want, d, comp);
          if (sub) want = subcomponent(want, d, sub);
          std::string_view got = part_at(in, d, rep, comp, sub);
          // The same inside a larger buffer (block reads past the field's end).
          const std::string padded = in + "^~&x^~&x^~&x^~&x^~&x";
          std::string_view in_buffer = std::string_view(padded).substr(0, in.size());
          std::string_view got_padded = part_at(in_buffer, d, rep, comp, sub, padded.data() + padded.size());
          CHECK(got_padded == want);
          INFO("input '" << in << "' rep " << rep << " comp " << comp << " sub " << sub);
          CHECK(got == want);
          if (!want.empty()) CHECK(got.data() == want.data());
        }
}

TEST_CASE("find_any_of finds the first separator across 16-byte blocks") {
  using namespace dxnorm::hl7v2;
  for (std::size_t at = 0; at < 40; ++at) {
    std::string s(40, 'x');
    s[at] = '^';
    if (at + 3 < s.size()) s[at + 3] = '~';
    CHECK(find_any_of(s.data(), s.data() + s.size(), s.data() + s.size(), '~', '^', '&') == s.data() + at);
    // A shorter range inside the buffer: never a hit past its end.
    CHECK(find_any_of(s.data(), s.data() + at, s.data() + s.size(), '~', '^', '&') == s.data() + at);
  }
  std::string none(33, 'y');
  CHECK(find_any_of(none.data(), none.data() + none.size(), none.data() + none.size(), '~', '^', '&') == none.data() + none.size());
}

TEST_CASE("split_repetition gives the parts and leaves part_at and the nested splitters give") {
  using namespace dxnorm::hl7v2;
  Delimiters d;
  const std::string alphabet = "ab~^&\\";
  std::vector<std::string> inputs = {"", "a", "ab^c&d~e^f", "^^~~&&", "x~y^z&w&v^u~t", std::string(40, 'a') + "^b&c~d",
                                     // more components than the table holds
                                     [] { std::string s; for (int i = 0; i < 40; ++i) s += std::to_string(i) + "&s^"; return s + "~r2"; }()};
  add_short_strings(alphabet, 5, inputs);
  RepParts parts;
  for (const auto& in : inputs) {
    const std::string padded = in + "^~&x^~&x^~&x^~&x^~&x";
    std::string_view in_buffer = std::string_view(padded).substr(0, in.size());
    for (std::size_t rep = 1; rep <= 3; ++rep) {
      split_repetition(in_buffer, d, rep, padded.data() + padded.size(), parts);
      std::string_view whole = repetition(in, d, rep);
      CHECK(parts.escape == (whole.find('\\') != std::string_view::npos));
      for (std::size_t comp = 0; comp <= 42; ++comp)
        for (std::size_t sub = 0; sub <= (comp ? 3u : 0u); ++sub) {
          INFO("input '" << in << "' rep " << rep << " comp " << comp << " sub " << sub);
          std::string_view want = whole;
          if (comp) want = component(want, d, comp);
          if (sub) want = subcomponent(want, d, sub);
          std::string_view got = parts.part(comp, sub);
          CHECK(got == want);
          if (!want.empty()) CHECK(got.data() == want.data() - in.data() + in_buffer.data());
          // The leaf: down to the first component, then the first subcomponent.
          std::string_view want_leaf = want;
          if (!comp) want_leaf = component(want_leaf, d, 1);
          if (!sub) want_leaf = subcomponent(want_leaf, d, 1);
          CHECK(parts.leaf(comp, sub) == want_leaf);
          std::string_view fused;
          CHECK(parts.part_and_leaf(comp, sub, fused) == !want.empty());
          if (!want.empty()) CHECK(fused == want_leaf);
          // What the table answers alone must be the same answer.
          std::string_view from_table;
          const RepParts::Table t = parts.table_leaf(comp, sub, from_table);
          if (t == RepParts::Table::kEmpty) CHECK(want.empty());
          if (t == RepParts::Table::kLeaf) {
            CHECK(!want.empty());
            CHECK(from_table == want_leaf);
            if (!want_leaf.empty()) CHECK(from_table.data() == want_leaf.data() - in.data() + in_buffer.data());
          }
        }
    }
  }
}
