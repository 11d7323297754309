// Hl7v2Parser: one pass over an ER7 message into a Message (views + group tree).
//
// Tolerance is a named policy, not scattered ifs: see ParserPolicy.
// Errors are values; the parser never throws, crashes or hangs on any input
// (fuzzed: tests/fuzz/hl7v2_parser_fuzz.cpp).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "pipeline/core/status.h"
#include "pipeline/parse/hl7v2/hl7v2_message.h"
#include "pipeline/parse/hl7v2/message_structure.h"

namespace dxnorm::hl7v2 {

struct ParserPolicy {
  std::size_t max_message_bytes = 64u << 20;  // larger -> error, not a slow death
  std::size_t max_segments = 1u << 20;
  std::size_t max_fields = 1u << 24;
};

class Hl7v2Parser {
 public:
  explicit Hl7v2Parser(const StructureRegistry& structures = StructureRegistry::builtin(),
                       ParserPolicy policy = {});

  // Parse exactly one message (starting with MSH, after framing was removed;
  // a leading UTF-8 BOM and leading blank lines are tolerated). `out` is
  // cleared and refilled; on error its content is unspecified.
  // Error locations: "MSH-2", "OBX(3)-5", "segment 7"...
  Status parse(std::string_view text, Message& out) const;

 private:
  const StructureRegistry& structures_;
  ParserPolicy policy_;
};

// Split an input file/record into single messages: strips a UTF-8 BOM and
// MLLP framing (VT ... FS CR, several frames in one buffer), unwraps FHS/BHS
// batch envelopes (BTS/FTS counts are checked and mismatches reported as
// issues), and splits on each MSH. Each returned view starts at "MSH".
// Text outside any message (other than envelopes and whitespace) is reported.
struct SplitResult {
  std::vector<std::string_view> messages;
  Issues issues;
};
Result<SplitResult> split_messages(std::string_view input);

}  // namespace dxnorm::hl7v2
