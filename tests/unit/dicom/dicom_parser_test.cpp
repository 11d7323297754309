#include <doctest/doctest.h>

#include <string>

#include "pipeline/parse/dicom/dicom_dictionary.h"
#include "pipeline/parse/dicom/dicom_document.h"

using namespace dxnorm;
using namespace dxnorm::dicom;

namespace {
std::string ds(const std::string& study, const std::string& series = "", const std::string& sop = "") {
  std::string s = R"({"0020000D": {"vr": "UI", "Value": [")" + study + R"("]})";
  if (!series.empty()) s += R"(, "0020000E": {"vr": "UI", "Value": [")" + series + R"("]})";
  if (!sop.empty()) s += R"(, "00080018": {"vr": "UI", "Value": [")" + sop + R"("]})";
  return s + "}";
}
Error fail(std::string_view text, ParserLimits limits = {}) {
  DicomDocument d;
  Status st = DicomJsonParser(limits).parse(text, d);
  REQUIRE_FALSE(st.ok());
  return st.error();
}
}  // namespace

TEST_CASE("dictionary: keywords and tags both ways") {
  CHECK(find_keyword("StudyInstanceUID")->tag == 0x0020000D);
  CHECK(find_tag(0x00100010)->keyword == "PatientName");
  CHECK(find_tag(0x00100010)->vr == "PN");
  CHECK(format_tag(0x0020000D) == "(0020,000D)");
  CHECK(parse_tag("0020000d") == 0x0020000Du);
  CHECK_FALSE(parse_tag("0020000G"));
  CHECK(dictionary_size() > 150);
}

TEST_CASE("WADO-RS metadata: SERIES groups in first-seen order, datasets as leaves") {
  std::string text = "[" + ds("1.2", "1.2.2", "a") + "," + ds("1.2", "1.2.1", "b") + "," + ds("1.2", "1.2.2", "c") + "]";
  DicomDocument d;
  REQUIRE(DicomJsonParser().parse(text, d).ok());
  CHECK(d.format() == "dicom-json");
  CHECK(d.leaf_count() == 3);
  CHECK(d.level() == "INSTANCE");
  CHECK(d.study_uid() == "1.2");
  const auto& root = d.root();
  REQUIRE(root.children.size() == 2);
  CHECK(root.children[0].group->name == "SERIES");
  CHECK(root.children[0].group->children.size() == 2);  // a, c
  CHECK(root.children[1].group->children.size() == 1);
  CHECK(root.children[1].group->index == 2);
}

TEST_CASE("study-level QIDO: datasets at the root; a single object works too") {
  DicomDocument d;
  REQUIRE(DicomJsonParser().parse(ds("9.9"), d).ok());
  CHECK(d.level() == "STUDY");
  REQUIRE(d.root().children.size() == 1);
  CHECK(d.root().children[0].segment == 0);
}

TEST_CASE("split: one message per study, each parses") {
  std::string text = "[" + ds("1") + ", " + ds("1") + "," + ds("2") + "]";
  auto msgs = split_studies(text);
  REQUIRE(msgs.size() == 2);
  DicomDocument d;
  REQUIRE(DicomJsonParser().parse(msgs[0], d).ok());
  CHECK(d.leaf_count() == 2);
  REQUIRE(DicomJsonParser().parse(msgs[1], d).ok());
  CHECK(d.study_uid() == "2");
  CHECK(split_studies("[" + ds("1") + "]").size() == 1);
  CHECK(split_studies("not json").size() == 1);
}

TEST_CASE("malformed DICOM JSON: errors as values with locations") {
  CHECK(fail("[42]").error_code == "DICOM_NOT_DATASET");
  CHECK(fail("[]").error_code == "DICOM_NOT_DATASET");
  CHECK(fail("[{\"0020000D\": ").error_code == "DICOM_JSON_SYNTAX");
  auto e = fail(R"([{"0020000D": {"vr": "UI", "Value": "1.2"}}])");
  CHECK(e.error_code == "DICOM_VR_SHAPE");
  CHECK(e.location == "dataset 1 (0020,000D)");
  e = fail("[" + ds("1") + R"(, {"0020000D": {"vr": "UI", "Value": ["1"]}, "00100010": {"vr": "PN", "Value": ["A^B"]}}])");
  CHECK(e.location == "dataset 2 (0010,0010)[1]");
  CHECK(fail(R"([{"0020000D": {"Value": ["1"]}}])").error_code == "DICOM_VR_SHAPE");
  CHECK(fail(R"([{"StudyUID": {"vr": "UI", "Value": ["1"]}}])").error_code == "DICOM_VR_SHAPE");
  e = fail(R"([{"00080060": {"vr": "CS", "Value": ["CT"]}}])");
  CHECK(e.error_code == "DICOM_NO_STUDY_UID");
  CHECK(e.location == "dataset 1 (0020,000D)");
  // The national imaging repository's instance example (a QIDO-RS instance
  // search scoped by URL): the message names the instance and how to supply
  // the UID.
  e = fail(R"([{"00080018": {"Value": ["2.25.3125"], "vr": "UI"}, "00080052": {"Value": ["IMAGE"], "vr": "CS"},
              "0020000E": {"Value": ["2.25.1042"], "vr": "UI"}}])");
  CHECK(e.error_code == "DICOM_NO_STUDY_UID");
  CHECK(e.message.find("an instance") != std::string::npos);
  CHECK(e.message.find("2.25.3125") == std::string::npos);  // no identifiers in messages
  CHECK(e.message.find("includefield=0020000D") != std::string::npos);
  CHECK(e.message.find('\n') == std::string::npos);
  CHECK(fail("[" + ds("1") + "," + ds("2") + "]").error_code == "DICOM_MIXED_STUDIES");
  CHECK(fail(R"([{"0020000D": {"vr": "UI", "Value": ["1"]}, "7FE00010": {"vr": "OB", "BulkDataURI": {}}}])").error_code ==
        "DICOM_VR_SHAPE");
  // Deep sequences are refused, not recursed into without end.
  std::string deep = R"({"0020000D": {"vr": "UI", "Value": ["1"]})";
  std::string nest = "{}";
  for (int i = 0; i < 40; ++i) nest = R"({"00081115": {"vr": "SQ", "Value": [)" + nest + "]}}";
  CHECK(fail("[" + nest.substr(0, nest.size() - 1) + R"(, "0020000D": {"vr": "UI", "Value": ["1"]}}])").error_code ==
        "DICOM_VR_SHAPE");
  (void)deep;
}

TEST_CASE("a 50 MB metadata document is refused by size, without parsing") {
  std::string big = "[" + ds("1", "1.1", "x");
  std::string one = "," + ds("1", "1.1", "x");
  while (big.size() < 50u * 1024 * 1024) big += one;
  big += "]";
  auto e = fail(big);
  CHECK(e.error_code == "DICOM_TOO_LARGE");
  CHECK(e.code == StatusCode::kInvalidInput);
  CHECK(split_studies(big).size() == 1);
}

TEST_CASE("bulk data is accepted and never part of a value") {
  DicomDocument d;
  REQUIRE(DicomJsonParser().parse(R"({"0020000D": {"vr": "UI", "Value": ["1"]}, "7FE00010": {"vr": "OB", "InlineBinary": "AAEC"}})", d).ok());
  CHECK(first_string(find_attribute(d.dataset(0), 0x7FE00010)).empty());
}
