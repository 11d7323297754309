#include "pipeline/validate/primitive_format.h"

#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "pipeline/core/fhir_schema.h"

namespace f = dxnorm::validate::format;

TEST_CASE("dateTime, date, instant, time") {
  for (const char* ok : {"2024", "2024-03", "2024-03-01", "2024-03-01T09:30:00Z", "2024-03-01T09:30:00+01:00",
                         "2024-03-01T23:59:60.123-13:59", "0001-01-01", "2024-12-31T00:00:00.5+14:00"}) {
    CAPTURE(ok);
    CHECK(f::is_date_time(ok));
  }
  for (const char* bad : {"", "0000", "24", "2024-3", "2024-13", "2024-00-01", "2024-01-32", "2024-03-01T09:30Z",
                          "2024-03-01T09:30:00", "2024-03-01T24:00:00Z", "2024-03-01T09:30:00+14:01",
                          "2024-03-01T09:30:00.Z", "2024-03-01 09:30:00Z", "2024-03T09:30:00Z", "2024-03-01T"}) {
    CAPTURE(bad);
    CHECK_FALSE(f::is_date_time(bad));
  }
  // The 20- and 25-byte forms dxnorm writes have a fast path; its edges.
  for (const char* ok : {"2024-03-01T09:30:60Z", "2024-03-01T23:59:59-14:00", "0001-12-31T00:00:00+13:59",
                         "2024-03-01T09:30:00+00:00"}) {
    CAPTURE(ok);
    CHECK(f::is_date_time(ok));
    CHECK(f::is_instant(ok));
  }
  for (const char* bad : {"0000-03-01T09:30:00Z", "2024-03-01T09:30:61Z", "2024-03-01T09:60:00Z", "2024-00-01T09:30:00Z",
                          "2024-03-00T09:30:00Z", "2024-03-01T09:30:00-14:01", "2024-03-01T09:30:00*01:00",
                          "2024-03-01T09:30:00+01-00", "2024-03-01t09:30:00Z", "2024-03-01T09:30:00z",
                          "2024-03-01T09:30:00+1:000", "2024/03/01T09:30:00Z"}) {
    CAPTURE(bad);
    CHECK_FALSE(f::is_date_time(bad));
    CHECK_FALSE(f::is_instant(bad));
  }
  CHECK(f::is_date("2024-02-30"));  // the R4 regex does not know month lengths
  CHECK_FALSE(f::is_date("2024-03-01T09:30:00Z"));
  CHECK(f::is_instant("2024-03-01T09:30:00.000+00:00"));
  CHECK_FALSE(f::is_instant("2024-03-01"));
  CHECK_FALSE(f::is_instant("2024-03-01T09:30:00"));
  CHECK(f::is_time("09:30:00"));
  CHECK(f::is_time("23:59:59.999"));
  CHECK_FALSE(f::is_time("9:30:00"));
  CHECK_FALSE(f::is_time("09:30"));
}

TEST_CASE("id, uri, code, string, base64Binary, uuid, xhtml") {
  CHECK(f::is_id("abc-1.2"));
  CHECK(f::is_id(std::string(64, 'a')));
  CHECK_FALSE(f::is_id(std::string(65, 'a')));
  CHECK_FALSE(f::is_id("a_b"));
  CHECK_FALSE(f::is_id(""));

  CHECK(f::is_uri("http://loinc.org"));
  CHECK(f::is_uri("urn:oid:1.2.3"));
  CHECK_FALSE(f::is_uri("http://a b"));
  CHECK_FALSE(f::is_uri("http://a\xC2\xA0" "b"));  // U+00A0 is ECMAScript white space

  CHECK(f::is_code("final"));
  CHECK(f::is_code("a b"));
  CHECK_FALSE(f::is_code(" a"));
  CHECK_FALSE(f::is_code("a "));
  CHECK_FALSE(f::is_code("a  b"));
  CHECK_FALSE(f::is_code(""));

  CHECK(f::is_string("Line 1\r\n\tLine 2 "));
  CHECK(f::is_string("Zo\xC3\xAB"));
  CHECK_FALSE(f::is_string(""));
  CHECK_FALSE(f::is_string("a\fb"));
  CHECK_FALSE(f::is_string("Dr\xC2\xA0X"));

  CHECK(f::is_base64("SGVsbG8="));
  CHECK(f::is_base64("SGVs bG8=\n"));
  CHECK_FALSE(f::is_base64("SGVsbG8"));
  CHECK_FALSE(f::is_base64("SGVs*G8="));

  CHECK(f::is_uuid("urn:uuid:6f1c2a4e-0000-4000-8000-000000000001"));
  CHECK_FALSE(f::is_uuid("urn:uuid:6F1C2A4E-0000-4000-8000-000000000001"));
  CHECK_FALSE(f::is_uuid("urn:uuid:6f1c2a4e-0000-4000-8000-00000000001"));

  CHECK(f::is_xhtml("<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"));
  CHECK_FALSE(f::is_xhtml("<p>x</p>"));
  CHECK_FALSE(f::is_xhtml("<divx>"));
}

// The hand-written checkers must agree with the StructureDefinition regexes
// they replace (ECMAScript semantics, anchored).
TEST_CASE("hand-written checkers agree with the R4 regexes") {
  const auto& s = dxnorm::fhir::FhirSchema::builtin();
  struct Case {
    const char* type;
    bool (*check)(std::string_view) noexcept;
  };
  const Case cases[] = {{"dateTime", f::is_date_time}, {"date", f::is_date}, {"instant", f::is_instant},
                        {"time", f::is_time},          {"id", f::is_id},     {"code", f::is_code},
                        {"uri", f::is_uri}};
  const char* samples[] = {"2024", "2024-03", "2024-03-01", "2024-03-01T09:30:00Z", "2024-03-01T09:30:00.1+05:30",
                           "2024-03-01T09:30:00", "2024-03-01T25:30:00Z", "1000-10-10T10:10:10-13:59",
                           "2024-03-01T09:30:00+14:00", "2024-03-01T09:30:00+14:30", "09:30:00", "09:30:00.12",
                           "24:00:00", "abc", "a b", "a  b", " a", "a-b.c", "x_y", "", "0000", "1999-02-29",
                           "2024-03-01T09:30:60Z", "2024-03-01T09:30:61Z", "http://example.org/a?b=c"};
  for (const auto& c : cases) {
    const std::regex re(std::string(s.primitive_regex(c.type)), std::regex::ECMAScript);
    for (const char* sample : samples) {
      CAPTURE(c.type);
      CAPTURE(sample);
      CHECK(c.check(sample) == std::regex_match(sample, re));
    }
  }
}
