// Paths into DICOM JSON (the `dicom-json` format of the mapping language):
//   StudyInstanceUID  0020000D          an attribute by keyword or tag (first value)
//   ModalitiesInStudy(*)  (2)           every value / the second value
//   PatientName.Alphabetic  .Family .Given .Middle .Prefix .Suffix
//                                       PN component groups and '^' components
//   ReferencedRequestSequence.AccessionNumber      first item of a sequence
//   ReferencedRequestSequence(*).AccessionNumber   every item (or (2): the second)
//   SERIES  SERIES.DATASET  DATASET     groups and datasets (for `for` / `$each`)
//   SERIES(*).SeriesInstanceUID         the attribute in every series
//   DATASET(*).SOPInstanceUID           the attribute in every dataset below the scope
//   .  .AccessionNumber  .Family        relative to the current item or value
//
// Resolution (the contract, see mappings/README.md "dicom-json paths"):
// - In a dataset scope (`for` / `$each` over DATASET) a keyword reads that
//   dataset only. In a group scope (the study, a SERIES) it reads the first
//   dataset below that group that has the attribute; never a sibling's.
// - Keywords come from schemas/dicom/attributes.txt; an unknown keyword is a
//   load-time error. Tags (8 hex digits) work for any attribute.
// - BulkDataURI / InlineBinary are never read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/map/source_format.h"

namespace dxnorm::map {

struct DicomStep {
  std::uint32_t tag = 0;
  std::string vr;          // from the dictionary; empty for an unknown tag
  int index = 0;           // 0: first (read) / all (iterate)
  bool all = false;
};

enum class PnPart : std::uint8_t { kNone, kAlphabetic, kIdeographic, kPhonetic, kFamily, kGiven, kMiddle, kPrefix, kSuffix };

struct DicomPath final : SourcePath {
  // (groups: "SERIES")
  int group_index = 0;
  bool group_all = false;
  bool dataset = false;     // names DATASET
  int dataset_index = 0;
  bool dataset_all = false;
  std::vector<DicomStep> steps;
  PnPart pn = PnPart::kNone;
  bool relative = false;

  std::size_t eval(const Scope& scope, EvalContext& ctx, bool all) const override;
  void iterate(const Scope& scope, EvalContext& ctx, std::vector<Cursor>& out) const override;
};

bool parse_dicom_path(std::string_view text, DicomPath& out, std::string& error);

// The DICOM JSON format of the mapping language (registered as "dicom-json").
const SourceFormat& dicom_json_format();

}  // namespace dxnorm::map
