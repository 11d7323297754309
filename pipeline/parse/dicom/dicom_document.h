// DICOM JSON (PS3.18 annex F) as a SourceDocument: what QIDO-RS (study,
// series and instance searches) and WADO-RS (study metadata) return, or a
// single dataset object.
//
// The group tree a mapping navigates:
//   STUDY (root, the message: one study)
//     SERIES            one per SeriesInstanceUID, in first-seen order
//       DATASET         the instance (or series-level) datasets of that series
//     DATASET           datasets without a SeriesInstanceUID (study-level QIDO)
//
// Contract: a DicomDocument owns its parsed JSON; views and pointers into it
// stay valid until the next parse into the same document. Attribute values
// are read, never copied; BulkDataURI / InlineBinary are validated for shape
// but nothing ever reads them (pixel data never reaches FHIR).
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"
#include "pipeline/core/status.h"

namespace dxnorm::dicom {

// Tolerance and size policy (one place, not scattered ifs).
struct ParserLimits {
  std::size_t max_bytes = 32u << 20;      // a WADO-RS metadata document of a large study fits
  std::size_t max_datasets = 20000;
  int max_sequence_depth = 16;            // SQ nesting
};

class DicomDocument final : public SourceDocument {
 public:
  DicomDocument() = default;
  DicomDocument(const DicomDocument&) = delete;
  DicomDocument& operator=(const DicomDocument&) = delete;

  std::string_view format() const noexcept override { return "dicom-json"; }
  const SourceGroup& root() const noexcept override { return root_; }
  std::size_t leaf_count() const noexcept override { return leaves_.size(); }
  std::string_view leaf_name(std::size_t) const noexcept override { return "DATASET"; }
  std::uint32_t leaf_occurrence(std::size_t leaf) const noexcept override {
    return static_cast<std::uint32_t>(leaf + 1);
  }
  std::string_view identity() const noexcept override { return identity_; }
  std::string_view sender() const noexcept override { return sender_; }
  const Issues& issues() const noexcept override { return issues_; }

  const rapidjson::Value& dataset(std::size_t leaf) const { return *leaves_[leaf]; }
  // Ordinal of a top-level attribute of a dataset among all top-level
  // attributes of the document (for the unmapped report).
  std::size_t attribute_ordinal(std::size_t leaf, std::size_t member_index) const noexcept {
    return attr_base_[leaf] + member_index;
  }
  std::size_t attribute_total() const noexcept { return attr_total_; }
  std::string_view study_uid() const noexcept { return study_uid_; }
  std::string_view level() const noexcept { return level_; }  // STUDY, SERIES or INSTANCE
  std::string_view retrieve_ae() const noexcept { return sender_; }
  std::string_view institution() const noexcept { return institution_; }

 private:
  friend class DicomJsonParser;
  void clear();

  rapidjson::Document json_;
  std::string buffer_;
  std::vector<const rapidjson::Value*> leaves_;
  std::vector<std::size_t> attr_base_;
  std::size_t attr_total_ = 0;
  SourceGroup root_;
  std::deque<SourceGroup> series_;
  std::string identity_, sender_, institution_, study_uid_, level_;
  Issues issues_;
};

// The attribute `tag` of a dataset (or sequence item) object; nullptr when
// absent. `index` receives its member position.
const rapidjson::Value* find_attribute(const rapidjson::Value& object, std::uint32_t tag,
                                       std::size_t* index = nullptr) noexcept;
// The first string of an attribute's Value (trailing spaces / NULs removed).
std::string_view first_string(const rapidjson::Value* attribute) noexcept;
// A DICOM string as a value: trailing padding (space, NUL) removed.
std::string_view trim_padding(std::string_view s) noexcept;

class DicomJsonParser {
 public:
  explicit DicomJsonParser(ParserLimits limits = {}) : limits_(limits) {}
  // Errors (stage parse, invalid input): DICOM_TOO_LARGE, DICOM_JSON_SYNTAX,
  // DICOM_NOT_DATASET, DICOM_VR_SHAPE, DICOM_NO_STUDY_UID, DICOM_MIXED_STUDIES,
  // with locations such as `dataset 3 (0020,000D)`.
  [[nodiscard]] Status parse(std::string_view text, DicomDocument& out) const;
  const ParserLimits& limits() const noexcept { return limits_; }

 private:
  ParserLimits limits_;
};

// Splits a DICOM JSON input into messages, one per study: runs of consecutive
// datasets of a top-level array that share a StudyInstanceUID. A message may
// be the whole input (an object, an array of one study) or a run of dataset
// objects separated by commas, which DicomJsonParser accepts too. Inputs it
// cannot scan (too large, malformed) come back whole, for parse() to explain.
std::vector<std::string_view> split_studies(std::string_view input, const ParserLimits& limits = {});

}  // namespace dxnorm::dicom
