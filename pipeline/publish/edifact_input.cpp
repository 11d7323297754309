// The EDIFACT input format: an interchange (UNA? UNB ... UNZ) or a bare
// UNH...UNT splits into one message per UNH...UNT; each parses into its
// segment-group tree; UNH-2.1 ^ UNH-2.5 (MEDRPT^NHS003) routes it. When UNB-9
// asks for it, acknowledge() builds the NHSACK (NHS001) reply.
#include <ctime>

#include "pipeline/parse/edifact/edifact_message.h"
#include "pipeline/parse/edifact/nhsack.h"
#include "pipeline/publish/input_format.h"

namespace dxnorm::publish {

namespace {

class EdifactDocumentParser final : public DocumentParser {
 public:
  Status parse(std::string_view text, MessageHeaderInfo& info) override {
    Status st = parser_.parse_single(text, message_);
    if (!st.ok()) return st;
    info.control_id = std::string(message_.identity());
    info.type = std::string(message_.message_type());
    info.trigger = std::string(message_.association_code());
    info.message_type = info.type + "^" + info.trigger;
    info.sending_application = std::string(message_.sender());
    info.sending_facility = std::string(message_.sender());
    return ok_status();
  }
  const SourceDocument& document() const override { return message_; }

 private:
  edifact::EdifactParser parser_;
  edifact::EdifactMessage message_;
};

class EdifactInput final : public InputFormat {
 public:
  std::string_view name() const noexcept override { return "edifact"; }

  Result<SplitMessages> split(std::string_view input) const override {
    auto ic = edifact::read_interchange(input);
    if (!ic.ok()) return std::move(ic).error();
    SplitMessages s;
    s.issues = std::move(ic->issues);
    const auto& h = ic->header;
    for (const auto& m : ic->messages) {
      if (!h.has_una && !h.has_unb) {
        s.messages.push_back(m.text);
        continue;
      }
      // The message with its interchange's service characters and header, so
      // that it parses alone (a Kafka retry, a dead letter, `convert`).
      auto text = std::make_shared<std::string>();
      text->append(h.una);
      if (h.has_unb) {
        text->append(h.unb);
        if (h.unb.empty() || h.unb.back() != h.delims.segment) text->push_back(h.delims.segment);
      }
      text->append(m.text);
      if (m.text.empty() || m.text.back() != h.delims.segment) text->push_back(h.delims.segment);
      if (h.has_unb) {
        text->append("UNZ").push_back(h.delims.element);
        text->append("1").push_back(h.delims.element);
        text->append(h.reference).push_back(h.delims.segment);
      }
      s.messages.push_back(*text);
      s.storage.push_back(std::move(text));
    }
    return s;
  }

  std::unique_ptr<DocumentParser> new_parser() const override { return std::make_unique<EdifactDocumentParser>(); }

  bool multi_message_records() const noexcept override { return true; }

  std::optional<Acknowledgement> acknowledge(std::string_view input, const Error* split_error,
                                             const std::vector<MessageOutcome>& outcomes) const override {
    edifact::InterchangeHeader h;
    auto ic = edifact::read_interchange(input, &h);
    if (ic.ok()) h = ic->header;
    // No UNB, or one without a sender or recipient: nobody to answer.
    if (!edifact::can_acknowledge(h) || !h.ack_requested) return std::nullopt;
    std::vector<edifact::AckMessageResult> results;
    // The adaptor's MESH workflow of the reply: screening (NHS004) or pathology.
    std::string_view workflow = "PATH_MEDRPT_V3_ACK";
    if (ic.ok())
      for (const auto& m : ic->messages)
        if (m.text.substr(0, m.text.find(h.delims.segment)).find("NHS004") != std::string_view::npos)
          workflow = "SCRN_BCS_MEDRPT_V4_ACK";
    std::string error;
    bool unreadable = false;
    if (split_error || !ic.ok()) {
      const Error& e = split_error ? *split_error : ic.error();
      error = e.error_code + (e.location.empty() ? "" : " at " + e.location) + ": " + e.message;
      // A broken message inside a sound envelope: the messages could not be extracted.
      unreadable = e.error_code == "EDIFACT_TRUNCATED" || e.error_code == "EDIFACT_SEGMENT_COUNT";
    } else {
      for (std::size_t i = 0; i < ic->messages.size(); ++i) {
        edifact::AckMessageResult r;
        r.reference = std::string(ic->messages[i].reference);
        r.accepted = i < outcomes.size() ? outcomes[i].accepted : false;
        if (!r.accepted) r.reason = i < outcomes.size() ? outcomes[i].reason : "not processed";
        results.push_back(std::move(r));
      }
    }
    auto ack = edifact::build_nhsack(h, results, error, unreadable, std::time(nullptr), workflow);
    Acknowledgement a;
    a.payload = std::move(ack.text);
    a.key = std::string(h.sender) + "/" + std::string(h.reference);
    a.status = std::string(edifact::to_code(ack.status));
    return a;
  }
};

}  // namespace

const InputFormat& edifact_input() {
  static const EdifactInput f;
  return f;
}

}  // namespace dxnorm::publish
