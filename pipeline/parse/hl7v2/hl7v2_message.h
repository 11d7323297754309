// The parsed form of one HL7 v2 (ER7) message.
//
// Contract: a Message holds views (offsets) into the caller's input buffer.
// The buffer must outlive the Message and must not move. Nothing is
// unescaped at parse time: values are unescaped when read (see hl7v2_value.h).
// A Message may be reused for the next parse; its vectors keep their capacity,
// so steady-state parsing does not allocate.
//
// Numbering follows the HL7 spec: fields are 1-based, and for MSH, field 1 is
// the field separator itself and field 2 the encoding characters. Segment
// occurrences are 1-based per segment name (`OBX(3)` = third OBX).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"

namespace dxnorm::hl7v2 {

struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = 0;  // v2.7+ fifth encoding character; 0 when absent
};

struct GroupDef;  // message_structure.h

// One segment, as offsets into the message buffer.
struct Segment {
  std::string_view name;       // "OBX", "ZDS"
  std::string_view raw;        // whole segment, without terminator
  std::uint32_t first_field;   // index of field 1 in Message::field_spans()
  std::uint32_t field_count;   // number of fields present (trailing empty ones included)
  std::uint32_t ordinal;       // 1-based position of the segment in the message
  std::uint32_t occurrence;    // 1-based occurrence of this name in the message
  std::uint32_t key = 0;       // segment_key(name): 0 unless the name has 3 characters
};

// The group tree: groups follow the message-structure definitions in
// schemas/hl7v2/message-structures.yaml; leaves are segments (indexes into
// Message::segments()). Group::def points to the hl7v2::GroupDef.
using Group = dxnorm::SourceGroup;
using GroupNode = dxnorm::SourceNode;

class Message final : public SourceDocument {
 public:
  // SourceDocument
  std::string_view format() const noexcept override { return "hl7v2"; }
  std::size_t leaf_count() const noexcept override { return segments_.size(); }
  std::string_view leaf_name(std::size_t i) const noexcept override { return segments_[i].name; }
  std::uint32_t leaf_occurrence(std::size_t i) const noexcept override { return segments_[i].occurrence; }
  std::string_view identity() const noexcept override { return control_id_; }
  std::string_view sender() const noexcept override {
    return segments_.empty() ? std::string_view{} : field(segments_.front(), 4);
  }

  const Delimiters& delimiters() const noexcept { return delims_; }
  std::string_view text() const noexcept { return text_; }
  std::span<const Segment> segments() const noexcept { return segments_; }

  // Raw text of field `field` (1-based, all repetitions) of a segment; empty
  // view when the field is absent. For MSH, field(…,1) is the separator and
  // field(…,2) the encoding characters, as in the spec.
  std::string_view field(const Segment& seg, int field) const noexcept {
    if (field < 1 || static_cast<std::uint32_t>(field) > seg.field_count) return {};
    const std::size_t idx = seg.first_field + static_cast<std::size_t>(field) - 1;
    if (idx >= field_span_count_) return {};
    const auto [begin, end] = field_spans_[idx];
    return text_.substr(begin, end - begin);
  }

  // MSH-9 parts, MSH-10, MSH-12 (raw; never contain escapes in practice).
  std::string_view message_type() const noexcept { return message_type_; }   // "ORU"
  std::string_view trigger_event() const noexcept { return trigger_event_; } // "R01"
  std::string_view structure_id() const noexcept { return structure_id_; }   // "ORU_R01" (resolved)
  std::string_view control_id() const noexcept { return control_id_; }
  std::string_view version() const noexcept { return version_; }

  // Root of the group tree (the message itself).
  const Group& root() const noexcept override { return groups_.front(); }

  // --- Navigation helpers (added with the parser implementation) ---------
  // Every group of the message, root first, then in document order (a group
  // comes after its parent and before its later siblings).
  std::span<const Group> groups() const noexcept { return {groups_.data(), groups_used_}; }
  // The segment a node holds; nullptr when the node is a group.
  const Segment* segment_of(const GroupNode& node) const noexcept {
    return node.segment >= 0 && static_cast<std::size_t>(node.segment) < segments_.size()
               ? &segments_[static_cast<std::size_t>(node.segment)]
               : nullptr;
  }
  // First segment named `name` held directly by `g` (not in child groups);
  // nullptr when there is none.
  const Segment* find_segment(const Group& g, std::string_view name) const noexcept;
  // HAPI-style path of a group, e.g. "/PATIENT_RESULT(1)/ORDER_OBSERVATION(2)";
  // "/" for the root. For issue locations.
  std::string path(const Group& g) const;

  // What the parser noticed but tolerated: segments it could not place in
  // the structure, unknown segments, trailing garbage... Never patient data.
  const Issues& issues() const noexcept override { return issues_; }

  // Internal storage, filled by Hl7v2Parser. Public for the parser and tests.
  std::span<const std::pair<std::uint32_t, std::uint32_t>> field_spans() const noexcept {
    return {field_spans_.data(), field_span_count_};
  }

  // Forgets the content but keeps every vector's capacity (and the group
  // objects with their children's capacity) for the next parse.
  void clear();

  // Hazard: a Message points into itself (Group::parent, GroupNode::group
  // point into its own group storage). Do not copy a parsed Message; parse
  // into the Message you keep, or move-construct it (vector moves keep the
  // storage, so the pointers stay valid).
  Message() : groups_(1) {}
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;

 private:
  friend class Hl7v2Parser;
  friend class StructureMatcher;

  std::string_view text_;
  Delimiters delims_;
  std::vector<Segment> segments_;
  // [begin, end) offsets into text_ of every field of every segment:
  // field_spans_[0, field_span_count_). Like groups_, the vector is a pool:
  // the entries past the count are room the parser writes into without a
  // push_back per field, and clear() keeps them (they are not zeroed again).
  // A moved-from Message, like its groups(), is only for clear() or parse().
  std::vector<std::pair<std::uint32_t, std::uint32_t>> field_spans_;
  std::size_t field_span_count_ = 0;
  // Group storage; groups_[0] is the root. Children hold pointers into this
  // vector, so it is sized before matching and never reallocated while a
  // tree is being built: if the pool turns out too small, the parser grows
  // it and rebuilds the whole tree (hl7v2_parser.cpp, Hl7v2Parser::parse).
  // groups_ is a pool: groups_[0, groups_used_) belong to the current message;
  // the rest are spare objects whose children vectors keep their capacity.
  std::vector<Group> groups_;
  std::size_t groups_used_ = 1;
  std::string_view message_type_, trigger_event_, structure_id_, control_id_, version_;
  Issues issues_;
};

}  // namespace dxnorm::hl7v2
