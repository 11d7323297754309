// The FHIR JSON writer: decimals kept as written, escapes, and the Bundle
// assembled from already-written resources giving the very same bytes.
#include <doctest/doctest.h>

#include <rapidjson/document.h>
#include <rapidjson/writer.h>

#include <cctype>
#include <string>

#include "pipeline/core/fhir_json.h"

using namespace dxnorm::fhir;

TEST_CASE("decimals are written as written, strings escaped, Bundles assembled from resource texts") {
  rapidjson::Document d;
  d.Parse(R"({"resourceType":"Bundle","type":"transaction","entry":[
      {"fullUrl":"urn:uuid:1","resource":{"resourceType":"Observation","valueString":"a\"b\\c\n\u0001é"},"request":{"method":"PUT"}},
      {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Observation","n":[1,-2,true,null]},"request":{"method":"PUT"}}]})");
  REQUIRE_FALSE(d.HasParseError());
  // A decimal kept as written: "1.10" stays "1.10".
  std::string tagged = std::string(1, kRawNumberTag) + "1.10";
  d["entry"][1]["resource"].AddMember("value", rapidjson::Value(tagged.c_str(), d.GetAllocator()), d.GetAllocator());
  std::string whole = to_fhir_json(d);
  CHECK(whole.find(R"("value":1.10)") != std::string::npos);
  CHECK(whole.find(R"("valueString":"a\"b\\c\n\u0001é")") != std::string::npos);
  // Round trip through a standard parser.
  rapidjson::Document back;
  back.Parse(whole.c_str());
  REQUIRE_FALSE(back.HasParseError());
  CHECK(std::string(back["entry"][0]["resource"]["valueString"].GetString()) == "a\"b\\c\n\x01\xC3\xA9");

  std::string r0 = to_fhir_json(d["entry"][0]["resource"]);
  std::string r1 = to_fhir_json(d["entry"][1]["resource"]);
  rapidjson::StringBuffer sb;
  std::string bundle = "old bytes";
  write_fhir_bundle(d, {r0, r1}, sb, bundle);
  CHECK(bundle == whole);
}

// The compact writer's bytes are a contract (redeliveries are compared byte
// for byte). They equal rapidjson::Writer's except that \u00XX escapes use
// lower-case hex, as dxnorm has always written them; the reference below
// lower-cases those escapes and otherwise is rapidjson::Writer.
//
// Hazard: with RAPIDJSON_SSE2 (set for the project), Writer<StringBuffer> has
// a SIMD string scan that passes bytes 0x1A-0x1F through unescaped in the
// aligned middle of strings of 16+ bytes (it compares against 0x19). The
// reference writes to another buffer type to get the generic, correct path.
namespace {

using ReferenceBuffer = rapidjson::GenericStringBuffer<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>>;

std::string reference_json(const rapidjson::Value& v) {
  ReferenceBuffer sb;
  rapidjson::Writer<ReferenceBuffer> w(sb);
  struct Emit {
    rapidjson::Writer<ReferenceBuffer>& w;
    void operator()(const rapidjson::Value& x) {
      if (is_raw_number(x)) {
        auto t = raw_number_text(x);
        w.RawValue(t.data(), t.size(), rapidjson::kNumberType);
      } else if (x.IsObject()) {
        w.StartObject();
        for (const auto& m : x.GetObject()) {
          w.Key(m.name.GetString(), m.name.GetStringLength());
          (*this)(m.value);
        }
        w.EndObject();
      } else if (x.IsArray()) {
        w.StartArray();
        for (const auto& e : x.GetArray()) (*this)(e);
        w.EndArray();
      } else {
        x.Accept(w);
      }
    }
  };
  Emit{w}(v);
  std::string s(sb.GetString(), sb.GetSize());
  for (std::size_t i = 0; i + 5 < s.size(); ++i) {
    if (s[i] == '\\' && s[i + 1] == '\\') ++i;  // an escaped backslash, not an escape
    else if (s[i] == '\\' && s[i + 1] == 'u')
      for (std::size_t j = i + 2; j < i + 6; ++j) s[j] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[j])));
  }
  return s;
}

std::string compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  write_fhir_json(v, sb);
  return {sb.GetString(), sb.GetSize()};
}

rapidjson::Value str(std::string_view s, rapidjson::Document::AllocatorType& a) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
}

}  // namespace

TEST_CASE("compact writer: escaping edge cases match rapidjson::Writer (lower-case \\u00xx)") {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  const std::string samples[] = {
      "",
      "\"",
      "\\",
      "/",
      "a/b</script>",
      std::string("\0", 1),
      std::string("x\0y", 3),
      "x\x01\x1f\x7f",  // not first: a leading \x01 is kRawNumberTag
      "\b\f\n\r\t\x0b\x0e",
      "\xC3\xA9t\xC3\xA9",                 // é: two-byte UTF-8, passed through
      "\xE2\x82\xAC \xF0\x9F\x98\x80",     // €, an emoji (surrogate pair in JSON if escaped)
      "\xFF\xFE invalid UTF-8 passes",     // no validation
      "Tag \x01 in the middle is text",
      "exactly sixteen!",
      "fifteen chars..",
      "seventeen chars..",
      "a \"quoted\" word at 30 bytes\\",
      "line1\nline2\nline3 and a long tail of ordinary text, beyond sixteen bytes",
  };
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const auto& s : samples) {
    rapidjson::Value one(rapidjson::kObjectType);
    one.AddMember(str(s, a), str(s, a), a);  // as key and as value
    CHECK(compact(one) == reference_json(one));
    arr.PushBack(str(s, a), a);
  }
  d.AddMember("strings", arr, a);
  d.AddMember("emptyObject", rapidjson::Value(rapidjson::kObjectType), a);
  d.AddMember("emptyArray", rapidjson::Value(rapidjson::kArrayType), a);
  rapidjson::Value nested(rapidjson::kArrayType);
  nested.PushBack(rapidjson::Value(rapidjson::kArrayType), a).PushBack(rapidjson::Value(rapidjson::kObjectType), a);
  d.AddMember("nested", nested, a);
  d.AddMember("decimal", str(std::string(1, kRawNumberTag) + "1.10", a), a);
  d.AddMember("negative", str(std::string(1, kRawNumberTag) + "-0.000", a), a);
  d.AddMember("exponent", str(std::string(1, kRawNumberTag) + "1.5e3", a), a);
  d.AddMember("int", -42, a).AddMember("uint", 18446744073709551615u, a).AddMember("bool", true, a);
  d.AddMember("null", rapidjson::Value(), a).AddMember("", "empty key", a);
  const std::string out = compact(d);
  CHECK(out == reference_json(d));
  CHECK(out.find(R"("decimal":1.10,"negative":-0.000,"exponent":1.5e3)") != std::string::npos);
  CHECK(out.find(R"("x\u0001\u001f)") != std::string::npos);  // lower case, unlike rapidjson::Writer
  CHECK(out.find(R"("emptyObject":{},"emptyArray":[],"nested":[[],{}])") != std::string::npos);
  CHECK(out.find(R"("":"empty key")") != std::string::npos);
  // A tag byte alone is an empty raw number: nothing is written (as before).
  rapidjson::Value tag_only = str(std::string(1, kRawNumberTag), a);
  CHECK(compact(tag_only).empty());
}

TEST_CASE("compact writer: every length and escape position") {
  // Exercises the short (1-3, 4-7, 8-15 bytes), the two- and three-block
  // (16-32, 33-48) and the 16-byte block loop (49+) paths,
  // their overlapping tails and the escape fallback at every position.
  rapidjson::Document d;
  auto& a = d.GetAllocator();
  const char escapes[] = {'"', '\\', '\n', '\x00', '\x1f', '\x01'};
  const char plain[] = {'a', '/', '\x7f', '\xC3', '\xA9', ' ', '~', '\x20'};
  for (std::size_t n = 0; n <= 70; ++n) {
    std::string base;
    for (std::size_t i = 0; i < n; ++i) base += plain[i % sizeof plain];
    rapidjson::Value clean(rapidjson::kObjectType);
    clean.AddMember(str(base, a), str(base, a), a);
    REQUIRE(compact(clean) == reference_json(clean));
    for (std::size_t pos = 0; pos < n; ++pos) {
      std::string s = base;
      s[pos] = escapes[(n + pos) % sizeof escapes];
      if (pos + 7 < n) s[pos + 7] = escapes[(n * pos) % sizeof escapes];  // a second one
      rapidjson::Value o(rapidjson::kObjectType);
      o.AddMember(str(s, a), str(s, a), a);
      rapidjson::Value arr(rapidjson::kArrayType);
      arr.PushBack(str(s, a), a).PushBack(str(base, a), a);
      o.AddMember("arr", arr, a);
      INFO("n=" << n << " pos=" << pos);
      REQUIRE(compact(o) == reference_json(o));
    }
  }
}

TEST_CASE("compact writer: every byte value in every length class") {
  // The vector scan tests x ^ 0x82 < 0xA1 (signed) for controls and '"': the
  // bytes around the edges (0x1f-0x23, 0x5b-0x5d, 0x7f-0x82, 0xa0-0xa2) matter.
  rapidjson::Document d;
  auto& a = d.GetAllocator();
  for (int c = 0; c < 256; ++c) {
    for (std::size_t n : {3u, 5u, 12u, 16u, 24u, 32u, 40u, 48u, 50u}) {
      std::string s(n, 'm');
      s[n / 2 + 1 < n ? n / 2 + 1 : n - 1] = static_cast<char>(c);  // never first: \x01 there is kRawNumberTag
      rapidjson::Value o(rapidjson::kObjectType);
      o.AddMember(str(s, a), str(s, a), a);
      INFO("byte=" << c << " n=" << n);
      REQUIRE(compact(o) == reference_json(o));
    }
  }
}

TEST_CASE("pretty output escapes every control character, also in long strings") {
  // rapidjson 1.1.0's SSE2 scan for Writer<StringBuffer> leaves 0x1A-0x1F raw
  // in strings of 16+ bytes; the pretty path must not go through it.
  rapidjson::Document d;
  d.SetObject();
  for (int c = 1; c < 0x20; ++c) {
    std::string s = "abcdefghijklmnopqrstuvwxyz";
    s[17] = static_cast<char>(c);
    d.AddMember(rapidjson::Value(("k" + std::to_string(c)).c_str(), d.GetAllocator()),
                rapidjson::Value(s.c_str(), d.GetAllocator()), d.GetAllocator());
  }
  const std::string pretty = dxnorm::fhir::to_fhir_json(d, true);
  for (char ch : pretty) CHECK((static_cast<unsigned char>(ch) >= 0x20 || ch == '\n'));
  rapidjson::Document back;
  back.Parse(pretty.c_str());
  REQUIRE_FALSE(back.HasParseError());
  CHECK(back == d);
}

TEST_CASE("compact writer: string members, their name and value written under one room check") {
  // A member with a string value takes a path of its own: the name's escape
  // fallback, a raw-number value and the value's escape fallback each after
  // the other's fast path, and strings longer than the writer's 4 KB window.
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  const std::string tag(1, kRawNumberTag);
  const std::string names[] = {"k", "name", "a\"b", "line\nbreak", std::string(5000, 'n'), std::string(20, '\\')};
  const std::string values[] = {"", "v", "plain value", "quote\"d", tag + "1.10", tag, std::string(9000, 'v'),
                                std::string(9000, 'v') + "\x1f"};
  for (const auto& name : names)
    for (const auto& value : values) {
      rapidjson::Value o(rapidjson::kObjectType);
      o.AddMember(str(name, a), str(value, a), a);
      o.AddMember(str(name, a), str(value, a), a);  // after a ','
      INFO("name size " << name.size() << ", value size " << value.size());
      std::string want = reference_json(o);
      CHECK(compact(o) == want);
      d.AddMember(str(name, a), o, a);
    }
  // Raw numbers are found among the strings with something to escape (the
  // tag is a control character): as elements, and with the tag elsewhere.
  rapidjson::Value arr(rapidjson::kArrayType);
  for (const std::string& s : {tag + "2.50", "x" + tag, tag, tag + tag, tag + "\"", std::string(40, 'e') + tag})
    arr.PushBack(str(s, a), a);
  d.AddMember("elements", arr, a);
  CHECK(compact(d) == reference_json(d));
  CHECK(compact(d).find(R"("elements":[2.50,"x\u0001",,)") != std::string::npos);
}
