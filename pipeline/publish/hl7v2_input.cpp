// The HL7 v2 input format: MLLP / batch splitting, ER7 parsing, MSH routing.
#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "pipeline/parse/hl7v2/hl7v2_value.h"
#include "pipeline/publish/input_format.h"

namespace dxnorm::publish {

namespace {

class Hl7v2DocumentParser final : public DocumentParser {
 public:
  Status parse(std::string_view text, MessageHeaderInfo& info) override {
    Status st = parser_.parse(text, message_);
    if (!st.ok()) return st;
    const auto& d = message_.delimiters();
    info.control_id = std::string(message_.control_id());
    info.type = std::string(message_.message_type());
    info.trigger = std::string(message_.trigger_event());
    info.message_type = info.type + "^" + info.trigger;
    if (!message_.segments().empty()) {
      const auto& msh = message_.segments()[0];
      info.sending_application = std::string(hl7v2::component(message_.field(msh, 3), d, 1));
      info.sending_facility = std::string(hl7v2::component(message_.field(msh, 4), d, 1));
    }
    return ok_status();
  }
  const SourceDocument& document() const override { return message_; }

 private:
  hl7v2::Hl7v2Parser parser_;
  hl7v2::Message message_;
};

class Hl7v2Input final : public InputFormat {
 public:
  std::string_view name() const noexcept override { return "hl7v2"; }
  Result<SplitMessages> split(std::string_view input) const override {
    auto r = hl7v2::split_messages(input);
    if (!r.ok()) return std::move(r).error();
    SplitMessages s;
    s.messages = std::move(r->messages);
    s.issues = std::move(r->issues);
    return s;
  }
  std::unique_ptr<DocumentParser> new_parser() const override { return std::make_unique<Hl7v2DocumentParser>(); }
};

}  // namespace

const InputFormat& hl7v2_input() {
  static const Hl7v2Input f;
  return f;
}

}  // namespace dxnorm::publish
