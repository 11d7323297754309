#include <doctest/doctest.h>

#include <string>

#include "pipeline/map/dicom_path.h"

using namespace dxnorm::map;

namespace {
std::string compile_error(std::string_view text) {
  std::string err;
  auto p = dicom_json_format().compile_path(text, PathContext{}, err);
  CHECK(p == nullptr);
  return err;
}
const DicomPath& compile(std::string_view text, std::unique_ptr<SourcePath>& keep) {
  std::string err;
  keep = dicom_json_format().compile_path(text, PathContext{}, err);
  REQUIRE_MESSAGE(keep, err);
  return static_cast<const DicomPath&>(*keep);
}
}  // namespace

TEST_CASE("dicom-json paths: keywords, tags, sequences, indexes, PN components") {
  std::unique_ptr<SourcePath> k;
  CHECK(compile("StudyInstanceUID", k).steps[0].tag == 0x0020000D);
  CHECK(compile("0020000D", k).steps[0].tag == 0x0020000D);
  const auto& seq = compile("ReferencedRequestSequence(*).AccessionNumber", k);
  REQUIRE(seq.steps.size() == 2);
  CHECK(seq.steps[0].all);
  CHECK(seq.multi);
  CHECK(compile("ModalitiesInStudy(2)", k).steps[0].index == 2);
  CHECK(compile("PatientName.Family", k).pn == PnPart::kFamily);
  CHECK(compile("PatientName.Alphabetic", k).pn == PnPart::kAlphabetic);
  CHECK(compile(".Given", k).relative);
  CHECK(compile(".", k).relative);
  const auto& g = compile("SERIES.DATASET", k);
  CHECK(g.groups == std::vector<std::string>{"SERIES"});
  CHECK(g.names_leaf);
  CHECK(compile("DATASET(*).SOPInstanceUID", k).multi);
}

TEST_CASE("dicom-json paths: load-time errors") {
  CHECK(compile_error("StudyInstanceUd").find("unknown DICOM keyword 'StudyInstanceUd'") != std::string::npos);
  CHECK(compile_error("Modality.CodeValue").find("not a sequence") != std::string::npos);
  CHECK(compile_error("StudyDate.Family").find("person name component") != std::string::npos);
  CHECK(compile_error("Family").find("PN attribute") != std::string::npos);
  CHECK(!compile_error("ModalitiesInStudy(0)").empty());
  CHECK(!compile_error("StudyInstanceUID.SERIES").empty());
}

TEST_CASE("dicom-json path tokens: tags are 8 hex digits, other digits are numbers") {
  const auto& f = dicom_json_format();
  CHECK(f.path_token("0020000D | x") == 8);
  CHECK(f.path_token("42") == 0);
  CHECK(f.path_token("123456789") == 0);
  CHECK(f.path_token("SERIES(*).Modality)") == 18);
  CHECK(f.path_token(".5") == 0);
  CHECK(f.path_token("lower") == 0);
}
