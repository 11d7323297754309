// The navigable form every input format is parsed into, so that one mapping
// language serves them all: a tree of named groups (HL7 v2 PATIENT_RESULT /
// ORDER_OBSERVATION, EDIFACT segment groups, DICOM study / series) whose
// leaves ("segments") are the format's records (an HL7 or EDIFACT segment, a
// DICOM dataset). What a path means inside a leaf is the format's business
// (pipeline/map/source_format.h).
//
// Contract: a document and its groups are immutable once parsed; pointers
// into the tree stay valid until the document is cleared or re-parsed.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"

namespace dxnorm {

struct SourceGroup;

struct SourceNode {
  // Exactly one of the two is set.
  const SourceGroup* group = nullptr;
  std::int32_t segment = -1;  // leaf index in the document
  bool placed = true;         // false: the structure had no place for it (reported)
};

struct SourceGroup {
  const void* def = nullptr;          // the format's definition of this group, if any
  std::string_view name;              // "ORDER_OBSERVATION", "SG18", "SERIES"; root: the structure id
  const SourceGroup* parent = nullptr;
  std::uint32_t index = 0;            // 1-based occurrence among same-named siblings
  std::vector<SourceNode> children;   // in document order
};

class SourceDocument {
 public:
  virtual ~SourceDocument() = default;
  virtual std::string_view format() const noexcept = 0;          // "hl7v2"
  virtual const SourceGroup& root() const noexcept = 0;
  virtual std::size_t leaf_count() const noexcept = 0;
  virtual std::string_view leaf_name(std::size_t leaf) const noexcept = 0;        // "OBX"
  virtual std::uint32_t leaf_occurrence(std::size_t leaf) const noexcept = 0;     // OBX(3) -> 3
  // A stable identity of the message for fallback ids (MSH-10, a reference number).
  virtual std::string_view identity() const noexcept = 0;
  // Who sent it (MSH-4, the interchange sender): with identity(), names the message.
  virtual std::string_view sender() const noexcept = 0;
  // What the parser noticed but tolerated. Never patient data.
  virtual const Issues& issues() const noexcept = 0;
};

}  // namespace dxnorm
