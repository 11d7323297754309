// Every function of the expression language, plus literals, fallback,
// concatenation and conditions.
#include <doctest/doctest.h>

#include "tests/unit/map/map_test_util.h"

using namespace dxnorm::map::test;

namespace {
bool has(const ExprResults& r, const std::string& k) { return r.values.count(k) > 0; }
std::string get(const ExprResults& r, const std::string& k) {
  auto it = r.values.find(k);
  return it == r.values.end() ? std::string("<absent>") : it->second;
}
bool warned(const ExprResults& r, const std::string& code) {
  for (const auto& i : r.issues)
    if (i.code == code) return true;
  return false;
}
}  // namespace

TEST_CASE("date and dateTime: precision kept, Europe/London daylight saving, explicit offsets") {
  auto r = eval_exprs({{"summer", "'20240715103000' | dateTime"},
                       {"winter", "'20240115103000' | dateTime"},
                       {"offset", "'20240715103000-0500' | dateTime"},
                       {"utc", "'20240715103000+0000' | dateTime"},
                       {"hhmm", "'202407151030' | dateTime"},
                       {"fraction", "'20240715103000.1234' | dateTime"},
                       {"year", "'2024' | dateTime"},
                       {"month", "'202403' | date"},
                       {"day", "'20240315' | date"},
                       {"date_of_dtm", "'20240315103000' | date"},
                       {"instant", "'20240715103000' | instant"},
                       {"time", "'1030' | time"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "summer") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "winter") == "2024-01-15T10:30:00+00:00");
  CHECK(get(r, "offset") == "2024-07-15T10:30:00-05:00");
  CHECK(get(r, "utc") == "2024-07-15T10:30:00+00:00");
  CHECK(get(r, "hhmm") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "fraction").rfind("2024-07-15T10:30:00.1234", 0) == 0);
  CHECK(get(r, "year") == "2024");
  CHECK(get(r, "month") == "2024-03");
  CHECK(get(r, "day") == "2024-03-15");
  CHECK(get(r, "date_of_dtm") == "2024-03-15");
  CHECK(get(r, "instant") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "time") == "10:30:00");
}

TEST_CASE("invalid dates are omitted with a DATE_INVALID warning") {
  auto r = eval_exprs({{"bad", "'196203520' | date"}, {"month13", "'20241301' | date"}}, kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK_FALSE(has(r, "bad"));
  CHECK_FALSE(has(r, "month13"));
  CHECK(warned(r, "DATE_INVALID"));
}

TEST_CASE("a date converted again in the same message gives the same text; failures warn every time") {
  // Conversions are remembered per message by (function, source text).
  auto r = eval_exprs({{"a", "MSH-7 | dateTime"},
                       {"b", "EVN-2 | dateTime"},       // same text, another segment
                       {"c", "EVN-2 | date"},           // same text, another function
                       {"d", "EVN-2 | instant"},
                       {"e", "'20240715103000' | dateTime"},
                       {"bad1", "'20241301' | date"},
                       {"bad2", "'20241301' | date | first"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "a") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "b") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "c") == "2024-07-15");
  CHECK(get(r, "d") == "2024-07-15T10:30:00+01:00");
  CHECK(get(r, "e") == "2024-07-15T10:30:00+01:00");
  CHECK_FALSE(has(r, "bad1"));
  CHECK_FALSE(has(r, "bad2"));
  int invalid = 0;
  for (const auto& i : r.issues) invalid += i.code == "DATE_INVALID";
  CHECK(invalid == 2);
}

TEST_CASE("source-zone changes the zone of local times") {
  auto r = eval_exprs({{"t", "'20240715103000' | dateTime"}}, kAdt, "source-zone: UTC\n");
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "t") == "2024-07-15T10:30:00+00:00");
}

TEST_CASE("numbers keep their digits; invalid numbers warn") {
  auto r = eval_exprs({{"dec", "'+1.50' | decimal"},
                       {"half", "'.5' | decimal"},
                       {"int", "'007' | integer"},
                       {"pos0", "'0' | positiveInt"},
                       {"notnum", "'abc' | decimal"}},
                      kAdt);
  CHECK(get(r, "dec") == "1.50");
  CHECK(get(r, "half") == "0.5");
  CHECK(get(r, "int") == "7");
  CHECK_FALSE(has(r, "pos0"));
  CHECK_FALSE(has(r, "notnum"));
  CHECK(warned(r, "NUMBER_INVALID"));
}

TEST_CASE("text functions") {
  auto r = eval_exprs({{"upper", "PID-5.1 | upper"},
                       {"lower", "PID-5.1 | lower"},
                       {"trim", "'  x  ' | trim"},
                       {"substring", "PID-5.1 | substring(1, 2)"},
                       {"substring_open", "PID-5.1 | substring(1)"},
                       {"replace", "PID-11.1 | replace(' ', '_')"},
                       {"starts", "PID-5.1 | startsWith('DO')"},
                       {"starts_not", "PID-5.1 | startsWith('X')"},
                       {"contains", "PID-5.1 | contains('OE')"},
                       {"split_count", "'a,b,,c' | split(',') | count"},
                       {"split_last", "'a,b,,c' | split(',') | last"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "upper") == "DOE");
  CHECK(get(r, "lower") == "doe");
  CHECK(get(r, "trim") == "x");
  CHECK(get(r, "substring") == "OE");
  CHECK(get(r, "substring_open") == "OE");
  CHECK(get(r, "replace") == "1_HIGH_ST");
  CHECK(get(r, "starts") == "true");
  CHECK_FALSE(has(r, "starts_not"));
  CHECK(get(r, "contains") == "true");
  CHECK(get(r, "split_count") == "3");
  CHECK(get(r, "split_last") == "c");
}

TEST_CASE("collection functions: first, last, count, exists, empty, join, lines") {
  auto r = eval_exprs({{"first", "PID-3(*).1 | first"},
                       {"last", "PID-3(*).1 | last"},
                       {"count", "PID-3(*) | count"},
                       {"exists", "PID-19 | exists"},
                       {"exists_yes", "PID-8 | exists"},
                       {"empty", "PID-19 | empty"},
                       {"join_pipe", "PID-3(*).1 | join('/')"},
                       {"join_call", "join(PID-5.2, PID-19, PID-5.1, ' ')"},
                       {"lines", "PID-5(*).1 | lines"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "first") == "12345");
  CHECK(get(r, "last") == "777");
  CHECK(get(r, "count") == "3");
  CHECK_FALSE(has(r, "exists"));
  CHECK(get(r, "exists_yes") == "true");
  CHECK(get(r, "empty") == "true");
  CHECK(get(r, "join_pipe") == "12345/9434765919/777");
  CHECK(get(r, "join_call") == "JOHN DOE");
  CHECK(get(r, "lines") == "DOE\nSMITH");
}

TEST_CASE("nhsNumber: Modulus 11 check, spaces removed, invalid numbers warn") {
  auto r = eval_exprs({{"valid", "'9434765919' | nhsNumber"},
                       {"spaced", "'943 476 5919' | nhsNumber"},
                       {"check10", "'1234567890' | nhsNumber"},
                       {"short", "'808338364' | nhsNumber"},
                       {"check0", "'4010232137' | nhsNumber"}},
                      kAdt);
  CHECK(get(r, "valid") == "9434765919");
  CHECK(get(r, "spaced") == "9434765919");
  CHECK_FALSE(has(r, "check10"));
  CHECK_FALSE(has(r, "short"));
  CHECK(get(r, "check0") == "4010232137");
  CHECK(warned(r, "NHS_NUMBER_INVALID"));
}

TEST_CASE("code-table functions honour each table's unmapped policy") {
  auto r = eval_exprs({{"map", "'A' | map('t-keep')"},
                       {"display", "'A' | display('t-keep')"},
                       {"system", "'A' | system('t-keep')"},
                       {"keep_unknown", "'Q' | map('t-keep')"},
                       {"keep_unknown_system", "'Q' | system('t-keep')"},
                       {"keep_unknown_display", "'Q' | display('t-keep')"},
                       {"default", "'Q' | map('t-default')"},
                       {"default_display", "'Q' | display('t-default')"},
                       {"drop", "'Q' | map('t-drop')"},
                       {"shorthand", "'B' | map('t-drop')"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "map") == "X");
  CHECK(get(r, "display") == "Ex");
  CHECK(get(r, "system") == "http://example.org/target");
  CHECK(get(r, "keep_unknown") == "Q");
  CHECK(get(r, "keep_unknown_system") == "http://example.org/local");
  CHECK_FALSE(has(r, "keep_unknown_display"));
  CHECK(get(r, "default") == "UNK");
  CHECK(get(r, "default_display") == "Unknown");
  CHECK_FALSE(has(r, "drop"));
  CHECK(get(r, "shorthand") == "Y");
}

TEST_CASE("map() on a table with unmapped: error fails the message") {
  auto r = eval_exprs({{"err", "'Q' | map('t-error')"}}, kAdt);
  CHECK(r.load_errors.find("CODE_UNMAPPED") != std::string::npos);
}

TEST_CASE("rangeLow / rangeHigh read reference ranges") {
  auto r = eval_exprs({{"lo", "'3.5-5.1' | rangeLow"},
                       {"hi", "'3.5-5.1' | rangeHigh"},
                       {"neg_lo", "'-2--1' | rangeLow"},
                       {"gt_lo", "'>3.5' | rangeLow"},
                       {"gt_hi", "'>3.5' | rangeHigh"},
                       {"lt_hi", "'<=5' | rangeHigh"},
                       {"text", "'negative' | rangeLow"}},
                      kAdt);
  CHECK(get(r, "lo") == "3.5");
  CHECK(get(r, "hi") == "5.1");
  CHECK(get(r, "neg_lo") == "-2");
  CHECK(get(r, "gt_lo") == "3.5");
  CHECK_FALSE(has(r, "gt_hi"));
  CHECK(get(r, "lt_hi") == "5");
  CHECK_FALSE(has(r, "text"));
}

TEST_CASE("whereField keeps values whose segment has a field equal to one of the values") {
  auto r = eval_exprs({{"nm", "OBX-5(*) | whereField(2, 'NM') | count"},
                       {"sn_code", "OBX-3(*).1 | whereField(2, 'SN')"},
                       {"by_path", "OBX-5(*) | whereField(3, 'WBC', 'HB') | join('+')"}},
                      kOru);
  REQUIRE(r.load_errors.empty());
  // From the message scope, a (*) path reads every OBX of the message.
  CHECK(get(r, "nm") == "2");
  CHECK(get(r, "sn_code") == "CRP");
  CHECK(get(r, "by_path") == "135+4.50");
}

TEST_CASE("fallback, concatenation, comparisons and logic") {
  auto r = eval_exprs({{"fallback", "PID-19 ?? PID-5.1"},
                       {"fallback_first", "PID-5.1 ?? PID-5.2"},
                       {"concat", "'urn:' + PID-5.1 + ':' + PID-5.2"},
                       {"concat_empty", "'urn:' + PID-19"},
                       {"eq", "PID-8 = 'M'"},
                       {"ne", "PID-8 != 'M'"},
                       {"in", "PID-8 in ['F', 'M']"},
                       {"not_in", "PID-8 in ['F', 'U']"},
                       {"and", "PID-8 and PID-5"},
                       {"and_false", "PID-8 and PID-19"},
                       {"or", "PID-19 or PID-8"},
                       {"not", "not PID-19"},
                       {"paren", "(PID-19 ?? 'x') + 'y'"},
                       {"number", "42"},
                       {"dq", "\"double quoted\""},
                       {"escape", "'it\\'s'"}},
                      kAdt);
  REQUIRE(r.load_errors.empty());
  CHECK(get(r, "fallback") == "DOE");
  CHECK(get(r, "fallback_first") == "DOE");
  CHECK(get(r, "concat") == "urn:DOE:JOHN");
  CHECK_FALSE(has(r, "concat_empty"));
  CHECK(get(r, "eq") == "true");
  CHECK_FALSE(has(r, "ne"));
  CHECK(get(r, "in") == "true");
  CHECK_FALSE(has(r, "not_in"));
  CHECK(get(r, "and") == "true");
  CHECK_FALSE(has(r, "and_false"));
  CHECK(get(r, "or") == "true");
  CHECK(get(r, "not") == "true");
  CHECK(get(r, "paren") == "xy");
  CHECK(get(r, "number") == "42");
  CHECK(get(r, "dq") == "double quoted");
  CHECK(get(r, "escape") == "it's");
}

TEST_CASE("decimal_form: a view of the input when it is already a FHIR decimal, else the digits rebuilt") {
  // Every string up to length 5 over signs, dot, digits, space and a letter.
  // The expected form is written from the rule, not from the code: optional
  // '-', the integer digits without leading zeros ("0" when none), then '.'
  // and the fraction digits when there are any; '+' and padding dropped.
  const std::string alphabet = " +-.01x";
  std::string s, buf;
  for (std::size_t len = 0; len <= 5; ++len) {
    std::size_t total = 1;
    for (std::size_t i = 0; i < len; ++i) total *= alphabet.size();
    for (std::size_t k = 0; k < total; ++k) {
      s.clear();
      for (std::size_t i = 0, x = k; i < len; ++i, x /= alphabet.size()) s.push_back(alphabet[x % alphabet.size()]);
      std::string_view t = s;
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
      std::string expected;
      bool valid = !t.empty();
      std::string_view d = t;
      bool neg = false;
      if (valid && (d.front() == '+' || d.front() == '-')) {
        neg = d.front() == '-';
        d.remove_prefix(1);
      }
      const std::size_t dot = d.find('.');
      std::string_view ip = d.substr(0, dot), fp = dot == std::string_view::npos ? "" : d.substr(dot + 1);
      valid = valid && !(ip.empty() && fp.empty()) &&
              ip.find_first_not_of("0123456789") == std::string_view::npos &&
              fp.find_first_not_of("0123456789") == std::string_view::npos;
      if (valid) {
        const std::size_t nz = ip.find_first_not_of('0');
        std::string_view digits = nz == std::string_view::npos ? (ip.empty() ? "" : "0") : ip.substr(nz);
        expected = std::string(neg ? "-" : "") + (digits.empty() ? "0" : std::string(digits)) +
                   (fp.empty() ? "" : "." + std::string(fp));
      }
      CAPTURE(s);
      std::string_view form;
      REQUIRE(dxnorm::map::decimal_form(s, buf, form) == valid);
      std::string normalised;
      REQUIRE(dxnorm::map::normalise_decimal(s, normalised) == valid);
      if (!valid) continue;
      CHECK(form == expected);
      CHECK(normalised == expected);
      // No copy when the input (less padding) is the form already.
      if (expected == t) CHECK(form.data() == t.data());
    }
  }
}
