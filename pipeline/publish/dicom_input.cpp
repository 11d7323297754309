// The DICOM JSON input format (`dicom-json`): QIDO-RS / WADO-RS responses and
// single datasets, split one study per message, routed as DICOM^<level>.
#include "pipeline/parse/dicom/dicom_document.h"
#include "pipeline/publish/input_format.h"

namespace dxnorm::publish {

namespace {

class DicomDocumentParser final : public DocumentParser {
 public:
  Status parse(std::string_view text, MessageHeaderInfo& info) override {
    Status st = parser_.parse(text, doc_);
    if (!st.ok()) return st;
    info.control_id = std::string(doc_.identity());
    info.type = "DICOM";
    info.trigger = std::string(doc_.level());
    info.message_type = info.type + "^" + info.trigger;
    info.sending_application = std::string(doc_.retrieve_ae());
    info.sending_facility = std::string(doc_.institution());
    return ok_status();
  }
  const SourceDocument& document() const override { return doc_; }

 private:
  dicom::DicomJsonParser parser_;
  dicom::DicomDocument doc_;
};

class DicomJsonInput final : public InputFormat {
 public:
  std::string_view name() const noexcept override { return "dicom-json"; }
  Result<SplitMessages> split(std::string_view input) const override {
    SplitMessages s;
    s.messages = dicom::split_studies(input);
    if (s.messages.size() > 1)
      s.issues.push_back(Issue{Severity::kInfo, "DICOM_SPLIT", "input",
                               "datasets of " + std::to_string(s.messages.size()) + " studies: one message per study"});
    return s;
  }
  std::unique_ptr<DocumentParser> new_parser() const override { return std::make_unique<DicomDocumentParser>(); }
};

}  // namespace

const InputFormat& dicom_json_input() {
  static const DicomJsonInput f;
  return f;
}

}  // namespace dxnorm::publish
