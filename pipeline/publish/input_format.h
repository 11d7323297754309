// Input formats as the conversion chain sees them: how raw bytes (a file, a
// Kafka record) split into messages, how one message parses into a
// SourceDocument, and what routes it to a mapping. One implementation per
// format (hl7v2_input.cpp, ...), listed in input_format.cpp.
//
// Contract: InputFormat objects are stateless singletons; a DocumentParser
// holds the per-thread parse state (reused across messages) and the last
// parsed document, valid until the next parse().
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"
#include "pipeline/core/status.h"

namespace dxnorm::publish {

struct SplitMessages {
  std::vector<std::string_view> messages;  // views into the input
  Issues issues;
};

// What is known about a message whatever happened to it (headers, logs, routing).
struct MessageHeaderInfo {
  std::string control_id;           // MSH-10, the interchange/message reference...
  std::string message_type;         // "ORU^R01"
  std::string type, trigger;        // "ORU", "R01": route keys
  std::string sending_application, sending_facility;
};

class DocumentParser {
 public:
  virtual ~DocumentParser() = default;
  // Parses one message (as returned by split()). On success document() is it.
  virtual Status parse(std::string_view message, MessageHeaderInfo& info) = 0;
  virtual const SourceDocument& document() const = 0;
};

class InputFormat {
 public:
  virtual ~InputFormat() = default;
  virtual std::string_view name() const noexcept = 0;  // "hl7v2"
  virtual Result<SplitMessages> split(std::string_view input) const = 0;
  virtual std::unique_ptr<DocumentParser> new_parser() const = 0;
};

const InputFormat* find_input_format(std::string_view name) noexcept;
// Guesses the format of raw bytes (a file given to `convert`): JSON is
// dicom-json, UNA/UNB/UNH is edifact, anything else hl7v2. Only formats that
// exist are returned; nullptr when the guess is not available.
const InputFormat* detect_input_format(std::string_view bytes) noexcept;
std::vector<std::string> input_format_names();

}  // namespace dxnorm::publish
