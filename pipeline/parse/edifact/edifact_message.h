// The parsed form of UN/EDIFACT interchanges and messages (NHS003 MEDRPT
// pathology, NHS002 NHSRSR radiology, NHS004 screening).
//
// Contract: everything holds views into the caller's buffer, which must
// outlive the parsed objects and must not move. Nothing is unescaped at parse
// time: release characters (`?+`) are removed when a value is read
// (edifact::unescape). Numbering follows the EDIFACT directories: data
// elements and components are 1-based; segment numbers count from UNH = 1
// (as UNT's segment count does).
//
// Errors are values (Status) that name the message, the segment number and
// the segment group: `message 2, segment 41 (SG18 RSL): ...`. Nothing here
// throws or loops on garbage input.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"
#include "pipeline/core/status.h"

namespace dxnorm::edifact {

// Service characters, from UNA or the syntax defaults (UNA:+.? ').
struct Delimiters {
  char component = ':';
  char element = '+';
  char decimal = '.';
  char release = '?';
  char reserved = ' ';
  char segment = '\'';
};

struct Segment {
  std::string_view name;          // "RSL"
  std::string_view raw;           // the segment without its terminator
  std::uint32_t number = 0;       // 1-based position in the message (UNH = 1)
  std::uint32_t occurrence = 0;   // 1-based occurrence of this name in the message
  std::uint32_t first_element = 0, element_count = 0;  // into EdifactMessage::elements_
  const SourceGroup* group = nullptr;
};

// Splits at `sep`, honouring the release character; parts are raw (escaped).
std::string_view component(std::string_view element, const Delimiters& d, std::size_t n) noexcept;
std::size_t component_count(std::string_view element, const Delimiters& d) noexcept;
// Removes release characters; returns `raw` itself when there are none.
std::string_view unescape(std::string_view raw, const Delimiters& d, std::string& scratch);
// Escapes service characters for writing (NHSACK).
std::string escape(std::string_view text, const Delimiters& d);

// One message (UNH ... UNT) parsed into its segment-group tree.
class EdifactMessage final : public SourceDocument {
 public:
  std::string_view format() const noexcept override { return "edifact"; }
  const SourceGroup& root() const noexcept override { return groups_.front(); }
  std::size_t leaf_count() const noexcept override { return segments_.size(); }
  std::string_view leaf_name(std::size_t i) const noexcept override { return segments_[i].name; }
  std::uint32_t leaf_occurrence(std::size_t i) const noexcept override { return segments_[i].occurrence; }
  std::string_view identity() const noexcept override { return identity_; }
  std::string_view sender() const noexcept override { return sender_; }
  const Issues& issues() const noexcept override { return issues_; }

  const Delimiters& delimiters() const noexcept { return delims_; }
  const std::vector<Segment>& segments() const noexcept { return segments_; }
  // Data element `n` (1-based) of a segment, raw; empty when absent.
  std::string_view element(const Segment& s, std::size_t n) const noexcept {
    return n >= 1 && n <= s.element_count ? elements_[s.first_element + n - 1] : std::string_view{};
  }
  std::string_view message_reference() const noexcept { return reference_; }   // UNH-1
  std::string_view message_type() const noexcept { return type_; }             // UNH-2.1 (MEDRPT)
  std::string_view association_code() const noexcept { return association_; }  // UNH-2.5 (NHS003)
  std::string_view interchange_reference() const noexcept { return interchange_ref_; }  // UNB-5 ("" bare)
  std::string_view recipient() const noexcept { return recipient_; }

 private:
  friend class EdifactParser;
  Delimiters delims_;
  std::vector<Segment> segments_;
  std::vector<std::string_view> elements_;
  std::deque<SourceGroup> groups_;  // stable addresses; front() is the root
  std::deque<std::string> names_;   // names of groups opened by undeclared markers
  std::string_view reference_, type_, association_, interchange_ref_, sender_, recipient_;
  std::string identity_;
  Issues issues_;
};

// The envelope of an interchange: UNA?, UNB, messages, UNZ; or a bare message.
struct InterchangeHeader {
  Delimiters delims;
  bool has_una = false, has_unb = false;
  std::string_view una;           // "UNA:+.? '" as written (with its terminator)
  std::string_view unb;           // the UNB segment with its terminator
  std::string_view syntax;        // UNB-1, raw (UNOC:3)
  std::string_view sender, recipient;  // UNB-2.1, UNB-3.1
  std::string_view sender_qualifier, recipient_qualifier;  // UNB-2.2, UNB-3.2
  std::string_view reference;     // UNB-5
  std::string_view application;   // UNB-7 (MEDRPT)
  bool ack_requested = false;     // UNB-9 = 1
  bool test = false;              // UNB-11 = 1
};

struct MessageSpan {
  std::string_view text;          // UNH ... UNT with its terminator
  std::string_view reference;     // UNH-1
  std::string_view type;          // UNH-2.1
  std::uint32_t index = 0;        // 1-based in the interchange
};

struct Interchange {
  InterchangeHeader header;
  std::vector<MessageSpan> messages;
  Issues issues;
};

// Reads the envelope and checks it: UNA syntax, UNB present with UNZ, one or
// more UNH...UNT, UNT segment counts and references, UNZ message count and
// reference. A bare UNH...UNT (no UNB) is accepted as an interchange of one.
// `header` is filled as far as it could be read even on failure (to address
// an NHSACK for a broken interchange).
Result<Interchange> read_interchange(std::string_view input, InterchangeHeader* header_on_error = nullptr);

class EdifactParser {
 public:
  // Parses one message (`text` = UNH ... UNT). `context` supplies the
  // delimiters, the interchange sender/recipient/reference and the message's
  // index (for error locations).
  Status parse(std::string_view text, const InterchangeHeader& context, std::uint32_t index, EdifactMessage& out);
  // Parses a text holding [UNA][UNB] UNH ... UNT [UNZ] with exactly one message.
  Status parse_single(std::string_view text, EdifactMessage& out);
};

}  // namespace dxnorm::edifact
