#include <doctest/doctest.h>

#include <string>

#include "pipeline/parse/hl7v2/hl7v2_parser.h"
#include "tests/unit/parse/fixture.h"

using namespace dxnorm;
using namespace dxnorm::hl7v2;
using dxnorm::hl7v2::test::find_issue;
using dxnorm::hl7v2::test::fixture;
using dxnorm::hl7v2::test::has_issue;

namespace {

std::string error_code(std::string_view input) {
  auto r = split_messages(input);
  if (r.ok()) return "ok";
  CHECK(r.error().code == StatusCode::kInvalidInput);
  return r.error().error_code;
}

bool all_parse(const SplitResult& r) {
  const Hl7v2Parser parser;
  Message m;
  for (std::string_view msg : r.messages) {
    if (msg.substr(0, 3) != "MSH") return false;
    if (!parser.parse(msg, m).ok()) return false;
  }
  return true;
}

const char* kMsg1 = "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rPID|1\rOBR|1\rOBX|1\r";
const char* kMsg2 = "MSH|^~\\&|A|B|C|D|1||ORU^R01|2|P|2.5\rPID|2\r";

}  // namespace

TEST_CASE("plain input: one or several messages, BOM, mixed line ends") {
  const std::string in_one = std::string("\xEF\xBB\xBF") + kMsg1;
  auto one = split_messages(in_one);
  REQUIRE(one.ok());
  REQUIRE(one->messages.size() == 1);
  CHECK(one->messages[0] == std::string_view(kMsg1).substr(0, std::string_view(kMsg1).size() - 1));
  CHECK(one->issues.empty());

  const std::string in_two = fixture("pyhl7_sample_batch2.hl7");
  auto two = split_messages(in_two);
  REQUIRE(two.ok());
  CHECK(two->messages.size() == 2);
  CHECK(two->issues.empty());
  CHECK(all_parse(*two));

  const std::string in_lf = std::string(kMsg1) + "\n\n" + kMsg2 + "\r\n";
  auto lf = split_messages(in_lf);
  REQUIRE(lf.ok());
  CHECK(lf->messages.size() == 2);
}

TEST_CASE("MLLP frames") {
  const std::string in_adt = fixture("rh_SAMPLE_ADT.mllp");
  auto adt = split_messages(in_adt);
  REQUIRE(adt.ok());
  REQUIRE(adt->messages.size() == 1);
  CHECK(adt->issues.empty());
  CHECK(all_parse(*adt));

  const std::string in_res = fixture("hl7apy_PDQ_RES.mllp");
  auto res = split_messages(in_res);
  REQUIRE(res.ok());
  CHECK(res->messages.size() == 1);
  CHECK(res->issues.empty());

  // FS without CR at the very end: accepted, reported.
  const std::string in_req = fixture("hl7apy_PDQ_REQ_missing_CR.mllp");
  auto req = split_messages(in_req);
  REQUIRE(req.ok());
  CHECK(req->messages.size() == 1);
  CHECK(has_issue(req->issues, "HL7_MLLP_NO_CR"));
  CHECK(all_parse(*req));

  // Several frames in one buffer, whitespace and junk between them.
  const std::string frames = std::string("\x0b") + kMsg1 + "\x1c\r\r\n\x0b" + kMsg2 + "\x1c\rjunk\x0b" + kMsg1 + "\x1c\r";
  auto three = split_messages(frames);
  REQUIRE(three.ok());
  CHECK(three->messages.size() == 3);
  const Issue* junk = find_issue(three->issues, "HL7_TEXT_OUTSIDE_MESSAGE");
  REQUIRE(junk);
  CHECK(junk->message.find("junk") == std::string::npos);
  CHECK(all_parse(*three));

  // Frame without end block: kept, reported as possibly truncated.
  const std::string in_open = std::string("\x0b") + kMsg1;
  auto open = split_messages(in_open);
  REQUIRE(open.ok());
  CHECK(open->messages.size() == 1);
  CHECK(has_issue(open->issues, "HL7_TRUNCATED"));
  // A new VT before the previous frame's FS.
  const std::string in_nested = std::string("\x0b") + kMsg1 + "\x0b" + kMsg2 + "\x1c\r";
  auto nested = split_messages(in_nested);
  REQUIRE(nested.ok());
  CHECK(nested->messages.size() == 2);
  CHECK(has_issue(nested->issues, "HL7_TRUNCATED"));
}

TEST_CASE("batch and file envelopes") {
  const std::string in_b1 = fixture("pyhl7_sample_batch1.hl7");
  auto b1 = split_messages(in_b1);
  REQUIRE(b1.ok());
  CHECK(b1->messages.size() == 2);
  CHECK(b1->issues.empty());
  CHECK(all_parse(*b1));

  const std::string in_f1 = fixture("pyhl7_sample_file1.hl7");
  auto f1 = split_messages(in_f1);
  REQUIRE(f1.ok());
  CHECK(f1->messages.size() == 3);
  CHECK(f1->issues.empty());
  for (std::string_view m : f1->messages) {
    CHECK(m.find("BTS") == std::string_view::npos);
    CHECK(m.find("BHS") == std::string_view::npos);
  }

  auto f2 = split_messages(fixture("pyhl7_sample_file2.hl7"));  // FHS/FTS without BHS
  REQUIRE(f2.ok());
  CHECK(f2->messages.size() == 2);
  CHECK(f2->issues.empty());

  const std::string wrong_count = std::string("BHS|^~\\&|A\r") + kMsg1 + kMsg2 + "BTS|5\r";
  auto wc = split_messages(wrong_count);
  REQUIRE(wc.ok());
  CHECK(wc->messages.size() == 2);
  const Issue* i = find_issue(wc->issues, "HL7_BATCH_COUNT_MISMATCH");
  REQUIRE(i);
  CHECK(i->location == "BTS-1");

  const std::string fts_count = std::string("FHS|^~\\&|A\rBHS|^~\\&|A\r") + kMsg1 + "BTS|1\rFTS|3\r";
  auto fc = split_messages(fts_count);
  REQUIRE(fc.ok());
  REQUIRE(find_issue(fc->issues, "HL7_BATCH_COUNT_MISMATCH"));
  CHECK(find_issue(fc->issues, "HL7_BATCH_COUNT_MISMATCH")->location == "FTS-1");

  const std::string in_unterminated = std::string("BHS|^~\\&|A\r") + kMsg1;
  auto unterminated = split_messages(in_unterminated);
  REQUIRE(unterminated.ok());
  CHECK(has_issue(unterminated->issues, "HL7_BATCH_UNTERMINATED"));
}

TEST_CASE("malformed batches from the corpus give clear errors") {
  CHECK(error_code(fixture("pyhl7_sample_bad_batch.hl7")) == "HL7_NO_MSH");    // BHS, no MSH
  CHECK(error_code(fixture("pyhl7_sample_bad_file.hl7")) == "HL7_NO_MSH");     // FHS/BHS, no MSH
  CHECK(error_code(fixture("pyhl7_sample_bad_batch1.hl7")) == "HL7_BAD_BATCH");  // BHS inside a message
  CHECK(error_code(fixture("pyhl7_sample_bad_file2.hl7")) == "HL7_BAD_BATCH");   // FHS inside a message
  const std::string in_r = fixture("pyhl7_sample_bad_batch1.hl7");
  auto r = split_messages(in_r);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().location == "segment 4");
  CHECK(r.error().stage == Stage::kParse);
}

TEST_CASE("text outside messages, empty and garbage input") {
  const std::string in_r = std::string("leading words\r") + kMsg1;
  auto r = split_messages(in_r);
  REQUIRE(r.ok());
  CHECK(r->messages.size() == 1);
  const Issue* i = find_issue(r->issues, "HL7_TEXT_OUTSIDE_MESSAGE");
  REQUIRE(i);
  CHECK(i->location == "segment 1");
  CHECK(i->message.find("leading") == std::string::npos);
  CHECK(error_code("") == "HL7_NO_MSH");
  CHECK(error_code("\xEF\xBB\xBF\r\n \n") == "HL7_NO_MSH");
  CHECK(error_code("\x0b\x1c\r") == "HL7_NO_MSH");
  CHECK(error_code(fixture("rh_invalid-missing-msh.hl7")) == "HL7_NO_MSH");
  std::string garbage;
  for (int i = 0; i < 10000; ++i) garbage += static_cast<char>((i * 2654435761u) >> 13);
  (void)split_messages(garbage);  // must not crash; result either way
  CHECK(error_code("MSHX|not a header\r") == "HL7_NO_MSH");
}
