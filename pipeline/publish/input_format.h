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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/core/issue.h"
#include "pipeline/core/source_tree.h"
#include "pipeline/core/status.h"

namespace dxnorm::publish {

struct SplitMessages {
  std::vector<std::string_view> messages;  // views into the input (or into `storage`)
  Issues issues;
  // Texts a format built so that each message parses alone (an EDIFACT
  // message with its interchange's UNA/UNB); `messages` may point into them.
  std::vector<std::shared_ptr<const std::string>> storage;
};

// What became of one message of an input, for formats that acknowledge.
struct MessageOutcome {
  bool accepted = true;
  std::string reason;               // rejected: "<stage> <CODE>: <message>" (no patient data)
};

// A reply the sender asked for (EDIFACT NHSACK), to publish once the
// outcomes of every message of the input are known.
struct Acknowledgement {
  std::string payload;
  std::string key;                  // e.g. "<sender>/<interchange reference>"
  std::string status;               // e.g. "IAF", "IAP", "IRA", "IRI"
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
  // True when one input (a Kafka record) may hold several messages that are
  // converted one by one (an EDIFACT interchange). Default: one per record.
  virtual bool multi_message_records() const noexcept { return false; }
  // The reply the input asked for, given each message's outcome (in split()
  // order) or, when split() failed, its error. nullopt: none was asked.
  virtual std::optional<Acknowledgement> acknowledge(std::string_view /*input*/, const Error* /*split_error*/,
                                                     const std::vector<MessageOutcome>& /*outcomes*/) const {
    return std::nullopt;
  }
};

const InputFormat* find_input_format(std::string_view name) noexcept;
// Guesses the format of raw bytes (a file given to `convert`): JSON is
// dicom-json, UNA/UNB/UNH is edifact, anything else hl7v2. Only formats that
// exist are returned; nullptr when the guess is not available.
const InputFormat* detect_input_format(std::string_view bytes) noexcept;
std::vector<std::string> input_format_names();

}  // namespace dxnorm::publish
