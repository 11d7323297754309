// NHS003 EDIFACT through the Kafka pipeline (issue 5): interchanges on an
// `edifact` input topic become FHIR Bundles and per-type records, messages
// that cannot be mapped become dead letters, and every interchange that asks
// for it (UNB ... ++1) gets its NHSACK on the acknowledgement topic: IAF
// (accepted), IAP (partially), IRA (all messages rejected), IRI (envelope
// rejected). The record is acknowledged (offset committed) only after all of
// its outputs, dead letters and the NHSACK were delivered.
#include <map>
#include <regex>

#include "integration_util.h"
#include "pipeline/parse/edifact/edifact_message.h"

using namespace dxnorm;
using namespace dxnorm::itest;

namespace {

// The UNH...UNT message of a corpus file, renumbered to `ref`.
std::string corpus_message(const std::string& file, const std::string& ref, const std::string& type = "") {
  std::string s = read_file(std::string(DXNORM_EDIFACT_FIXTURES) + "/" + file);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  auto h = s.find("UNH+");
  auto t = s.rfind("UNT+");
  REQUIRE(h != std::string::npos);
  REQUIRE(t != std::string::npos);
  auto end = s.find('\'', t);
  std::string m = s.substr(h, end == std::string::npos ? std::string::npos : end - h);
  m = std::regex_replace(m, std::regex("^UNH\\+1\\+"), "UNH+" + ref + "+");
  m = std::regex_replace(m, std::regex("UNT\\+([0-9]+)\\+1$"), "UNT+$1+" + ref);
  if (!type.empty()) m = std::regex_replace(m, std::regex("MEDRPT:0:1:RT:NHS003"), type);
  return m + "'";
}

std::string interchange(const std::vector<std::string>& msgs, const std::string& ref, bool ack) {
  std::string s = "UNA:+.? 'UNB+UNOC:3+LABTEST01:80+GPTEST01:80+200103:1702+" + ref + "++MEDRPT" +
                  (ack ? "++1" : "") + "'";
  for (const auto& m : msgs) s += m;
  return s + "UNZ+" + std::to_string(msgs.size()) + "+" + ref + "'";
}

}  // namespace

TEST_CASE("edifact topic: FHIR topics, dead letters and NHSACK (accepted, partially, rejected) per interchange") {
  quiet_logs();
  kafka::EmbeddedBroker broker(1);
  auto cfg = test_config(broker, "itest-edifact", "edifact.in");
  cfg.inputs.front().format = "edifact";
  cfg.ack_topic = "edifact.ack";
  auto topics = create_topics(broker, cfg, 2);
  REQUIRE(topics.count("edifact.ack"));

  // An unroutable message: an NHS003 message whose association code no mapping takes.
  const std::string unknown_type = "MEDRPT:0:1:RT:NHS099";
  std::vector<Input> inputs = {
      // accepted fully: two messages
      {"accepted", "IC-A", interchange({corpus_message("BasicPath.edifact.dat", "1"),
                                        corpus_message("quantity.edifact.dat", "2")}, "100001", true), true},
      // partially accepted: message 2 cannot be routed
      {"partial", "IC-P", interchange({corpus_message("multiRange.edifact.dat", "1"),
                                       corpus_message("fasting.edifact.dat", "2", unknown_type),
                                       corpus_message("codedTextResult.edifact.dat", "3")}, "100002", true), true},
      // all messages rejected
      {"all-rejected", "IC-R", interchange({corpus_message("fasting.edifact.dat", "7", unknown_type)}, "100003", true),
       false},
      // envelope rejected (UNZ counts 5 messages, there is 1): dead letter, IRI
      {"envelope", "IC-E", "", false},
      // no acknowledgement asked: FHIR only
      {"no-ack", "IC-N", interchange({corpus_message("mutliSpecimen.edifact.dat", "1")}, "100005", false), true},
      // a bare message (no UNB): FHIR only
      {"bare", "IC-B", read_file(std::string(DXNORM_EDIFACT_FIXTURES) + "/uncodedHeader.edifact.dat"), true},
  };
  inputs[3].payload = interchange({corpus_message("BasicPath.edifact.dat", "1")}, "100004", true);
  inputs[3].payload.replace(inputs[3].payload.rfind("UNZ+1+"), 6, "UNZ+5+");

  publish(broker.bootstraps(), "edifact.in", inputs);
  TopicReader reader(broker.bootstraps(), topics);
  RunnerThread rt(cfg, load_mappings());
  REQUIRE(rt.wait_done(inputs.size(), 45s));
  // Counted done only once every output of the record, the NHSACK included,
  // was confirmed by the broker: all four replies are there now.
  REQUIRE(reader.catch_up(10s));
  CHECK(reader.count("edifact.ack") == 4);
  const auto counts = rt.runner().counts();
  CHECK(counts.consumed == inputs.size());
  CHECK(counts.retried == 0);
  // The offsets are committed (auto-commit of acknowledged records).
  CHECK(reader.wait_for([&] { return committed_offsets(broker.bootstraps(), "itest-edifact", "edifact.in", 2) ==
                                     static_cast<std::int64_t>(inputs.size()); },
                        10s));
  CHECK(rt.finish() == 0);
  CHECK(reader.gaps() == 0);

  // FHIR: 2 + 2 + 0 + 0 + 1 + 1 Bundles.
  CHECK(reader.count("fhir.bundle") == 6);
  CHECK(reader.count("fhir.DiagnosticReport") == 6);
  for (const auto& r : reader.records("fhir.bundle")) {
    CHECK(r.header("dxnorm-mapping") == std::optional<std::string>("edifact-nhs003-medrpt"));
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("edifact.in"));
  }
  // Dead letters: message 2 of the partial interchange, the single message of
  // the rejected one (each its own text), and the broken envelope (the record).
  const auto dead = reader.records(cfg.dead_letter_topic);
  REQUIRE(dead.size() == 3);
  std::map<std::string, int> dead_codes;
  for (const auto& r : dead) {
    auto code = r.header("dxnorm-error-code");
    REQUIRE(code.has_value());
    ++dead_codes[*code];
    if (*code == "NO_ROUTE") {
      CHECK(r.value.find("UNH+") != std::string::npos);
      CHECK(r.value.find("NHS099") != std::string::npos);
      // only the rejected message, not its whole interchange
      CHECK(r.value.find("UNH+", r.value.find("UNH+") + 1) == std::string::npos);
    }
  }
  CHECK(dead_codes["NO_ROUTE"] == 2);
  CHECK(dead_codes["EDIFACT_MESSAGE_COUNT"] == 1);

  // NHSACK replies, by the interchange they answer.
  std::map<std::string, Record> ack_by_ref;
  for (const auto& r : reader.records("edifact.ack")) {
    CHECK(r.header("content-type") == std::optional<std::string>("application/edifact"));
    CHECK(r.header("dxnorm-source-topic") == std::optional<std::string>("edifact.in"));
    auto ic = edifact::read_interchange(r.value);
    REQUIRE_MESSAGE(ic.ok(), r.value);
    CHECK(ic->messages.size() == 1);
    CHECK(ic->header.sender == "GPTEST01");     // addressed back
    CHECK(ic->header.recipient == "LABTEST01");
    CHECK(r.value.find("UNH+1+NHSACK:D:1:NH:NHS001'BGM+AKR'DTM+137:") != std::string::npos);
    CHECK(r.key == "LABTEST01/" + std::string(ic->header.reference));
    ack_by_ref[std::string(ic->header.reference)] = r;
  }
  REQUIRE(ack_by_ref.size() == 4);
  CHECK(ack_by_ref["100001"].header("dxnorm-ack-status") == std::optional<std::string>("IAF"));
  CHECK(ack_by_ref["100001"].value.find("NIR+SIR:100001+LABTEST01:80+GPTEST01:80+IAF'NMR+AGO:1+MA'NMR+AGO:2+MA'") !=
        std::string::npos);
  CHECK(ack_by_ref["100002"].header("dxnorm-ack-status") == std::optional<std::string>("IAP"));
  CHECK(ack_by_ref["100002"].value.find("+IAP'NMR+AGO:1+MA'NMR+AGO:2+MR'FTX+ERD+++route NO_ROUTE") !=
        std::string::npos);
  CHECK(ack_by_ref["100002"].value.find("NMR+AGO:3+MA'UNT+") != std::string::npos);
  CHECK(ack_by_ref["100003"].header("dxnorm-ack-status") == std::optional<std::string>("IRA"));
  CHECK(ack_by_ref["100003"].value.find("+IRA'NMR+AGO:7+MR'FTX+ERD+++") != std::string::npos);
  CHECK(ack_by_ref["100004"].header("dxnorm-ack-status") == std::optional<std::string>("IRI"));
  CHECK(ack_by_ref["100004"].value.find("+IRI'FTX+ERD+++EDIFACT_MESSAGE_COUNT") != std::string::npos);
  CHECK(!ack_by_ref.count("100005"));
}
