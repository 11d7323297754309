// bench_imaging: WADO-RS metadata of a 500-instance study (5 series x 100
// CT instances, ~70 attributes each, generated) -> ImagingStudy Bundle,
// through the whole chain (split, parse, route, map, validate). A plain
// program: prints the time per document.
//   ./build/bench/bench_imaging [iterations]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "pipeline/map/mapping_set.h"
#include "pipeline/publish/input_format.h"
#include "pipeline/publish/message_converter.h"
#include "pipeline/validate/fhir_validator.h"

using namespace dxnorm;
namespace fs = std::filesystem;

namespace {

std::string attr(const char* tag, const char* vr, const std::string& v, bool quote = true) {
  return std::string("\"") + tag + "\": {\"vr\": \"" + vr + "\", \"Value\": [" + (quote ? "\"" + v + "\"" : v) + "]}";
}

std::string study_metadata(int series, int per_series) {
  const std::string study = "1.2.826.0.1.3680043.10.543.7001";
  std::string out = "[";
  for (int s = 1; s <= series; ++s)
    for (int i = 1; i <= per_series; ++i) {
      if (out.size() > 1) out += ",\n";
      std::string se = study + "." + std::to_string(s);
      out += "{" + attr("00080005", "CS", "ISO_IR 192") + "," + attr("00080008", "CS", "ORIGINAL\", \"PRIMARY\", \"AXIAL") +
             "," + attr("00080016", "UI", "1.2.840.10008.5.1.4.1.1.2") + "," +
             attr("00080018", "UI", se + "." + std::to_string(i)) + "," + attr("00080020", "DA", "20240715") + "," +
             attr("00080030", "TM", "100512") + "," + attr("00080050", "SH", "ACC7001") + "," +
             attr("00080054", "AE", "RXX01PACS") + "," + attr("00080060", "CS", "CT") + "," +
             attr("00080070", "LO", "ACME") + "," + attr("00081030", "LO", "CT Chest Abdomen Pelvis") + "," +
             attr("0008103E", "LO", "Axial " + std::to_string(s)) + "," +
             "\"00100010\": {\"vr\": \"PN\", \"Value\": [{\"Alphabetic\": \"JONES^ALICE^M\"}]}," +
             attr("00100020", "LO", "9434765919") + "," + attr("00100021", "LO", "NHS") + "," +
             attr("00100030", "DA", "19700412") + "," + attr("00100040", "CS", "F") + "," +
             attr("00180015", "CS", "CHEST") + "," + attr("00180050", "DS", "1.0", false) + "," +
             attr("00180060", "DS", "120", false) + "," + attr("0020000D", "UI", study) + "," +
             attr("0020000E", "UI", se) + "," + attr("00200011", "IS", std::to_string(s), false) + "," +
             attr("00200013", "IS", std::to_string(i), false) + "," +
             attr("00200032", "DS", "-200.0, -180.5, " + std::to_string(i * 1.25), false) + "," +
             attr("00200037", "DS", "1, 0, 0, 0, 1, 0", false) + "," + attr("00280010", "US", "512", false) + "," +
             attr("00280011", "US", "512", false) + "," + attr("00280100", "US", "16", false) + "," +
             attr("00281050", "DS", "40", false) + "," + attr("00281051", "DS", "400", false) + "," +
             "\"7FE00010\": {\"vr\": \"OW\", \"BulkDataURI\": \"https://pacs.example/dicom-web/studies/" + study +
             "/series/" + se + "/instances/" + se + "." + std::to_string(i) + "/bulk/7FE00010\"}}";
    }
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 50;
  fs::path dir = fs::temp_directory_path() / "dxnorm_bench_imaging_mappings";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* sub : {"codes", "fragments", "hl7v2", "dicom"})
    fs::copy(fs::path(DXNORM_SOURCE_DIR) / "mappings" / sub, dir / sub, fs::copy_options::recursive);
  auto set = map::MappingSet::load(dir.string(), {});
  validate::FhirValidator validator;
  publish::ConverterOptions opts;
  opts.report_unmapped = false;
  publish::MessageConverter conv(set, validator, opts);
  const std::string doc = study_metadata(5, 100);
  const auto* fmt = publish::find_input_format("dicom-json");
  map::Output out;
  publish::MessageInfo info;
  auto once = [&] {
    auto split = fmt->split(doc);
    Status st = conv.convert("dicom-json", split->messages.front(), out, info);
    if (!st.ok()) {
      std::fprintf(stderr, "conversion failed: %s\n", st.error().message.c_str());
      std::exit(1);
    }
  };
  once();  // warm up
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) once();
  auto t1 = std::chrono::steady_clock::now();
  double ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / iterations;
  const auto& study = out.bundle["entry"][2]["resource"];
  std::printf("WADO-RS metadata, 500 instances (%zu bytes) -> ImagingStudy Bundle (%u series, %lld instances): %.2f ms per document (%d iterations, validate on)\n",
              doc.size(), study["series"].Size(), static_cast<long long>(study["numberOfInstances"].GetInt64()), ms, iterations);
  return 0;
}
