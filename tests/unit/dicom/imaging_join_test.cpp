// Order -> study -> report for one examination, in two arrival orders: the
// resources refer to each other by deterministic id (no lookups), so the
// Bundles, and the references in them, do not depend on what came first.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "pipeline/core/fhir_json.h"
#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/validate/fhir_validator.h"

using namespace dxnorm;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The imaging-relevant mapping folders only (other formats' work in progress
// must not break this test).
std::shared_ptr<const map::MappingSet> imaging_mappings() {
  fs::path dir = fs::temp_directory_path() / "dxnorm_imaging_join_mappings";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* sub : {"codes", "fragments", "hl7v2", "dicom"})
    fs::copy(fs::path(DXNORM_SOURCE_DIR) / "mappings" / sub, dir / sub, fs::copy_options::recursive);
  return map::MappingSet::load(dir.string(), {});
}

struct Converted {
  std::map<std::string, std::string> ids;         // resourceType -> id (first of each)
  std::map<std::string, std::string> refs;        // "Type.element" -> reference
  std::string json;
};

Converted convert(publish::MessageConverter& conv, const std::string& file) {
  std::string text = slurp(fs::path(DXNORM_SOURCE_DIR) / "tests/golden/cases" / file);
  const auto* fmt = publish::detect_input_format(text);
  REQUIRE(fmt);
  map::Output out;
  publish::MessageInfo info;
  Status st = conv.convert(fmt->name(), text, out, info);
  REQUIRE_MESSAGE(st.ok(), file << ": " << st.error().message);
  Converted c;
  for (const auto& e : out.bundle["entry"].GetArray()) {
    const auto& r = e["resource"];
    std::string type = r["resourceType"].GetString();
    c.ids.emplace(type, r["id"].GetString());
    for (const char* el : {"basedOn", "imagingStudy"})
      if (r.HasMember(el) && r[el].IsArray() && !r[el].Empty())
        c.refs[type + "." + el] = r[el][0]["reference"].GetString();
  }
  c.json = fhir::to_fhir_json(out.bundle);
  return c;
}

}  // namespace

TEST_CASE("order -> study -> report join by id, whichever arrives first") {
  auto set = imaging_mappings();
  validate::FhirValidator validator;
  const char* files[] = {"imaging_orm_o01_ct_chest.hl7", "imaging_dicom_wado_ct_chest.json",
                         "imaging_oru_r01_ct_chest_report.hl7"};
  std::map<std::string, Converted> first, second;
  {
    publish::MessageConverter conv(set, validator);
    for (const char* f : files) first[f] = convert(conv, f);
  }
  {
    publish::MessageConverter conv(set, validator);  // report, study, order
    for (int i = 2; i >= 0; --i) second[files[i]] = convert(conv, files[i]);
  }
  for (const char* f : files) CHECK_MESSAGE(first[f].json == second[f].json, f);

  const auto& order = first["imaging_orm_o01_ct_chest.hl7"];
  const auto& study = first["imaging_dicom_wado_ct_chest.json"];
  const auto& report = first["imaging_oru_r01_ct_chest_report.hl7"];
  const std::string sr = "ServiceRequest/" + order.ids.at("ServiceRequest");
  const std::string is = "ImagingStudy/" + study.ids.at("ImagingStudy");
  CHECK(study.refs.at("ImagingStudy.basedOn") == sr);
  CHECK(report.refs.at("DiagnosticReport.basedOn") == sr);
  CHECK(report.refs.at("DiagnosticReport.imagingStudy") == is);
  // The same patient everywhere (NHS number keys).
  CHECK(order.ids.at("Patient") == study.ids.at("Patient"));
  CHECK(order.ids.at("Patient") == report.ids.at("Patient"));
  // The report does not write a second ServiceRequest for the RIS's order.
  CHECK(report.ids.count("ServiceRequest") == 0);
}
